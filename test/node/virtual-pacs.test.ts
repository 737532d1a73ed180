// The virtual PACS: Noord's PACS queries Noord's node under its external AE title with DCMTK's findscu (as a PACS's
// "query other archive" screen does) and sees the patient's studies at the other hospitals of the timeline network as
// one archive. Consent is checked by the registry and at each source; every question is in both audit trails.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BSN_ISSUER_OID } from '../../src/patient/index.ts';
import { testAccess } from '../support/patient-data.ts';
import { tempDir } from '../support/tmp.ts';
import { Tag } from '../../src/dicom/index.ts';
import { midden, noord } from '../support/exchange.ts';
import { findscuAnswers, moveIntoPacs, storescpDestination, wholeStudy } from '../support/dcmtk.ts';
import { datasetsByUid, filesIn } from '../support/dicom-files.ts';
import { freePort } from '../support/net.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { run } from '../support/processes.ts';
import { requireTool } from '../support/tools.ts';
import { byHolder, network, recorded, timelineRequestsAt, zuid } from '../support/timeline-network.ts';

const EXTERNAL = 'BB_PRIORS';

/** Noord with its PACS and a CT modality as DICOM peers; only the PACS may ask the external AE title. */
const withVirtualPacs = (t: Parameters<typeof network>[0]) =>
  network(t, {
    noord: {
      dimsePeers: [
        { aeTitle: 'PACS_NOORD', host: '127.0.0.1', description: 'Noord PACS' },
        { aeTitle: 'CT_NOORD', host: '127.0.0.1', description: 'a CT scanner' },
      ],
      timeline: { sourceTimeoutMs: 5000, externalAe: { aeTitle: EXTERNAL, callers: ['PACS_NOORD'] } },
    },
  });

test("virtual PACS: findscu under the external AE title sees the patient's studies at every permitted hospital, each naming its hospital and where to retrieve it", async (t) => {
  if (requireTool(t, 'findscu') === undefined) return;
  const net = await withVirtualPacs(t);
  const { p, nodes } = net;
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(zuid.ura), ...recorded });
  const pacs = ['-aet', 'PACS_NOORD', '-aec', EXTERNAL, '127.0.0.1', String(nodes.noord.n.port)];
  const keys = [
    'QueryRetrieveLevel=STUDY',
    `PatientID=${p.bsn}`,
    'PatientName',
    'StudyInstanceUID',
    'StudyDate',
    'StudyDescription',
    'ModalitiesInStudy',
    'NumberOfStudyRelatedInstances',
    'InstitutionName',
    'RetrieveAETitle',
  ];

  const answers = await findscuAnswers(t, pacs, keys);
  const byUid = new Map(answers.map((d) => [d.string(Tag.StudyInstanceUID) ?? '', d]));
  assert.deepEqual(
    [...byUid.keys()].sort(),
    p.studies.map((s) => s.studyInstanceUid).sort(),
    'two studies at Midden and one at Zuid, as one archive',
  );
  for (const [i, s] of p.studies.entries()) {
    const d = byUid.get(s.studyInstanceUid);
    assert.ok(d !== undefined);
    assert.equal(d.string(Tag.InstitutionName), i < 2 ? midden.name : zuid.name, 'the source hospital');
    assert.equal(d.string(Tag.RetrieveAETitle)?.trim(), EXTERNAL, 'retrieved through the node');
    assert.equal(d.string(Tag.PatientID)?.trim(), p.bsn);
    assert.equal(d.string(Tag.PatientName), undefined, 'Noord holds nothing of P: no name is known here');
    assert.equal(d.string(Tag.StudyDate), s.studyDate);
    assert.equal(d.string(Tag.NumberOfStudyRelatedInstances)?.trim(), String(s.instances));
    assert.ok(d.strings(Tag.ModalitiesInStudy).includes(s.modality));
  }

  // A study opened in the PACS: its series, as the source holds them.
  const zuidStudy = p.studies[2];
  assert.ok(zuidStudy !== undefined);
  const series = await findscuAnswers(t, pacs, [
    'QueryRetrieveLevel=SERIES',
    `StudyInstanceUID=${zuidStudy.studyInstanceUid}`,
    'SeriesInstanceUID',
    'Modality',
    'SeriesNumber',
    'NumberOfSeriesRelatedInstances',
    'InstitutionName',
  ]);
  assert.equal(series.length, zuidStudy.series);
  assert.equal(
    series.reduce((n, d) => n + (d.number(Tag.NumberOfSeriesRelatedInstances) ?? 0), 0),
    zuidStudy.instances,
  );
  assert.ok(series.every((d) => d.string(Tag.InstitutionName) === zuid.name));
  assert.ok(series.some((d) => d.string(Tag.Modality)?.trim() === zuidStudy.modality));

  // The other keys narrow the answer as any archive's would: one study's date.
  const first = p.studies[0];
  assert.ok(first !== undefined);
  const onDate = await findscuAnswers(t, pacs, [
    ...keys.filter((k) => k !== 'StudyDate'),
    `StudyDate=${first.studyDate}`,
  ]);
  assert.deepEqual(
    onDate.map((d) => d.string(Tag.StudyDate)),
    p.studies.filter((s) => s.studyDate === first.studyDate).map((s) => s.studyDate),
  );

  // Each source recorded the question as the PACS's of Noord (no person is known on a DICOM association).
  const atMidden = await timelineRequestsAt(nodes.midden, p.bsn);
  assert.equal(atMidden.length, 2);
  assert.deepEqual(atMidden[0]?.user, {
    id: 'dicom:PACS_NOORD',
    name: 'PACS PACS_NOORD (DICOM)',
    organizationUra: noord.ura,
  });
  assert.equal(atMidden[0]?.outcome, 'success');
  const atNoord = await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'query' });
  assert.equal(atNoord.length, 3, 'Noord records each question too: two study lists and one series list');
  assert.ok(
    (await timelineRequestsAt(nodes.zuid, p.bsn)).some((r) =>
      /^timeline: \d+ series of a study listed for/.test(r.description),
    ),
    'Zuid records the series question',
  );
  assert.equal(atNoord[0]?.user.id, 'dicom:PACS_NOORD');
  assert.equal(atNoord[0]?.accessPoint.aeTitle, EXTERNAL);
  assert.equal(atNoord[0]?.grounds.purpose, 'treatment');
});

test('virtual PACS: a local Patient ID is mapped to the BSN; a modality may not ask, a query without a patient is refused, and a denied hospital is not shown', async (t) => {
  if (requireTool(t, 'findscu') === undefined || requireTool(t, 'dcmodify') === undefined) return;
  const net = await withVirtualPacs(t);
  const { p, nodes } = net;
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'deny', actor: byHolder(zuid.ura), ...recorded });
  const port = String(nodes.noord.n.port);
  const pacs = ['-aet', 'PACS_NOORD', '-aec', EXTERNAL, '127.0.0.1', port];

  // Noord knows P by its own Patient ID, with the BSN in Other Patient IDs, once it holds a study of P filed so.
  const local = tempDir(t);
  for (const [i, f] of (p.studies[2]?.files ?? []).entries()) {
    const copy = join(local, `${i}.dcm`);
    copyFileSync(f, copy);
    const modified = await run('dcmodify', [
      '-nb',
      '-m',
      'PatientID=NOORD-4711',
      '-m',
      'IssuerOfPatientID=NOORD',
      '-i',
      `(0010,1002)[0].PatientID=${p.bsn}`,
      '-i',
      `(0010,1002)[0].IssuerOfPatientID=${BSN_ISSUER_OID}`,
      copy,
    ]);
    assert.equal(modified.code, 0, modified.stderr);
    await testAccess(nodes.noord.n.node, 'import').importFile(copy);
  }
  const byLocalId = await findscuAnswers(t, pacs, [
    'QueryRetrieveLevel=STUDY',
    'PatientID=NOORD-4711',
    'IssuerOfPatientID=NOORD',
    'PatientName',
    'StudyInstanceUID',
    'InstitutionName',
  ]);
  assert.deepEqual(
    byLocalId.map((d) => d.string(Tag.StudyInstanceUID)).sort(),
    p.studies
      .slice(0, 2)
      .map((s) => s.studyInstanceUid)
      .sort(),
    "Midden's two studies; Zuid is denied",
  );
  assert.deepEqual(
    byLocalId.map((d) => d.string(Tag.PatientID)?.trim()),
    byLocalId.map(() => 'NOORD-4711'),
    'named as the PACS named them',
  );
  assert.deepEqual(
    byLocalId.map((d) => d.string(Tag.PatientName)),
    byLocalId.map(() => p.name),
    'with the name the node knows the patient by',
  );

  // findscu -d prints the final response: its status and the reason in Error Comment.
  const refusal = async (patientId: string): Promise<string> => {
    const r = await run('findscu', [
      '-d',
      '-S',
      ...pacs,
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `PatientID=${patientId}`,
    ]);
    return r.stdout + r.stderr;
  };
  const unknown = await refusal('ONBEKEND1');
  assert.match(unknown, /Unable to process|C000/i);
  assert.match(unknown, /no BSN is known here for Patient ID ONBEKEND1/);
  assert.match(await refusal('*'), /answers for one patient at a time/);

  const modality = await run('findscu', [
    '-S',
    '-aet',
    'CT_NOORD',
    '-aec',
    EXTERNAL,
    '127.0.0.1',
    port,
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `PatientID=${p.bsn}`,
  ]);
  assert.notEqual(modality.code, 0);
  assert.match(modality.stderr, /Association Rejected/i, modality.stderr);
  assert.equal((await timelineRequestsAt(nodes.zuid, p.bsn)).length, 0, 'the denied hospital was never asked');
});

test('virtual PACS: a C-MOVE of a study another hospital holds brings it over the exchange into the PACS, byte for byte, once; a second C-MOVE is served from the copy', async (t) => {
  if (['findscu', 'movescu', 'storescp'].map((tool) => requireTool(t, tool)).includes(undefined)) return;
  const pacsPort = await freePort();
  const net = await network(t, {
    noord: {
      dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacsPort, description: 'Noord PACS' }],
      timeline: { sourceTimeoutMs: 5000, externalAe: { aeTitle: EXTERNAL, callers: ['PACS_NOORD'] } },
      // Retrievals would go into the PACS by themselves too: the C-MOVE must not make them arrive twice.
      routing: [{ purpose: 'retrieval', action: 'forward', destination: 'PACS_NOORD' }],
    },
  });
  const { p, nodes } = net;
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  const received = tempDir(t);
  await storescpDestination(t, { aeTitle: 'PACS_NOORD', port: pacsPort, dir: received, flags: ['+B', '+xa'] });
  const noordPort = String(nodes.noord.n.port);
  const move = (keys: string[]) =>
    moveIntoPacs({ pacsAe: 'PACS_NOORD', calledAe: EXTERNAL, port: nodes.noord.n.port }, keys);
  const [first, second] = p.studies;
  assert.ok(first !== undefined && second !== undefined);

  // As a PACS does: query, then retrieve what the radiologist picked.
  await findscuAnswers(
    t,
    ['-aet', 'PACS_NOORD', '-aec', EXTERNAL, '127.0.0.1', noordPort],
    ['QueryRetrieveLevel=STUDY', `PatientID=${p.bsn}`, 'StudyInstanceUID'],
  );
  const moved = await move(['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${first.studyInstanceUid}`]);
  assert.equal(moved.code, 0, moved.stderr);
  assert.match(moved.stdout + moved.stderr, /Received Final Move Response \(Success\)/);
  assert.equal(
    (moved.stdout + moved.stderr).match(/Received Move Response \d+ \(Pending\)/g)?.length,
    first.instances - 1,
    'a pending response after each instance but the last',
  );
  const original = datasetsByUid(first.files);
  const inPacs = datasetsByUid(filesIn(received));
  assert.equal(inPacs.size, first.instances);
  for (const [uid, bytes] of original) assert.ok(inPacs.get(uid)?.equals(bytes), `instance ${uid} byte for byte`);

  const atMidden = (await nodes.midden.n.node.audit.list({ bsn: p.bsn })).filter(
    (r) => r.objects.studyInstanceUid === first.studyInstanceUid,
  );
  assert.ok(
    atMidden.some((r) => r.user.id === 'dicom:PACS_NOORD' && r.outcome === 'success'),
    "Midden records the release as asked by Noord's PACS",
  );
  const atNoord = await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'retrieve' });
  assert.ok(
    atNoord.some((r) =>
      r.description.startsWith(`C-MOVE to PACS_NOORD through ${EXTERNAL}: study from ${midden.name}`),
    ),
  );
  assert.equal(
    (await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'import' })).length,
    0,
    'the routing rule did not forward the retrieved study a second time',
  );

  // Without a query first, but naming the patient: the node asks the timeline where the study is.
  const byPatient = await move([
    'QueryRetrieveLevel=STUDY',
    `PatientID=${p.bsn}`,
    `StudyInstanceUID=${second.studyInstanceUid}`,
  ]);
  assert.equal(byPatient.code, 0, byPatient.stderr);
  assert.equal(datasetsByUid(filesIn(received)).size, first.instances + second.instances);

  // The first study again: Noord holds it now and sends its copy without asking Midden.
  const releasesAtMidden = async () => (await timelineRequestsAt(nodes.midden, p.bsn)).length;
  const before = await releasesAtMidden();
  const again = await move(['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${first.studyInstanceUid}`]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout + again.stderr, /Received Final Move Response \(Success\)/);
  assert.equal(await releasesAtMidden(), before, 'Midden was not asked again');
});

test("virtual PACS: Orthanc as the hospital's PACS queries the other hospitals through its DICOM modalities and retrieves a prior into itself", async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  const orthanc = await startOrthanc({ dir: tempDir(t), aeTitle: 'ORTHANC_NOORD', modalities: {} });
  t.after(() => orthanc.stop());
  const net = await network(t, {
    noord: {
      dimsePeers: [{ aeTitle: 'ORTHANC_NOORD', host: '127.0.0.1', port: orthanc.dicomPort, description: 'Noord PACS' }],
      timeline: { sourceTimeoutMs: 5000, externalAe: { aeTitle: EXTERNAL, callers: ['ORTHANC_NOORD'] } },
    },
  });
  const { p, nodes } = net;
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(zuid.ura), ...recorded });
  // The other hospitals' archive, as a PACS admin adds it: one more DICOM modality.
  await orthanc.rest('PUT', '/modalities/priors', { AET: EXTERNAL, Host: '127.0.0.1', Port: nodes.noord.n.port });

  // Orthanc's "query/retrieve" screen does this: a study-level C-FIND with the keys it shows.
  const query = await orthanc.rest<{ ID: string }>('POST', '/modalities/priors/query', {
    Level: 'Study',
    Query: { PatientID: p.bsn, StudyDate: '', StudyDescription: '', ModalitiesInStudy: '', InstitutionName: '' },
  });
  const answers = await orthanc.rest<Record<string, string>[]>('GET', `/queries/${query.ID}/answers?expand&simplify`);
  const found = answers.map((a) => ({ uid: a['StudyInstanceUID'], hospital: a['InstitutionName'] }));
  assert.deepEqual(found.map((f) => f.uid).sort(), p.studies.map((s) => s.studyInstanceUid).sort());
  const zuidStudy = p.studies[2];
  assert.ok(zuidStudy !== undefined);
  const index = found.findIndex((f) => f.uid === zuidStudy.studyInstanceUid);
  assert.equal(found[index]?.hospital, zuid.name);

  // Opening the study in that screen asks for its series.
  const seriesQuery = await orthanc.rest<{ ID: string }>(
    'POST',
    `/queries/${query.ID}/answers/${index}/query-series`,
    {},
  );
  const series = await orthanc.rest<Record<string, string>[]>(
    'GET',
    `/queries/${seriesQuery.ID}/answers?expand&simplify`,
  );
  assert.equal(series.length, zuidStudy.series);

  // Retrieve into Orthanc itself (a C-MOVE with Orthanc as the destination), as its "retrieve" button does.
  await orthanc.rest('POST', `/queries/${query.ID}/answers/${index}/retrieve`, {
    TargetAet: 'ORTHANC_NOORD',
    Synchronous: true,
  });
  const studies = await orthanc.rest<{ MainDicomTags: { StudyInstanceUID: string }; Instances?: string[] }[]>(
    'GET',
    '/studies?expand',
  );
  assert.deepEqual(
    studies.map((s) => s.MainDicomTags.StudyInstanceUID),
    [zuidStudy.studyInstanceUid],
  );
  const instances = await orthanc.rest<unknown[]>(
    'GET',
    `/studies/${(await orthanc.rest<string[]>('GET', '/studies'))[0]}/instances`,
  );
  assert.equal(instances.length, zuidStudy.instances, 'every instance of the prior is in the PACS');

  // A C-GET works the same way: the instances come back on the asking association.
  if (requireTool(t, 'getscu') === undefined) return;
  const middenStudy = p.studies[0];
  assert.ok(middenStudy !== undefined);
  const got = tempDir(t);
  const get = await run('getscu', [
    '-S',
    '-aet',
    'ORTHANC_NOORD',
    '-aec',
    EXTERNAL,
    '-od',
    got,
    '127.0.0.1',
    String(nodes.noord.n.port),
    ...wholeStudy(middenStudy.studyInstanceUid),
  ]);
  assert.equal(get.code, 0, get.stderr);
  const original = datasetsByUid(middenStudy.files);
  const fetched = datasetsByUid(filesIn(got));
  assert.equal(fetched.size, middenStudy.instances);
  for (const [uid, bytes] of original) assert.ok(fetched.get(uid)?.equals(bytes), `instance ${uid} byte for byte`);
});
