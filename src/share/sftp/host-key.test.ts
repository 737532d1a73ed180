import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ssh2 from 'ssh2';
import { tempDir } from '../../../test/support/tmp.ts';
import { sftpHostKey } from './host-key.ts';

/** What ssh2 wrote for an Ed25519 key whose public half starts with a zero byte: 31 bytes, unreadable. */
const SHORT_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMgAAAAtz
c2gtZWQyNTUxOQAAAB+qYlHi70QD6PESJ40jhFCAiMDG9W3JAKMRVZlgDwmLAAAA
mBdkcbEXZHGxAAAAC3NzaC1lZDI1NTE5AAAAH6piUeLvRAPo8RInjSOEUICIwMb1
bckAoxFVmWAPCYsAAAA/r5JUxrULbwhmxMSN7OFK+w63nIAeU6PXqy+BZ74c04Cq
YlHi70QD6PESJ40jhFCAiMDG9W3JAKMRVZlgDwmLAAAAF2JlZWxkYnJ1ZyBzZnRw
IGhvc3Qga2V5
-----END OPENSSH PRIVATE KEY-----
`;

test('the SFTP host key is made once, private, kept across starts, and always one SSH can read', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sftp-host-key');
  const first = await sftpHostKey(path);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(await sftpHostKey(path), first, 'a restart keeps the key partners checked');
  // Hundreds of fresh keys: ssh2 makes an unreadable one about once in 128, which is never handed out.
  for (let n = 0; n < 400; n++) {
    const key = await sftpHostKey(join(dir, `key-${n}`));
    assert.ok(!(ssh2.utils.parseKey(key) instanceof Error), `key ${n} is readable`);
  }
  assert.ok(ssh2.utils.parseKey(SHORT_KEY) instanceof Error);
  const broken = join(dir, 'broken');
  writeFileSync(broken, SHORT_KEY, { mode: 0o600 });
  const replaced = await sftpHostKey(broken);
  assert.notEqual(replaced, SHORT_KEY);
  assert.equal(readFileSync(broken, 'utf8'), replaced);
  assert.ok(!(ssh2.utils.parseKey(replaced) instanceof Error), 'a stored key no one can read is made again');
});
