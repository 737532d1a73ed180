// A TCP proxy that holds every chunk for a fixed time in each direction: the round-trip time of a WAN link, which tc
// cannot add on this kernel (no netem). Run it inside the sender's namespace:
//   node bench/delay-proxy.ts LISTEN_PORT TARGET_HOST TARGET_PORT ONE_WAY_DELAY_MS
// It prints READY once listening and, on SIGTERM, one JSON line with the bytes it carried each way (the wire bytes).
import { createServer, connect, type Socket } from 'node:net';

const [listenPort, targetHost, targetPort, delayMs] = process.argv.slice(2);
if (listenPort === undefined || targetHost === undefined || targetPort === undefined || delayMs === undefined) {
  console.error('usage: delay-proxy.ts LISTEN_PORT TARGET_HOST TARGET_PORT ONE_WAY_DELAY_MS');
  process.exit(2);
}
const delay = Number(delayMs);
/** Bytes held in one direction before the proxy stops reading: bounds its memory like a router's buffer. */
const HOLD_LIMIT = 8 * 1024 * 1024;
const carried = { up: 0, down: 0 };

/** Forwards src to dst with the delay, pausing src while too much is held or dst pushes back. */
function delayed(src: Socket, dst: Socket, count: (n: number) => void): void {
  let held = 0;
  let blocked = false;
  const maybeResume = (): void => {
    if (held < HOLD_LIMIT && !blocked) src.resume();
  };
  src.on('data', (chunk: Buffer) => {
    count(chunk.length);
    held += chunk.length;
    if (held >= HOLD_LIMIT) src.pause();
    setTimeout(() => {
      held -= chunk.length;
      if (!dst.destroyed && !dst.write(chunk) && !blocked) {
        blocked = true;
        src.pause();
        dst.once('drain', () => {
          blocked = false;
          maybeResume();
        });
      }
      maybeResume();
    }, delay);
  });
  src.on('end', () => setTimeout(() => dst.end(), delay));
  src.on('error', () => dst.destroy());
}

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: targetHost, port: Number(targetPort), noDelay: true });
  delayed(client, upstream, (n) => (carried.up += n));
  delayed(upstream, client, (n) => (carried.down += n));
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
server.listen(Number(listenPort), '127.0.0.1', () => console.log('READY'));
process.on('SIGTERM', () => {
  console.log(JSON.stringify(carried));
  process.exit(0);
});
