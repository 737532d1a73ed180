// A log file a test can read back the moment something happened: each line is on disk when the logger returns, so a
// test that waits for an event and then reads the log never races the file stream's background write.
import { openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';

export function syncLogFile(path: string): NodeJS.WritableStream {
  const fd = openSync(path, 'a', 0o600);
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        writeSync(fd, chunk);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}
