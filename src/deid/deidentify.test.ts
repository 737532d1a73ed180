import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataset, parseDataset, Tag, TransferSyntax, type Vr, writeDataset } from '../dicom/index.ts';
import { actionFor, Deidentifier, type DeidOptions } from './deidentify.ts';

const BASIC: DeidOptions = { retainLongitudinalDates: false, retainDeviceIdentity: false, cleanDescriptors: false };
const DATES: DeidOptions = { ...BASIC, retainLongitudinalDates: true };
const DEVICE: DeidOptions = { ...BASIC, retainDeviceIdentity: true };
const DESCRIPTORS: DeidOptions = { ...BASIC, cleanDescriptors: true };

/**
 * What becomes of an attribute: gone, empty, a dummy, kept as it was, cleaned of the patient's identifiers, or a new UID.
 */
type Outcome = 'removed' | 'empty' | 'dummy' | 'kept' | 'cleaned' | 'new uid';

/** PS3.15 Table E.1-1, the rows a radiology share meets most, and what each option set must do to them. */
const TABLE: readonly [
  name: string,
  tag: number,
  vr: Vr,
  value: string,
  basic: Outcome,
  dates: Outcome,
  device: Outcome,
  descriptors: Outcome,
][] = [
  ["Patient's Birth Date", 0x00100030, 'DA', '19610412', 'empty', 'empty', 'empty', 'empty'],
  ["Patient's Sex", 0x00100040, 'CS', 'F', 'empty', 'empty', 'empty', 'empty'],
  ["Patient's Age", 0x00101010, 'AS', '065Y', 'removed', 'removed', 'removed', 'removed'],
  ['Other Patient IDs', 0x00101000, 'LO', '123456782', 'removed', 'removed', 'removed', 'removed'],
  ['Accession Number', 0x00080050, 'SH', 'ACC77', 'empty', 'empty', 'empty', 'empty'],
  ["Referring Physician's Name", 0x00080090, 'PN', 'de Vries^Karel', 'empty', 'empty', 'empty', 'empty'],
  ["Operators' Name", 0x00081070, 'PN', 'Bakker^Els', 'dummy', 'dummy', 'dummy', 'dummy'],
  ['Study Date', 0x00080020, 'DA', '20260301', 'empty', 'kept', 'empty', 'empty'],
  ['Study Time', 0x00080030, 'TM', '101500', 'empty', 'kept', 'empty', 'empty'],
  ['Acquisition Date', 0x00080022, 'DA', '20260301', 'empty', 'kept', 'empty', 'empty'],
  ['Content Date', 0x00080023, 'DA', '20260301', 'dummy', 'kept', 'dummy', 'dummy'],
  ['Study Description', 0x00081030, 'LO', 'CT thorax Jansen', 'removed', 'removed', 'removed', 'cleaned'],
  ['Series Description', 0x0008103e, 'LO', 'Longen 1mm', 'removed', 'removed', 'removed', 'kept'],
  ['Protocol Name', 0x00181030, 'LO', 'Thorax 123456782', 'dummy', 'dummy', 'dummy', 'cleaned'],
  ['Station Name', 0x00081010, 'SH', 'CT-ZIEKENHUIS-2', 'dummy', 'dummy', 'kept', 'dummy'],
  ['Device Serial Number', 0x00181000, 'LO', 'SN-4711', 'dummy', 'dummy', 'kept', 'dummy'],
  ['Station AE Title', 0x00080055, 'AE', 'CT2_JANSEN', 'removed', 'removed', 'cleaned', 'removed'],
  ['Institution Name', 0x00080080, 'LO', 'Ziekenhuis Oost', 'dummy', 'dummy', 'dummy', 'dummy'],
  ['Institution Address', 0x00080081, 'ST', 'Dorpsstraat 1', 'removed', 'removed', 'removed', 'removed'],
  ['Study Instance UID', 0x0020000d, 'UI', '1.2.3.100', 'new uid', 'new uid', 'new uid', 'new uid'],
  ['Series Instance UID', 0x0020000e, 'UI', '1.2.3.101', 'new uid', 'new uid', 'new uid', 'new uid'],
  ['Frame of Reference UID', 0x00200052, 'UI', '1.2.3.102', 'new uid', 'new uid', 'new uid', 'new uid'],
  ['SOP Class UID', 0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.2', 'kept', 'kept', 'kept', 'kept'],
  ['Modality', 0x00080060, 'CS', 'CT', 'kept', 'kept', 'kept', 'kept'],
  ['Slice Thickness', 0x00180050, 'DS', '1', 'kept', 'kept', 'kept', 'kept'],
  ['Private Creator', 0x00090010, 'LO', 'ACME 1.0', 'removed', 'removed', 'removed', 'removed'],
  ['Private attribute', 0x00091001, 'LO', 'Jansen', 'removed', 'removed', 'removed', 'removed'],
  ['Overlay Data', 0x60003000, 'OW', '', 'removed', 'removed', 'removed', 'removed'],
  ['Overlay Rows', 0x60000010, 'US', '', 'kept', 'kept', 'kept', 'kept'],
  ['Curve Data', 0x50003000, 'OB', '', 'removed', 'removed', 'removed', 'removed'],
  ['Group length (retired)', 0x00180000, 'UL', '', 'removed', 'removed', 'removed', 'removed'],
];

function patient(): Dataset {
  const ds = new Dataset()
    .set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192')
    .set(Tag.SOPInstanceUID, 'UI', '1.2.3.1')
    .set(Tag.PatientName, 'PN', 'Jansen^Anna')
    .set(Tag.PatientID, 'LO', '123456782');
  for (const [, tag, vr, value] of TABLE) {
    if (vr === 'OW' || vr === 'OB') ds.set(tag, vr, Buffer.alloc(8, 1));
    else if (vr === 'US' || vr === 'UL') ds.set(tag, vr, 512);
    else ds.set(tag, vr, value);
  }
  return ds;
}

function outcomeOf(before: Dataset, after: Dataset, tag: number): Outcome {
  const was = before.get(tag);
  const now = after.get(tag);
  if (now === undefined) return 'removed';
  if (now.bytes?.length === 0) return 'empty';
  if (was?.bytes !== undefined && now.bytes !== undefined && was.bytes.equals(now.bytes)) return 'kept';
  // An attribute the dictionary does not know comes back from Implicit VR as UN: its bytes are read as text.
  const value = now.vr === 'UN' ? (now.bytes?.toString('latin1').trim() ?? '') : (after.string(tag) ?? '');
  if (now.vr === 'UI') return /^2\.25\.\d+$/.test(value) ? 'new uid' : 'kept';
  if (['ANONIEM', '19000101', '000000', '0'].includes(value)) return 'dummy';
  return value.includes('***') ? 'cleaned' : 'kept';
}

const OPTION_SETS = [
  ['basic', BASIC],
  ['retain longitudinal dates', DATES],
  ['retain device identity', DEVICE],
  ['clean descriptors', DESCRIPTORS],
] as const;

for (const [column, options] of OPTION_SETS) {
  test(`de-identification, ${column}: each attribute of the table as PS3.15 Table E.1-1 asks`, () => {
    const before = patient();
    for (const ts of [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian]) {
      const ds = parseDataset(writeDataset(before, ts), ts);
      new Deidentifier(options, Buffer.alloc(32, 7)).apply(ds);
      const again = parseDataset(writeDataset(ds, ts), ts);
      const index = OPTION_SETS.findIndex(([c]) => c === column);
      const wrong = TABLE.filter((row) => outcomeOf(before, again, row[1]) !== row[4 + index]).map(
        (row) => `${row[0]}: ${outcomeOf(before, again, row[1])}, not ${row[4 + index]}`,
      );
      assert.deepEqual(wrong, [], `${ts}`);
    }
  });
}

test('de-identification: the patient becomes a pseudonym, the same one throughout a share, and the method is named', () => {
  const key = Buffer.alloc(32, 1);
  const a = patient();
  const b = patient().set(Tag.SOPInstanceUID, 'UI', '1.2.3.2');
  new Deidentifier(DATES, key).apply(a);
  new Deidentifier(DATES, key).apply(b);
  assert.equal(a.string(Tag.PatientName), 'ANONIEM');
  assert.match(a.string(Tag.PatientID) ?? '', /^ANON[0-9A-F]{12}$/);
  assert.equal(a.string(Tag.PatientID), b.string(Tag.PatientID));
  assert.equal(a.string(Tag.StudyInstanceUID), b.string(Tag.StudyInstanceUID));
  assert.notEqual(a.string(Tag.SOPInstanceUID), b.string(Tag.SOPInstanceUID));
  assert.equal(a.string(Tag.PatientIdentityRemoved), 'YES');
  assert.equal(a.string(Tag.LongitudinalTemporalInformationModified), 'UNMODIFIED');
  assert.deepEqual(
    a.items(Tag.DeidentificationMethodCodeSequence).map((i) => i.string(Tag.CodeValue)),
    ['113100', '113106'],
  );
  const other = patient();
  new Deidentifier(DATES, Buffer.alloc(32, 2)).apply(other);
  assert.notEqual(other.string(Tag.StudyInstanceUID), a.string(Tag.StudyInstanceUID), 'another share, other UIDs');
  assert.notEqual(other.string(Tag.PatientID), a.string(Tag.PatientID));
});

test('de-identification: references inside sequences point at the new UIDs; a report content sequence keeps nothing', () => {
  const key = Buffer.alloc(32, 3);
  const referenced = patient().set(Tag.SOPInstanceUID, 'UI', '1.2.3.50');
  const ds = patient()
    .set(Tag.ReferencedImageSequence, 'SQ', [
      new Dataset()
        .set(Tag.ReferencedSOPClassUID, 'UI', '1.2.840.10008.5.1.4.1.1.2')
        .set(Tag.ReferencedSOPInstanceUID, 'UI', '1.2.3.50'),
    ])
    .set(Tag.ContentSequence, 'SQ', [new Dataset().set(Tag.TextValue, 'UT', 'Mevrouw Jansen, geboren 12-04-1961')]);
  const d = new Deidentifier(BASIC, key);
  d.apply(referenced);
  d.apply(ds);
  const item = ds.items(Tag.ReferencedImageSequence)[0];
  assert.equal(item?.string(Tag.ReferencedSOPInstanceUID), referenced.string(Tag.SOPInstanceUID));
  assert.equal(item?.string(Tag.ReferencedSOPClassUID), '1.2.840.10008.5.1.4.1.1.2');
  assert.equal(ds.items(Tag.ContentSequence).length, 1);
  assert.equal(ds.items(Tag.ContentSequence)[0]?.size, 0);
});

test('de-identification: clean descriptors takes out names, ids and the birth date as people write them', () => {
  const ds = patient()
    .set(Tag.PatientBirthDate, 'DA', '19610412')
    .set(Tag.StudyDescription, 'LO', 'MRI knie ANNA jansen 12-04-1961 ACC77')
    .set(Tag.SeriesDescription, 'LO', 'T1 sag (verwijzer de Vries)');
  new Deidentifier(DESCRIPTORS, Buffer.alloc(32)).apply(ds);
  assert.equal(ds.string(Tag.StudyDescription), 'MRI knie *** *** *** ***');
  assert.equal(ds.string(Tag.SeriesDescription), 'T1 sag (verwijzer *** ***)');
});

test('de-identification: burned-in text is flagged from the attribute, or from a modality that often has it', () => {
  const d = new Deidentifier(BASIC, Buffer.alloc(32));
  assert.equal(d.apply(patient().set(Tag.BurnedInAnnotation, 'CS', 'YES')).burnedIn, 'yes');
  assert.equal(d.apply(patient().set(Tag.BurnedInAnnotation, 'CS', 'NO')).burnedIn, 'no');
  assert.equal(d.apply(patient().set(Tag.Modality, 'CS', 'US')).burnedIn, 'unknown');
  assert.equal(d.apply(patient()).burnedIn, 'no');
});

test('de-identification: the generated table is the standard one (spot checks against PS3.15 Table E.1-1)', () => {
  assert.equal(actionFor(Tag.PatientName, BASIC), 'Z');
  assert.equal(actionFor(Tag.PatientID, BASIC), 'D');
  assert.equal(actionFor(Tag.StudyInstanceUID, BASIC), 'U');
  assert.equal(actionFor(Tag.ReferencedImageSequence, BASIC), 'U*');
  assert.equal(actionFor(0x00191001, BASIC), 'X');
  assert.equal(actionFor(0x601e3000, BASIC), 'X', 'overlay data of the last overlay group');
  assert.equal(actionFor(Tag.Rows, BASIC), undefined);
  assert.equal(actionFor(0xfffafffa, BASIC), 'X', 'digital signatures');
});
