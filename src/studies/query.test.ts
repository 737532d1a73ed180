import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tag } from '../dicom/index.ts';
import { responseFor } from './query.ts';

test('a return key the index does not hold is answered empty with its dictionary VR, or as UN when the dictionary has none', () => {
  // OHIF's series search asks for SeriesDate and SeriesTime, which the index does not keep; a private tag is unknown.
  const privateTag = 0x00091001;
  const ds = responseFor(
    { level: 'SERIES', matchers: [], returnKeys: [Tag.SeriesDate, Tag.SeriesTime, privateTag], characterSet: [] },
    { values: {} } as never,
    'NOORD',
  );
  assert.equal(ds.get(Tag.SeriesDate)?.vr, 'DA');
  assert.equal(ds.string(Tag.SeriesDate) ?? '', '');
  assert.equal(ds.get(Tag.SeriesTime)?.vr, 'TM');
  assert.equal(ds.get(privateTag)?.vr, 'UN');
});
