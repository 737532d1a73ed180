// Uploads into quarantine: a patient asked for images opens the e-mailed link with the SMS code and uploads a CD's
// content as a zip (with its DICOMDIR and a viewer's files) through tus-js-client, an independent client of the tus
// protocol, resuming after a cut; staff review it and import it into the PACS (a real Orthanc) under the patient's
// BSN. Unsafe zips (entries outside their folder, zip bombs) and files that are not DICOM are refused.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import * as tus from 'tus-js-client';
import { randomBsn } from '../../src/patient/index.ts';
import { synthesize, type SynthStudy } from '../../src/synth/index.ts';
import type { ExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { heldInstances, importSynthPatient } from '../support/patient-data.ts';
import { run } from '../support/processes.ts';
import {
  asRecipient,
  type MailServer,
  type SmsGatewayServer,
  startShareNode,
  zipOf,
} from '../support/share-services.ts';
import { type SignedIn, signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

interface Setup {
  clock: { now: number };
  node: ExchangeNode;
  mail: MailServer;
  sms: SmsGatewayServer;
  staff: SignedIn;
  pacs?: Awaited<ReturnType<typeof startOrthanc>>;
}

async function setUp(t: TestContext, o: { pacs?: boolean; maxUploadBytes?: number } = {}): Promise<Setup> {
  const pacs =
    o.pacs === true
      ? await startOrthanc({
          dir: tempDir(t),
          aeTitle: 'PACS_NOORD',
          modalities: { beeldbrug: { aeTitle: 'BB_0001', host: '127.0.0.1', port: 1 } },
        })
      : undefined;
  if (pacs !== undefined) t.after(() => pacs.stop());
  const clock = { now: Date.now() };
  const { node, mail, sms } = await startShareNode(t, {
    share: o.maxUploadBytes !== undefined ? { maxUploadBytes: o.maxUploadBytes } : {},
    node: {
      now: () => clock.now,
      ...(pacs !== undefined
        ? {
            dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'Noord PACS' }],
            routing: [{ action: 'forward', destination: 'PACS_NOORD' }],
          }
        : {}),
    },
  });
  const staff = await signedIn(t, node, { username: 'secretaresse', name: 'Sanne Secretaresse', role: 'staff' });
  return { clock, node, mail, sms, staff, ...(pacs !== undefined ? { pacs } : {}) };
}

/** Asks the patient for images (an upload request: no studies) and opens it as them: the session cookie. */
function openUploadRequest(s: Setup): Promise<{ shareId: string; cookie: string }> {
  return openShare(s, { studyInstanceUids: [], upload: true }, /vraagt u beelden te sturen/);
}

/** Makes a share, follows its e-mailed link, asks the code and opens it: the share and the recipient's cookie. */
async function openShare(
  s: Setup,
  body: { studyInstanceUids: string[]; upload?: boolean },
  subject?: RegExp,
): Promise<{ shareId: string; cookie: string }> {
  const made = await s.staff.call('POST', '/api/v1/shares', {
    ...body,
    recipient: { name: 'Els Patiënt', email: 'els@example.test', mobile: '06 2222 3333', isPatient: true },
  });
  assert.equal(made.status, 201, made.body);
  const mail = await s.mail.next();
  if (subject !== undefined) assert.match(mail.subject, subject);
  const token = /\/share#([A-Za-z0-9_-]{43})/.exec(mail.text)?.[1] ?? '';
  const call = (method: string, path: string, json?: unknown): ReturnType<typeof asRecipient> =>
    asRecipient(s.node.port, s.node.ca.certPem, method, path, json);
  assert.equal((await call('POST', '/share/v1/code', { token })).status, 200);
  const code = /\d{6}/.exec((await s.sms.next()).text)?.[0] ?? '';
  const opened = await call('POST', '/share/v1/session', { token, code });
  assert.equal(opened.status, 200, opened.body);
  return {
    shareId: (JSON.parse(made.body) as { shareId: string }).shareId,
    cookie: String(opened.headers['set-cookie']).split(';')[0] ?? '',
  };
}

/** Uploads bytes with tus-js-client; `cutAfter` aborts after that many bytes, answering the upload's URL to resume. */
function tusUpload(
  s: Setup,
  cookie: string,
  bytes: Buffer,
  o: { fileName: string; uploadUrl?: string; cutAfter?: number },
): Promise<{ url: string; completed: boolean }> {
  return new Promise((resolve, reject) => {
    const upload: tus.Upload = new tus.Upload(bytes, {
      endpoint: `https://127.0.0.1:${s.node.port}/share/v1/uploads`,
      ...(o.uploadUrl !== undefined ? { uploadUrl: o.uploadUrl } : {}),
      metadata: { filename: o.fileName },
      headers: { cookie },
      chunkSize: 256 * 1024,
      retryDelays: null,
      httpStack: new tus.DefaultHttpStack({ ca: s.node.ca.certPem }),
      onChunkComplete: (_chunk, accepted) => {
        if (o.cutAfter !== undefined && accepted >= o.cutAfter)
          void upload.abort().then(() => resolve({ url: upload.url ?? '', completed: false }), reject);
      },
      onSuccess: () => resolve({ url: upload.url ?? '', completed: true }),
      onError: reject,
    });
    upload.start();
  });
}

/** A CD as a hospital burns it: the DICOM files under DICOM/, a DICOMDIR made by DCMTK, an autorun and a viewer. */
async function cdContent(t: TestContext, study: SynthStudy, dcmmkdir: string): Promise<Buffer> {
  const cd = tempDir(t);
  mkdirSync(join(cd, 'DICOM'));
  const names = study.files.map((f, i) => {
    const name = `DICOM/IM${String(i + 1).padStart(5, '0')}`;
    copyFileSync(f, join(cd, name));
    return name;
  });
  const made = await run(dcmmkdir, ['-q', '+id', cd, '+I', '--output-file', join(cd, 'DICOMDIR'), ...names], 60_000);
  assert.equal(made.code, 0, made.stdout + made.stderr);
  return zipOf([
    { name: 'DICOMDIR', data: readFileSync(join(cd, 'DICOMDIR')) },
    ...names.map((n) => ({ name: n, data: readFileSync(join(cd, n)) })),
    { name: 'AUTORUN.INF', data: Buffer.from('[autorun]\r\nopen=viewer\\viewer.exe\r\n') },
    { name: 'viewer/viewer.exe', data: Buffer.from('MZ not really a viewer') },
  ]);
}

interface UploadView {
  fileName: string;
  state: string;
  problem: { kind: string; detail: string } | null;
  result: { stored: number; studies: string[]; skipped: { name: string; reason: string }[]; skippedCount: number };
}

async function uploadsOf(s: Setup, cookie: string): Promise<UploadView[]> {
  const r = await asRecipient(s.node.port, s.node.ca.certPem, 'GET', '/share/v1/uploads', undefined, cookie);
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { uploads: UploadView[] }).uploads;
}

interface QuarantineEntry {
  studyInstanceUid: string;
  state: string;
  uploader: { name: string; shareId: string };
  study: { patient: { bsn: string | null; name: string | null }; instances: number } | null;
}

test('a patient uploads a CD as a zip, resuming after a cut; staff import it into the PACS under the BSN they check', async (t) => {
  const dcmmkdir = requireTool(t, 'dcmmkdir');
  if (dcmmkdir === undefined || requireTool(t, 'Orthanc') === undefined) return;
  const s = await setUp(t, { pacs: true });
  const { shareId, cookie } = await openUploadRequest(s);
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed: 61 });
  const study = synth.patients[0]!.studies[0]!;
  const zip = await cdContent(t, study, dcmmkdir);
  assert.ok(zip.length > 3 * 256 * 1024, 'large enough to be cut mid-way');

  // Cut off after the first chunks; the node says how far it got, and the upload goes on from there.
  const cut = await tusUpload(s, cookie, zip, { fileName: 'cd-ziekenhuis-oost.zip', cutAfter: 2 * 256 * 1024 });
  assert.equal(cut.completed, false);
  const head = await asRecipient(s.node.port, s.node.ca.certPem, 'HEAD', new URL(cut.url).pathname, undefined, cookie);
  const offset = Number(head.headers['upload-offset']);
  assert.ok(offset >= 2 * 256 * 1024 && offset < zip.length, `resumes mid-way, at ${offset}`);
  assert.deepEqual(await heldInstances(s.node.n.node, study.studyInstanceUid), [], 'a partial upload stores nothing');
  const resumed = await tusUpload(s, cookie, zip, { fileName: 'cd-ziekenhuis-oost.zip', uploadUrl: cut.url });
  assert.equal(resumed.completed, true);

  // Every DICOM file taken in; the DICOMDIR, the autorun and the viewer named as left out.
  const [upload] = await uploadsOf(s, cookie);
  assert.equal(upload?.state, 'done', JSON.stringify(upload));
  assert.equal(upload?.result.stored, study.files.length);
  assert.deepEqual(upload?.result.studies, [study.studyInstanceUid]);
  assert.deepEqual(
    upload?.result.skipped.map((x) => x.name),
    ['DICOMDIR', 'AUTORUN.INF', 'viewer/viewer.exe'],
  );

  // In quarantine, not among the hospital's studies; staff see it with its sender.
  assert.deepEqual(await heldInstances(s.node.n.node, study.studyInstanceUid), []);
  const listed = await s.staff.call('GET', '/api/v1/quarantine');
  assert.equal(listed.status, 200, listed.body);
  const [held] = (JSON.parse(listed.body) as { studies: QuarantineEntry[] }).studies;
  assert.equal(held?.studyInstanceUid, study.studyInstanceUid);
  assert.equal(held?.uploader.name, 'Els Patiënt');
  assert.equal(held?.study?.instances, study.files.length);

  // Filed under the BSN staff checked (here another than uploaded: the hospital's own record of the patient).
  const bsn = randomBsn(() => 0.42);
  assert.equal(
    (await s.staff.call('POST', `/api/v1/quarantine/${study.studyInstanceUid}/import`, { bsn: '123456789' })).status,
    400,
    'not a BSN',
  );
  const imported = await s.staff.call('POST', `/api/v1/quarantine/${study.studyInstanceUid}/import`, { bsn });
  assert.equal(imported.status, 202, imported.body);
  await waitFor(
    'the import settled and the quarantine copy went',
    async () =>
      (JSON.parse((await s.staff.call('GET', '/api/v1/quarantine')).body) as { studies: QuarantineEntry[] }).studies
        .length === 0,
    t.signal,
  );
  const pacs = s.pacs!;
  const found = await pacs.rest<string[]>('POST', '/tools/find', {
    Level: 'Study',
    Query: { StudyInstanceUID: study.studyInstanceUid },
  });
  assert.equal(found.length, 1, 'the PACS holds the study');
  const patient = await pacs.rest<{ MainDicomTags: { PatientID: string } }>('GET', `/studies/${found[0]!}/patient`);
  assert.equal(patient.MainDicomTags.PatientID, bsn);
  const instances = await pacs.rest<unknown[]>('GET', `/studies/${found[0]!}/instances`);
  assert.equal(instances.length, study.files.length);

  // Recorded: the upload by the patient (as the share's recipient), the import by the person who decided.
  const audit = s.node.n.node.audit;
  const uploads = (await audit.list({ action: 'upload' })).filter((r) => r.objects.shareId === shareId);
  assert.deepEqual(
    uploads.map((r) => [r.user.id, r.outcome, r.objects.studyInstanceUid]),
    [[`share:${shareId}`, 'success', study.studyInstanceUid]],
  );
  await waitFor(
    'the import recorded',
    async () => (await audit.list({ action: 'import' })).some((r) => r.objects.shareId === shareId),
    t.signal,
  );
  const importRecord = (await audit.list({ action: 'import' })).find((r) => r.objects.shareId === shareId);
  assert.equal(importRecord?.user.name, 'Sanne Secretaresse');
  assert.equal(importRecord?.outcome, 'success');
  assert.equal(importRecord?.patient?.bsn, bsn);
});

test('uploads that are unsafe or not DICOM are refused and store nothing; a share without upload takes none', async (t) => {
  const s = await setUp(t, { maxUploadBytes: 64 * 1024 * 1024 });
  const { cookie } = await openUploadRequest(s);
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed: 62 });
  const dicom = readFileSync(synth.patients[0]!.studies[0]!.files[0]!);

  // An entry named ../ (zip-slip): zip-stream will not write one, so the name is set in the bytes, as an attacker would.
  const slip = await zipOf([{ name: 'xx/evil.dcm', data: dicom }]);
  const evil = Buffer.from(slip.toString('latin1').replaceAll('xx/evil.dcm', '../evil.dcm'), 'latin1');
  assert.equal((await tusUpload(s, cookie, evil, { fileName: 'slip.zip' })).completed, true);
  // A zip bomb: 64 MB of zeros packed into some 64 KB.
  const bomb = await zipOf([{ name: 'zeros.dcm', data: Buffer.alloc(64 * 1024 * 1024) }], false);
  assert.ok(bomb.length < 1024 * 1024);
  assert.equal((await tusUpload(s, cookie, bomb, { fileName: 'bomb.zip' })).completed, true);
  // Not DICOM at all.
  assert.equal(
    (await tusUpload(s, cookie, Buffer.from('%PDF-1.4 a letter'), { fileName: 'brief.pdf' })).completed,
    true,
  );

  const uploads = await uploadsOf(s, cookie);
  const problems = Object.fromEntries(
    uploads.map((u) => [u.fileName, [u.state, u.problem?.kind ?? '', u.problem?.detail ?? '']]),
  );
  assert.deepEqual(problems['slip.zip']?.slice(0, 2), ['refused', 'zip-unsafe']);
  assert.match(problems['slip.zip']?.[2] ?? '', /invalid relative path: \.\.\/evil\.dcm/);
  assert.deepEqual(problems['bomb.zip']?.slice(0, 2), ['refused', 'zip-bomb']);
  assert.match(problems['bomb.zip']?.[2] ?? '', /zip bomb/);
  assert.deepEqual(problems['brief.pdf']?.slice(0, 2), ['refused', 'not-dicom']);
  assert.match(problems['brief.pdf']?.[2] ?? '', /neither a DICOM file .* nor a zip/);
  assert.equal(
    (JSON.parse((await s.staff.call('GET', '/api/v1/quarantine')).body) as { studies: unknown[] }).studies.length,
    0,
  );
  const refusals = (await s.node.n.node.audit.list({ action: 'upload' })).filter((r) => r.outcome === 'failure');
  assert.equal(refusals.length, 3);

  // Larger than the node takes: refused before a byte is sent.
  const call = (method: string, path: string, headers: Record<string, string>) =>
    asRecipient(s.node.port, s.node.ca.certPem, method, path, undefined, cookie, headers);
  const tooLarge = await call('POST', '/share/v1/uploads', {
    'tus-resumable': '1.0.0',
    'upload-length': String(65 * 1024 * 1024),
  });
  assert.equal(tooLarge.status, 413, tooLarge.body);
  // A PATCH at the wrong offset is told where the upload stands.
  const created = await call('POST', '/share/v1/uploads', { 'tus-resumable': '1.0.0', 'upload-length': '10' });
  assert.equal(created.status, 201);
  const wrong = await call('PATCH', String(created.headers['location']), {
    'tus-resumable': '1.0.0',
    'upload-offset': '5',
    'content-type': 'application/offset+octet-stream',
  });
  assert.equal(wrong.status, 409, wrong.body);
  const tooMuch = await asRecipient(
    s.node.port,
    s.node.ca.certPem,
    'PATCH',
    String(created.headers['location']),
    Buffer.alloc(20),
    cookie,
    { 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
  );
  assert.equal(tooMuch.status, 400, tooMuch.body);
  assert.match(tooMuch.body, /more bytes than the 10 announced/);

  // A share that neither holds a study nor takes uploads is not made; one that only shares studies takes no upload.
  const empty = await s.staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [],
    recipient: { name: 'Els Patiënt', email: 'els@example.test', mobile: '06 2222 3333' },
  });
  assert.equal(empty.status, 400, empty.body);
  const held = await importSynthPatient(t, s.node.n.node, 63);
  const only = await openShare(s, { studyInstanceUids: [held.studyInstanceUid] });
  // Another share's recipient cannot see or continue this recipient's upload.
  const other = await openUploadRequest(s);
  for (const method of ['HEAD', 'PATCH'])
    assert.equal(
      (
        await asRecipient(
          s.node.port,
          s.node.ca.certPem,
          method,
          String(created.headers['location']),
          undefined,
          other.cookie,
          {
            'tus-resumable': '1.0.0',
            'upload-offset': '0',
            'content-type': 'application/offset+octet-stream',
          },
        )
      ).status,
      404,
      `${method} of another recipient's upload`,
    );
  assert.deepEqual(await uploadsOf(s, other.cookie), [], "another recipient's list is their own");
  const refused = await asRecipient(
    s.node.port,
    s.node.ca.certPem,
    'POST',
    '/share/v1/uploads',
    undefined,
    only.cookie,
    {
      'tus-resumable': '1.0.0',
      'upload-length': '10',
    },
  );
  assert.equal(refused.status, 403, refused.body);
});

test('an upload nobody reviews is purged from quarantine after the retention period, and recorded', async (t) => {
  const s = await setUp(t);
  const { cookie } = await openUploadRequest(s);
  const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed: 64 });
  const study = synth.patients[0]!.studies[0]!;
  assert.equal((await tusUpload(s, cookie, readFileSync(study.files[0]!), { fileName: 'IM1' })).completed, true);
  const held = async (): Promise<QuarantineEntry[]> =>
    (JSON.parse((await s.staff.call('GET', '/api/v1/quarantine')).body) as { studies: QuarantineEntry[] }).studies;
  assert.equal((await held()).length, 1);

  // Within the period it stays; past it, the copy goes (and so does the upload's bookkeeping).
  await s.node.n.node.retention.runOnce();
  assert.equal((await held()).length, 1);
  s.clock.now += 8 * 86_400_000;
  await s.node.n.node.retention.runOnce();
  assert.deepEqual(await held(), []);
  const purged = (await s.node.n.node.audit.list({ action: 'purge' })).filter(
    (r) => r.objects.studyInstanceUid === study.studyInstanceUid,
  );
  assert.equal(purged.length, 1);
  assert.match(purged[0]!.description, /^from quarantine, not reviewed within the retention period/);
  assert.equal(purged[0]!.user.id, 'system:retention');
});
