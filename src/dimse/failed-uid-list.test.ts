import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFailedUidList, encodeFailedUidList } from './failed-uid-list.ts';

test('Failed SOP Instance UID List round-trips in implicit and explicit VR LE', () => {
  for (const ts of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']) {
    const uids = ['1.2.3.4', '1.2.3.45', '2.25.1'];
    const b = encodeFailedUidList(uids, ts);
    assert.equal(b.length % 2, 0);
    assert.deepEqual(decodeFailedUidList(b, ts), uids);
  }
  assert.deepEqual(decodeFailedUidList(Buffer.from([1, 2, 3]), '1.2.840.10008.1.2'), []);
});
