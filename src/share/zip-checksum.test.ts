// zip-stream's checksums come from Node's zlib through vendor/crc-32-zlib (package.json overrides crc-32): the same
// values as crc-32's own, which a wrong zip's reader would otherwise be the first to notice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import crc32 from '../../vendor/crc-32-zlib/index.js';

test("crc-32 in zip-stream is zlib's: the standard check value, signed as crc-32 answers it, and continued by seed", () => {
  const check = Buffer.from('123456789', 'latin1');
  assert.equal(crc32.buf(check) >>> 0, 0xcbf43926);
  assert.equal(crc32.buf(check), 0xcbf43926 | 0, 'a signed 32-bit integer, as crc-32 answers');
  assert.equal(crc32.buf(check.subarray(4), crc32.buf(check.subarray(0, 4))), crc32.buf(check), 'seeded');
  assert.equal(crc32.str('123456789'), crc32.buf(check));
  assert.equal(crc32.bstr('é'), crc32.buf(Buffer.from([0xe9])));
  assert.equal(crc32.str('é'), crc32.buf(Buffer.from('é', 'utf8')));
});
