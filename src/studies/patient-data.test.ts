import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { type AuditRecord, openSqliteAuditTrail } from '../audit/index.ts';
import { Dataset, Tag } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { silentLogger } from '../log/index.ts';
import { openStudyStore } from '../store/index.ts';
import { testKey } from '../store/store-test-support.ts';
import { synthesize } from '../synth/index.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { type AccessGrounds, type ConsentDecider, PatientData } from './patient-data.ts';

const PARTNER: AccessGrounds = {
  kind: 'partner-node',
  user: { id: 'uzi:900001', name: 'Dr. A. Jansen', roleCode: '01.015', organizationUra: '87654321' },
  accessPoint: { node: 'noord', ip: '192.0.2.7' },
  purpose: 'release',
  purposeOfUse: 'treatment',
  authorization: 'registry-consent',
};

const PACS: AccessGrounds = {
  kind: 'dicom-peer',
  user: { id: 'dicom:PACS', name: 'DICOM peer PACS' },
  accessPoint: { node: 'noord', ip: '192.0.2.9', aeTitle: 'NOORD' },
  purpose: 'query',
  authorization: 'DICOM allow-list (AE title + host)',
};

/** A node's patient data with one synthetic patient (with a BSN) imported, and what its audit trail holds. */
async function withPatient(
  t: TestContext,
  consent?: ConsentDecider,
  now?: () => number,
): Promise<{
  data: PatientData;
  bsn: string;
  studyInstanceUid: string;
  records: () => Promise<AuditRecord[]>;
  failNextRecord: () => void;
}> {
  const dir = tempDir(t);
  const store = await openStudyStore({ dataDir: join(dir, 'data'), encryptionKey: testKey() });
  const trail = await openSqliteAuditTrail(join(dir, 'audit.sqlite'), { key: testKey() });
  t.after(async () => {
    await trail.close();
    await store.close();
  });
  let failing = false;
  // The trail as the node sees it, with a switch to make the next write fail as a full disk would.
  const audit = new Proxy(trail, {
    get(target, key) {
      if ((key === 'record' || key === 'recordAll') && failing) {
        return () => {
          failing = false;
          throw new Error('disk full');
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const data = new PatientData({
    store,
    audit,
    logger: silentLogger(),
    retrieveAeTitle: 'NOORD',
    node: 'noord',
    ...(consent !== undefined ? { consent: () => consent } : {}),
    ...(now !== undefined ? { now } : {}),
  });
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, studiesPerPatient: [1, 1], seed: 5 });
  const patient = synth.patients[0];
  const study = patient?.studies[0];
  assert.ok(patient?.bsn !== undefined && study !== undefined);
  const importer = data.openForTask('import', 'import', 'import', 'test');
  for (const f of study.files) await importer.importFile(f);
  return {
    data,
    bsn: patient.bsn,
    studyInstanceUid: study.studyInstanceUid,
    records: () => trail.list({}),
    failNextRecord: () => (failing = true),
  };
}

const studyQuery = (bsn: string): Dataset =>
  new Dataset()
    .set(Tag.QueryRetrieveLevel, 'CS', 'STUDY')
    .set(Tag.PatientID, 'LO', bsn)
    .set(Tag.StudyInstanceUID, 'UI', '');

test('an import is recorded once per study, as the node task that did it', async (t) => {
  const p = await withPatient(t);
  const imports = (await p.records()).filter((r) => r.action === 'import');
  assert.equal(imports.length, 1);
  assert.equal(imports[0]?.user.id, 'system:import');
  assert.equal(imports[0]?.patient?.bsn, p.bsn);
  assert.equal(imports[0]?.objects.studyInstanceUid, p.studyInstanceUid);
});

test('a DICOM peer query is answered and recorded with who, where, why and the patient asked for', async (t) => {
  const p = await withPatient(t);
  const access = p.data.open(PACS);
  const matches = await access.find(studyQuery(p.bsn), 'study-root', (n) => `C-FIND: ${n} matches`, { bsn: p.bsn });
  assert.equal(matches.length, 1);
  const r = (await p.records()).at(-1);
  assert.equal(r?.action, 'query');
  assert.equal(r?.outcome, 'success');
  assert.equal(r?.description, 'C-FIND: 1 matches');
  assert.equal(r?.user.id, 'dicom:PACS');
  assert.deepEqual(r?.accessPoint, PACS.accessPoint);
  assert.equal(r?.patient?.bsn, p.bsn);
  assert.equal(r?.objects.studyInstanceUid, p.studyInstanceUid);
  assert.deepEqual(r?.grounds, { purpose: 'query', authorization: 'DICOM allow-list (AE title + host)' });
});

test('image bytes are opened only through what an access released, and the release is recorded per study', async (t) => {
  const p = await withPatient(t);
  const released = await p.data
    .open({ ...PACS, purpose: 'retrieve' })
    .retrieve(
      new Dataset().set(Tag.QueryRetrieveLevel, 'CS', 'STUDY').set(Tag.StudyInstanceUID, 'UI', p.studyInstanceUid),
      'study-root',
      'C-GET',
    );
  assert.ok(released.length > 0);
  let bytes = 0;
  for await (const chunk of released[0]!.openDataset()) bytes += (chunk as Buffer).length;
  assert.ok(bytes > 0);
  const r = (await p.records()).at(-1);
  assert.equal(r?.action, 'retrieve');
  assert.equal(r?.objects.sopInstanceUids?.length, released.length);
  assert.equal(r?.description, `C-GET: ${released.length} instances`);
});

test('a partner node may not open image bytes itself: refused, recorded as a failure, nothing released', async (t) => {
  const p = await withPatient(t);
  const access = p.data.open({ ...PARTNER, purpose: 'exchange' });
  await assert.rejects(
    () => access.releaseStudy(p.studyInstanceUid, 'sent'),
    (err: unknown) => err instanceof BeeldbrugError && err.code === 'ACCESS_DENIED',
  );
  const r = (await p.records()).at(-1);
  assert.equal(r?.outcome, 'failure');
  assert.equal(r?.user.id, PARTNER.user.id);
  assert.match(r?.description ?? '', /may not release/);
});

test('a DICOM peer may not act for a release to another organization', async (t) => {
  const p = await withPatient(t);
  await assert.rejects(
    () => p.data.open({ ...PACS, purpose: 'release' }).patientStudies(p.bsn),
    (err: unknown) => err instanceof BeeldbrugError && err.code === 'ACCESS_DENIED',
  );
  assert.equal((await p.records()).at(-1)?.outcome, 'failure');
});

test('a release lists nothing before consent is established, and says so in the trail', async (t) => {
  const p = await withPatient(t, { mayRelease: async () => ({ decision: 'permit', consentReference: 'c-1' }) });
  const access = p.data.open(PARTNER);
  await assert.rejects(
    () => access.patientStudies(p.bsn),
    (err: unknown) => err instanceof BeeldbrugError && err.code === 'RELEASE_REFUSED',
  );
  const r = (await p.records()).at(-1);
  assert.equal(r?.outcome, 'failure');
  assert.equal(r?.patient?.bsn, p.bsn);
});

test('with a permit the release lists the studies, and every record of it names the consent', async (t) => {
  const asked: string[] = [];
  const p = await withPatient(t, {
    mayRelease: async (bsn, toUra) => {
      asked.push(`${bsn}->${toUra}`);
      return { decision: 'permit', consentReference: 'consent-42' };
    },
  });
  const access = p.data.open(PARTNER);
  const ref = await access.establishConsent(p.bsn, '87654321', {
    action: 'query',
    objects: {},
    refusedAs: 'timeline request from URA 87654321',
  });
  assert.equal(ref, 'consent-42');
  assert.deepEqual(asked, [`${p.bsn}->87654321`]);
  assert.equal((await access.patientStudies(p.bsn)).length, 1);
  await access.record({
    action: 'query',
    outcome: 'success',
    description: 'listed',
    patient: { bsn: p.bsn },
    objects: {},
  });
  const r = (await p.records()).at(-1);
  assert.deepEqual(r?.grounds, {
    purpose: 'treatment',
    authorization: 'registry-consent',
    consentReference: 'consent-42',
  });
  assert.equal(r?.user.id, PARTNER.user.id);
});

test('a denial, an unreachable registry and no registry at all each refuse the release and are recorded', async (t) => {
  const cases: [ConsentDecider | undefined, string][] = [
    [{ mayRelease: async () => ({ decision: 'deny', reason: 'objection' }) }, 'RELEASE_REFUSED'],
    [
      {
        mayRelease: async () => {
          throw new Error('connect ECONNREFUSED');
        },
      },
      'REGISTRY_UNREACHABLE',
    ],
    [undefined, 'RELEASE_WITHOUT_REGISTRY'],
  ];
  for (const [decider, code] of cases) {
    const p = await withPatient(t, decider);
    const access = p.data.open(PARTNER);
    await assert.rejects(
      access.establishConsent(p.bsn, '87654321', { action: 'query', objects: {}, refusedAs: 'timeline request' }),
      (err: unknown) => err instanceof BeeldbrugError && err.code === code,
    );
    const r = (await p.records()).at(-1);
    assert.equal(r?.outcome, 'failure', code);
    assert.equal(r?.patient?.bsn, p.bsn, code);
    assert.match(r?.description ?? '', /^timeline request refused/, code);
    await assert.rejects(() => access.patientStudies(p.bsn), /no consent/, `${code}: still nothing listed`);
  }
});

test('when the audit trail cannot be written, the query is not answered', async (t) => {
  const p = await withPatient(t);
  const before = (await p.records()).length;
  p.failNextRecord();
  await assert.rejects(
    () => p.data.open(PACS).find(studyQuery(p.bsn), 'study-root', (n) => `${n}`, { bsn: p.bsn }),
    /disk full/,
  );
  assert.equal((await p.records()).length, before);
});

test('retention purges as the node task, one record per study', async (t) => {
  const p = await withPatient(t);
  const purged = await p.data
    .openForTask('retention', 'retention job', 'retention', 'store.retentionDays=7')
    .purgeReceivedBefore(new Date(Date.now() + 60_000), (s) => `purged ${s.instances}`);
  assert.equal(purged.length, 1);
  const r = (await p.records()).at(-1);
  assert.equal(r?.action, 'purge');
  assert.equal(r?.user.id, 'system:retention');
  assert.equal(r?.grounds.authorization, 'store.retentionDays=7');
  await assert.rejects(
    p.data.open(PACS).purgeReceivedBefore(new Date(), () => ''),
    (err: unknown) => err instanceof BeeldbrugError && err.code === 'ACCESS_DENIED',
  );
});

test("a viewer's frames of one series: the first is recorded and covers that person's next ones for five minutes", async (t) => {
  let clock = Date.parse('2026-12-05T10:00:00Z');
  const p = await withPatient(t, undefined, () => clock);
  const person: AccessGrounds = {
    kind: 'person',
    user: { id: 'u-1', name: 'Dr. R. Visser', organizationUra: '12345678' },
    accessPoint: { node: 'noord', ip: '192.0.2.20' },
    purpose: 'retrieve',
    authorization: 'DICOMweb, signed in',
  };
  const instances = (
    await p.data
      .open({ ...PACS, purpose: 'retrieve' })
      .retrieve(
        new Dataset().set(Tag.QueryRetrieveLevel, 'CS', 'STUDY').set(Tag.StudyInstanceUID, 'UI', p.studyInstanceUid),
        'study-root',
        'C-GET',
      )
  ).filter((i, _, all) => i.stored.series.seriesInstanceUid === all[0]?.stored.series.seriesInstanceUid);
  const frameOf = (n: number) =>
    new Dataset()
      .set(Tag.QueryRetrieveLevel, 'CS', 'IMAGE')
      .set(Tag.StudyInstanceUID, 'UI', p.studyInstanceUid)
      .set(Tag.SOPInstanceUID, 'UI', instances[n % instances.length]!.stored.instance.sopInstanceUid);
  const retrieves = async () =>
    (await p.records()).filter((r) => r.action === 'retrieve' && r.user.id !== 'dicom:PACS');
  const view = (who: AccessGrounds, n: number) =>
    p.data.open(who).retrieve(frameOf(n), 'study-root', `WADO-RS frames 1`, { viewing: true });

  for (let n = 0; n < 5; n++) assert.equal((await view(person, n)).length, 1, 'every frame is released');
  assert.equal((await retrieves()).length, 1, 'five frames, one record');
  assert.match(
    (await retrieves())[0]?.description ?? '',
    /covers this person's further frames of the series for 5 minutes/,
  );
  await view({ ...person, user: { ...person.user, id: 'u-2', name: 'Dr. B' } }, 0);
  assert.equal((await retrieves()).length, 2, 'another person has a record of their own');
  await p.data.open(person).retrieve(frameOf(0), 'study-root', 'WADO-RS');
  assert.equal((await retrieves()).length, 3, 'a retrieval that is not a viewer frame is recorded every time');
  clock += 5 * 60_000;
  await view(person, 1);
  assert.equal((await retrieves()).length, 4, 'after five minutes, a new record');
});

test("a share's recipient stores only when uploading, and reads nothing then; sharing gives no store", async (t) => {
  const p = await withPatient(t);
  const recipient: AccessGrounds = {
    kind: 'share-recipient',
    user: { id: 'share:s1', name: 'Els (recipient of a share)', outsider: true },
    accessPoint: { node: 'noord', ip: '192.0.2.20' },
    purpose: 'share',
    authorization: 'share link (e-mail) + one-time code (SMS)',
  };
  const refused = (err: unknown): boolean => err instanceof BeeldbrugError && err.code === 'ACCESS_DENIED';
  const nothing = (async function* () {})();
  const provenance = { receivedAt: new Date().toISOString(), via: 'upload', callingAeTitle: null, remoteAddress: null };
  await assert.rejects(p.data.open(recipient).ingestPart10Stream(nothing, { provenance }, undefined), refused);
  assert.match((await p.records()).at(-1)?.description ?? '', /a share-recipient may not store patient data/);
  const uploading = p.data.open({ ...recipient, purpose: 'upload' });
  await assert.rejects(() => uploading.openShared([p.studyInstanceUid], 'downloaded', 's1'), refused);
  assert.match((await p.records()).at(-1)?.description ?? '', /a share-recipient may not read patient data/);
});
