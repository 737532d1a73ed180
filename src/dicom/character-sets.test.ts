// Every repertoire of PS3.5 section 6.1, with the standard's own examples where it gives them (Annex H Japanese, I
// Korean, J Chinese) and a name in each single-byte set. The bytes were made by an encoder nobody here wrote (glibc's
// iconv: ISO-2022-JP, EUC-KR, GB18030, GB2312, SHIFT_JIS, ISO-8859-x, TIS-620), the escape sequences placed as
// PS3.5 6.1.2.5.3 places them. Each is read through a data set, as the node reads what it receives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dataset } from './dataset.ts';
import { Tag } from './dictionary.ts';

/** Hex, with ESC sequences written as <ESC>( and so on for readability. */
function bytes(text: string): Buffer {
  return Buffer.from(text.replaceAll('<ESC>', '1b').replace(/[^0-9a-f]/gi, ''), 'hex');
}
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/** The PN value as the data set gives it, read with this Specific Character Set. */
function personName(specificCharacterSet: string, value: Buffer): string {
  const ds = new Dataset().set(Tag.SpecificCharacterSet, 'CS', specificCharacterSet.split('\\'));
  ds.setElement({ tag: Tag.PatientName, vr: 'PN', bytes: value });
  return ds.string(Tag.PatientName) ?? '';
}

const JIS = { kanji: '<ESC>2442', ascii: '<ESC>2842', romaji: '<ESC>284a' };

test('Japanese (Annex H): ISO 2022 IR 87 with ASCII, and with JIS X 0201 katakana and romaji (ISO 2022 IR 13)', () => {
  // H.3.1: Yamada^Tarou=山田^太郎=やまだ^たろう
  const h31 = bytes(
    `${ascii('Yamada^Tarou=')} ${JIS.kanji} 3b33 4544 ${JIS.ascii} 5e ${JIS.kanji} 4240 4f3a ${JIS.ascii} 3d` +
      ` ${JIS.kanji} 2464 245e 2440 ${JIS.ascii} 5e ${JIS.kanji} 243f 246d 2426 ${JIS.ascii}`,
  );
  assert.equal(personName('\\ISO 2022 IR 87', h31), 'Yamada^Tarou=山田^太郎=やまだ^たろう');
  // H.3.2: ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう, katakana in G1 from the start, back to romaji after each kanji run.
  const h32 = bytes(
    `d4cf c0de 5e c0db b3 3d ${JIS.kanji} 3b33 4544 ${JIS.romaji} 5e ${JIS.kanji} 4240 4f3a ${JIS.romaji} 3d` +
      ` ${JIS.kanji} 2464 245e 2440 ${JIS.romaji} 5e ${JIS.kanji} 243f 246d 2426 ${JIS.romaji}`,
  );
  assert.equal(personName('ISO 2022 IR 13\\ISO 2022 IR 87', h32), 'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう');
  // JIS X 0212 (ISO 2022 IR 159), behind ESC $ ( D: 0x3021 is 丂 (EUC-JP 8F B0 A1, as iconv writes it).
  assert.equal(personName('\\ISO 2022 IR 159', bytes(`${ascii('A')} <ESC>242844 3021 ${JIS.ascii}`)), 'A丂');
  // Without code extensions, ISO_IR 13 is JIS X 0201: the half-width katakana as they are.
  assert.equal(personName('ISO_IR 13', bytes('d4cf c0de 5e c0db b3')), 'ﾔﾏﾀﾞ^ﾀﾛｳ');
});

test('Korean (Annex I): ISO 2022 IR 149, each Hangul and Hanja run behind its own ESC $ ) C', () => {
  const i2 = bytes(
    `${ascii('Hong^Gildong=')} <ESC>242943 fbf3 5e <ESC>242943 d1ce d4d7 3d <ESC>242943 c8ab 5e <ESC>242943 b1e6 b5bf`,
  );
  assert.equal(personName('\\ISO 2022 IR 149', i2), 'Hong^Gildong=洪^吉洞=홍^길동');
});

test('Chinese (Annex J): GB18030 and GBK without code extensions, GB 2312 with them (ISO 2022 IR 58)', () => {
  const wang = bytes(`${ascii('Wang^XiaoDong=')} cdf5 5e d0a1 b6ab 3d`);
  assert.equal(personName('GB18030', wang), 'Wang^XiaoDong=王^小东=');
  assert.equal(personName('GBK', wang), 'Wang^XiaoDong=王^小东=');
  const zhang = bytes(`${ascii('Zhang^XiaoDong=')} <ESC>242941 d5c5 5e <ESC>242941 d0a1 b6ab 3d`);
  assert.equal(personName('\\ISO 2022 IR 58', zhang), 'Zhang^XiaoDong=张^小东=');
});

test('the single-byte sets, with and without code extensions, and UTF-8', () => {
  const table: [string, string, string][] = [
    ['ISO_IR 100', '4275635e4ae972f46d65', 'Buc^Jérôme'],
    ['ISO_IR 101', '44766ff8e16b5e416e746f6eed6e', 'Dvořák^Antonín'],
    ['ISO_IR 144', 'bbeeda6365dcd17970d3', 'Люкceмбypг'],
    ['ISO_IR 127', 'e2c8c7e6ea5ee4e6d2c7d1', 'قباني^لنزار'],
    ['ISO_IR 126', 'c4e9efedf5f3e9eff2', 'Διονυσιος'],
    ['ISO_IR 138', 'f9f8e5ef5ee3e1e5f8e4', 'שרון^דבורה'],
    ['ISO_IR 148', 'c7656c696b5e47fc6cfe656e', 'Çelik^Gülşen'],
    ['ISO_IR 166', 'b9d2c1caa1d8c55eaad7e8cd', 'นามสกุล^ชื่อ'],
    ['ISO_IR 192', Buffer.from('Buc^Jérôme=山田', 'utf8').toString('hex'), 'Buc^Jérôme=山田'],
    ['', '4275635e4a6572', 'Buc^Jer'],
  ];
  for (const [set, hex, name] of table) assert.equal(personName(set, bytes(hex)), name, set || 'default');
  // A first value written without code extensions beside ISO 2022 ones: Cyrillic is still G1 from the start.
  assert.equal(personName('ISO_IR 144\\ISO 2022 IR 126', bytes('bbeeda6365dcd17970d3')), 'Люкceмбypг');
  // With code extensions: Greek in G1 behind ESC - F, Latin-1 beside it behind ESC - A.
  assert.equal(
    personName('ISO 2022 IR 100\\ISO 2022 IR 126', bytes(`4275635e4ae972f46d65 3d <ESC>2d46 c4e9efedf5f3e9eff2`)),
    'Buc^Jérôme=Διονυσιος',
  );
});

test('a value starts in its initial sets again after each delimiter: a missing ESC ( B before ^ does not carry over', () => {
  // The kanji designation ends at the first value's end (a backslash) in a multi-valued LO.
  const ds = new Dataset().set(Tag.SpecificCharacterSet, 'CS', ['', 'ISO 2022 IR 87']);
  ds.setElement({
    tag: Tag.OtherPatientIDs,
    vr: 'LO',
    bytes: bytes(`${JIS.kanji} 3b33 4544 ${JIS.ascii} 5c ${ascii('ABC')} 20`),
  });
  assert.deepEqual(ds.strings(Tag.OtherPatientIDs), ['山田', 'ABC']);
  // Text that is not in a character-set VR (a UID, a code string) is the default repertoire whatever the set.
  assert.equal(
    new Dataset().set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192').set(Tag.Modality, 'CS', 'CT').string(Tag.Modality),
    'CT',
  );
});

/** The bytes a PN value is written as in this Specific Character Set, without the even-length padding. */
function written(specificCharacterSet: string, name: string): Buffer {
  const ds = new Dataset().set(Tag.SpecificCharacterSet, 'CS', specificCharacterSet.split('\\'));
  const b = ds.set(Tag.PatientName, 'PN', name).get(Tag.PatientName)?.bytes ?? Buffer.alloc(0);
  return b.at(-1) === 0x20 ? b.subarray(0, -1) : b;
}

test("written in each set as the standard's examples write it: escape sequences where Annexes H, I and J put them", () => {
  const cases: [string, string, string][] = [
    [
      '\\ISO 2022 IR 87',
      'Yamada^Tarou=山田^太郎=やまだ^たろう',
      `${ascii('Yamada^Tarou=')} ${JIS.kanji} 3b33 4544 ${JIS.ascii} 5e ${JIS.kanji} 4240 4f3a ${JIS.ascii} 3d` +
        ` ${JIS.kanji} 2464 245e 2440 ${JIS.ascii} 5e ${JIS.kanji} 243f 246d 2426 ${JIS.ascii}`,
    ],
    [
      'ISO 2022 IR 13\\ISO 2022 IR 87',
      'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう',
      `d4cf c0de 5e c0db b3 3d ${JIS.kanji} 3b33 4544 ${JIS.romaji} 5e ${JIS.kanji} 4240 4f3a ${JIS.romaji} 3d` +
        ` ${JIS.kanji} 2464 245e 2440 ${JIS.romaji} 5e ${JIS.kanji} 243f 246d 2426 ${JIS.romaji}`,
    ],
    ['\\ISO 2022 IR 159', 'A丂', `${ascii('A')} <ESC>242844 3021 ${JIS.ascii}`],
    [
      '\\ISO 2022 IR 149',
      'Hong^Gildong=洪^吉洞=홍^길동',
      `${ascii('Hong^Gildong=')} <ESC>242943 fbf3 5e <ESC>242943 d1ce d4d7 3d <ESC>242943 c8ab 5e <ESC>242943 b1e6 b5bf`,
    ],
    [
      '\\ISO 2022 IR 58',
      'Zhang^XiaoDong=张^小东=',
      `${ascii('Zhang^XiaoDong=')} <ESC>242941 d5c5 5e <ESC>242941 d0a1 b6ab 3d`,
    ],
    ['GB18030', 'Wang^XiaoDong=王^小东=', `${ascii('Wang^XiaoDong=')} cdf5 5e d0a1 b6ab 3d`],
    ['GBK', 'Wang^XiaoDong=王^小东=', `${ascii('Wang^XiaoDong=')} cdf5 5e d0a1 b6ab 3d`],
    ['ISO_IR 13', 'ﾔﾏﾀﾞ^ﾀﾛｳ', 'd4cf c0de 5e c0db b3'],
    ['ISO_IR 100', 'Buc^Jérôme', '4275635e4ae972f46d65'],
    ['ISO_IR 101', 'Dvořák^Antonín', '44766ff8e16b5e416e746f6eed6e'],
    ['ISO_IR 144', 'Люкceмбypг', 'bbeeda6365dcd17970d3'],
    ['ISO_IR 127', 'قباني^لنزار', 'e2c8c7e6ea5ee4e6d2c7d1'],
    ['ISO_IR 126', 'Διονυσιος', 'c4e9efedf5f3e9eff2'],
    ['ISO_IR 138', 'שרון^דבורה', 'f9f8e5ef5ee3e1e5f8e4'],
    ['ISO_IR 148', 'Çelik^Gülşen', 'c7656c696b5e47fc6cfe656e'],
    ['ISO_IR 166', 'นามสกุล^ชื่อ', 'b9d2c1caa1d8c55eaad7e8cd'],
    ['ISO_IR 144\\ISO 2022 IR 126', 'Люкceмбypг', 'bbeeda6365dcd17970d3'],
    [
      'ISO 2022 IR 100\\ISO 2022 IR 126',
      'Buc^Jérôme=Διονυσιος',
      '4275635e4ae972f46d65 3d <ESC>2d46 c4e9efedf5f3e9eff2',
    ],
  ];
  for (const [set, name, hex] of cases) {
    assert.equal(written(set, name).toString('hex'), bytes(hex).toString('hex'), set);
    assert.equal(personName(set, written(set, name)), name, `${set}: read back`);
  }
});

test('a character no declared set holds is refused, not written as a substitute', () => {
  assert.throws(() => written('ISO_IR 100', 'Yamada=山田'), /"山" cannot be written/);
  assert.throws(() => written('\\ISO 2022 IR 149', '山田^Ἀ'), /cannot be written/);
  assert.throws(() => written('', 'Dvořák'), /"ř" cannot be written/);
  // The default repertoire and ISO_IR 100 share their first half; UTF-8 holds everything.
  assert.equal(written('ISO_IR 192', 'Yamada=山田').toString('utf8'), 'Yamada=山田');
});
