import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { generateEncryptionKey, keyIdOf, readEncryptionKeyFile } from './encryption-key.ts';
import { openStudyStore } from './study-store.ts';
import { StoreError } from './store-error.ts';

test('a generated key file reads back as 32 bytes; whitespace is allowed', (t) => {
  const dir = tempDir(t);
  const text = generateEncryptionKey();
  const file = join(dir, 'store.key');
  writeFileSync(file, text);
  const key = readEncryptionKeyFile(file);
  assert.equal(key.length, 32);
  assert.deepEqual(key, Buffer.from(text.trim(), 'base64'));
  const b64 = key.toString('base64');
  writeFileSync(file, `  ${b64.slice(0, 20)}\n${b64.slice(20)}\r\n\n`);
  assert.deepEqual(readEncryptionKeyFile(file), key);
  assert.notEqual(generateEncryptionKey(), text);
});

test('key file problems are typed errors that name the file and never echo the key', (t) => {
  const dir = tempDir(t);
  const cases: [string, string | undefined, string][] = [
    ['missing', undefined, 'KEY_MISSING'],
    ['empty', '', 'KEY_INVALID'],
    ['blank', ' \n\t\n', 'KEY_INVALID'],
    ['short', randomBytes(16).toString('base64'), 'KEY_INVALID'],
    ['long', randomBytes(48).toString('base64'), 'KEY_INVALID'],
    ['not base64', '!!'.repeat(22), 'KEY_INVALID'],
    ['hex instead of base64', randomBytes(32).toString('hex'), 'KEY_INVALID'],
    ['bad padding', `${randomBytes(32).toString('base64')}==`, 'KEY_INVALID'],
  ];
  for (const [name, content, code] of cases) {
    const file = join(dir, `${name.replace(/ /g, '-')}.key`);
    if (content !== undefined) writeFileSync(file, content);
    assert.throws(
      () => readEncryptionKeyFile(file),
      (e: unknown) => {
        assert.ok(e instanceof StoreError, name);
        assert.equal(e.code, code, name);
        assert.ok(e.message.includes(file), `${name}: names the file`);
        if (content !== undefined && content.trim().length > 4)
          assert.ok(!e.message.includes(content.trim()), `${name}: no key text`);
        return true;
      },
    );
  }
});

test('openStudyStore refuses a key of the wrong length', async (t) => {
  await assert.rejects(
    openStudyStore({ dataDir: tempDir(t), encryptionKey: randomBytes(16) }),
    (e) => e instanceof StoreError && e.code === 'KEY_INVALID',
  );
});

test('the key id identifies the key without revealing it', () => {
  const k = randomBytes(32);
  assert.deepEqual(keyIdOf(k), keyIdOf(Buffer.from(k)));
  assert.notDeepEqual(keyIdOf(k), keyIdOf(randomBytes(32)));
  assert.equal(keyIdOf(k).length, 16);
  assert.equal(k.indexOf(keyIdOf(k).subarray(0, 8)), -1);
});
