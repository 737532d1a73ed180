// Shares with a patient or a doctor elsewhere: the link goes out by e-mail through a real SMTP server (STARTTLS), the
// code by SMS through an HTTPS gateway; link and code together open the share, and nothing opens it alone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { ExchangeNode } from '../support/exchange.ts';
import { filesIn } from '../support/dicom-files.ts';
import { heldInstance, heldInstances, importSynthPatient } from '../support/patient-data.ts';
import { datasetOf, framesOf } from '../../src/dicomweb/stored-instance.ts';
import { run } from '../support/processes.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import {
  asRecipient,
  type MailServer,
  type Reply,
  type SmsGatewayServer,
  startShareNode,
} from '../support/share-services.ts';
import { type SignedIn, signedIn } from '../support/sign-in.ts';

interface Setup {
  node: ExchangeNode;
  mail: MailServer;
  sms: SmsGatewayServer;
  staff: SignedIn;
  studyInstanceUid: string;
  clock: { now: number };
}

async function setUp(t: TestContext, o: { refuseMailTo?: string[] } = {}): Promise<Setup> {
  const clock = { now: Date.now() };
  const { node, mail, sms } = await startShareNode(t, {
    node: { now: () => clock.now },
    ...(o.refuseMailTo !== undefined ? { refuseMailTo: o.refuseMailTo } : {}),
  });
  const study = await importSynthPatient(t, node.n.node, 21);
  const staff = await signedIn(t, node, { username: 'secretaresse', name: 'Sanne Secretaresse', role: 'staff' });
  return { node, mail, sms, staff, studyInstanceUid: study.studyInstanceUid, clock };
}

const recipient = { name: 'Jan Ontvanger', email: 'jan@example.test', mobile: '06 1234 5678' };

/** Makes a share and answers the link's token, read from the e-mail the SMTP server took. */
async function share(s: Setup, to = recipient): Promise<{ shareId: string; token: string; mailText: string }> {
  const r = await s.staff.call('POST', '/api/v1/shares', { studyInstanceUids: [s.studyInstanceUid], recipient: to });
  assert.equal(r.status, 201, r.body);
  const m = await s.mail.next();
  const token = /\/share#([A-Za-z0-9_-]{43})/.exec(m.text)?.[1];
  assert.ok(token !== undefined, m.text);
  return { shareId: (JSON.parse(r.body) as { shareId: string }).shareId, token, mailText: m.text };
}

function recipientCall(s: Setup, method: string, path: string, json?: unknown, cookie?: string): Promise<Reply> {
  return asRecipient(s.node.port, s.node.ca.certPem, method, path, json, cookie);
}

async function codeBySms(s: Setup, token: string): Promise<string> {
  const r = await recipientCall(s, 'POST', '/share/v1/code', { token });
  assert.equal(r.status, 200, r.body);
  const m = await s.sms.next();
  const code = /\b(\d{6})\b/.exec(m.text)?.[1];
  assert.ok(code !== undefined, m.text);
  return code;
}

const problem = (a: { body: string }): { code: string; state?: string; triesLeft?: number; detail: string } =>
  JSON.parse(a.body) as { code: string; state?: string; triesLeft?: number; detail: string };

test('a share opens with the e-mailed link and the SMS code together, is recorded at every step, and can be revoked', async (t) => {
  const s = await setUp(t);
  const { shareId, token, mailText } = await share(s);

  // The e-mail went out over STARTTLS to the recipient, and says nothing about the patient or the study.
  const mail = s.mail.all[0]!;
  assert.equal(mail.secure, true, 'the node required STARTTLS');
  assert.match(mail.to, /jan@example\.test/);
  assert.match(mailText, /Ziekenhuis Noord/);
  const shared = (await s.node.n.node.audit.list({ action: 'share' })).at(-1)!;
  const bsn = shared.patient?.bsn ?? '';
  assert.match(bsn, /^\d{9}$/);
  assert.ok(!mailText.includes(bsn), 'no BSN in the e-mail');

  // Before the code: the link says only that it opens, and where the code goes; the studies stay closed.
  const status = await recipientCall(s, 'POST', '/share/v1/link', { token });
  assert.equal(status.status, 200, status.body);
  assert.deepEqual(
    { ...(JSON.parse(status.body) as Record<string, unknown>), expiresAt: undefined },
    { state: 'active', hospital: 'Ziekenhuis Noord', phoneEndsWith: '78', expiresAt: undefined },
  );
  assert.equal((await recipientCall(s, 'GET', '/share/v1/studies')).status, 401);

  // The code goes to the recipient's mobile, as E.164, with no patient data either.
  const code = await codeBySms(s, token);
  const sms = s.sms.all[0]!;
  assert.equal(sms.to, '+31612345678');
  assert.equal(sms.from, 'ZH Noord');
  assert.ok(!sms.text.includes(bsn));

  // A wrong code counts; the right one opens a session of the recipient's own.
  const wrong = await recipientCall(s, 'POST', '/share/v1/session', {
    token,
    code: code === '000000' ? '111111' : '000000',
  });
  assert.equal(wrong.status, 401);
  assert.equal(problem(wrong).code, 'SHARE_CODE_WRONG');
  assert.equal(problem(wrong).triesLeft, 4);
  const opened = await recipientCall(s, 'POST', '/share/v1/session', { token, code });
  assert.equal(opened.status, 200, opened.body);
  const setCookie = String(opened.headers['set-cookie'] ?? '');
  assert.match(
    setCookie,
    /^beeldbrug_share=[A-Za-z0-9_-]{43}; Path=\/share; Max-Age=\d+; HttpOnly; Secure; SameSite=Strict/,
  );
  const cookie = setCookie.split(';')[0]!;

  const studies = await recipientCall(s, 'GET', '/share/v1/studies', undefined, cookie);
  assert.equal(studies.status, 200, studies.body);
  const body = JSON.parse(studies.body) as {
    hospital: string;
    disclaimer: string;
    studies: { studyInstanceUid: string; patientName: string; instances: number }[];
  };
  assert.equal(body.hospital, 'Ziekenhuis Noord');
  assert.match(body.disclaimer, /persoonlijke medische gegevens/);
  assert.deepEqual(
    body.studies.map((x) => x.studyInstanceUid),
    [s.studyInstanceUid],
  );
  assert.ok(body.studies[0]!.instances > 0);
  assert.ok(!mailText.includes(body.studies[0]!.patientName.split('^')[0]!), 'no patient name in the e-mail');

  // The code was used up with the opening.
  const again = await recipientCall(s, 'POST', '/share/v1/session', { token, code });
  assert.equal(problem(again).code, 'SHARE_CODE_WRONG');

  // Every step is in the audit trail, with the share, the patient, and who acted: the staff member, then the recipient
  // (on the staff member's responsibility).
  const records = (await s.node.n.node.audit.list({})).filter((r) => r.objects.shareId === shareId);
  const steps = records.map(
    (r) => `${r.action}:${r.outcome}:${r.user.id.startsWith('share:') ? 'recipient' : r.user.name}`,
  );
  assert.deepEqual(steps, [
    'share:success:Sanne Secretaresse',
    'login:success:recipient',
    'login-failure:failure:recipient',
    'login:success:recipient',
    'read:success:recipient',
    'login-failure:failure:recipient',
  ]);
  for (const r of records) assert.equal(r.patient?.bsn, bsn);
  const byRecipient = records.filter((r) => r.user.id === `share:${shareId}`);
  for (const r of byRecipient) {
    assert.equal(r.responsibleUser?.name, 'Sanne Secretaresse');
    assert.equal(r.accessPoint.ip, '127.0.0.1');
  }

  // Staff see the share's state; revoking ends the link and the open session at once.
  const list = await s.staff.call('GET', '/api/v1/shares');
  const listed = (JSON.parse(list.body) as { shares: { shareId: string; state: string; opens: number }[] }).shares;
  assert.deepEqual(
    listed.map((x) => [x.shareId, x.state, x.opens]),
    [[shareId, 'active', 1]],
  );
  const revoked = await s.staff.call('POST', `/api/v1/shares/${shareId}/revoke`);
  assert.equal(revoked.status, 200, revoked.body);
  assert.equal((JSON.parse(revoked.body) as { state: string }).state, 'revoked');
  assert.equal((await recipientCall(s, 'GET', '/share/v1/studies', undefined, cookie)).status, 401);
  const after = await recipientCall(s, 'POST', '/share/v1/link', { token });
  assert.deepEqual(JSON.parse(after.body), { state: 'revoked', hospital: 'Ziekenhuis Noord' });
  const closed = await recipientCall(s, 'POST', '/share/v1/code', { token });
  assert.equal(closed.status, 410);
  assert.equal(problem(closed).state, 'revoked');
  assert.ok(!closed.body.includes(bsn));
  assert.equal(s.sms.all.length, 1, 'no code for a revoked link');
});

test('five wrong codes lock a link; an expired or unknown link reveals nothing; the address is rate limited', async (t) => {
  const s = await setUp(t);
  const first = await share(s);
  await codeBySms(s, first.token);
  for (let i = 1; i <= 4; i++) {
    const r = await recipientCall(s, 'POST', '/share/v1/session', { token: first.token, code: 'abcdef' });
    assert.equal(problem(r).triesLeft, 5 - i);
  }
  const fifth = await recipientCall(s, 'POST', '/share/v1/session', { token: first.token, code: '12345' });
  assert.equal(fifth.status, 410);
  assert.equal(problem(fifth).state, 'locked');
  // Locked means locked: not even a new code, and the right one would not help.
  assert.equal(problem(await recipientCall(s, 'POST', '/share/v1/code', { token: first.token })).state, 'locked');
  const locked = (await s.node.n.node.audit.list({ action: 'login-failure' })).at(-1)!;
  assert.match(locked.description, /locked after 5 wrong codes/);

  // Unknown tokens look like nothing at all.
  const unknown = await recipientCall(s, 'POST', '/share/v1/link', { token: 'A'.repeat(43) });
  assert.deepEqual(JSON.parse(unknown.body), { state: 'unknown', hospital: 'Ziekenhuis Noord' });

  // One address trying codes on link after link: 10 failed attempts (the 5 above and the refused code request count
  // too) and then 429, with when to try again.
  const third = await share(s);
  const tries: number[] = [];
  for (let i = 0; i < 4; i++)
    tries.push(
      Number((await recipientCall(s, 'POST', '/share/v1/session', { token: third.token, code: '000000' })).status),
    );
  assert.deepEqual(tries, [401, 401, 401, 401]);
  const limited = await recipientCall(s, 'POST', '/share/v1/session', { token: third.token, code: '000000' });
  assert.equal(limited.status, 429, limited.body);
  assert.equal(problem(limited).code, 'SHARE_RATE_LIMITED');
  assert.match(String(limited.headers['retry-after']), /^\d+$/);

  // A link past its 7 days says so, and no more (the rate limit's window has passed by then too).
  const second = await share(s);
  s.clock.now += 7 * 86_400_000 + 1000;
  const expired = await recipientCall(s, 'POST', '/share/v1/link', { token: second.token });
  assert.deepEqual(JSON.parse(expired.body), { state: 'expired', hospital: 'Ziekenhuis Noord' });
  const late = await recipientCall(s, 'POST', '/share/v1/code', { token: second.token });
  assert.equal(late.status, 410);
  assert.deepEqual(
    { code: problem(late).code, state: problem(late).state },
    { code: 'SHARE_LINK_CLOSED', state: 'expired' },
  );
});

test('a share whose e-mail the mail server refuses is not made, and says so', async (t) => {
  const s = await setUp(t, { refuseMailTo: ['weg@example.test'] });
  const r = await s.staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [s.studyInstanceUid],
    recipient: { ...recipient, email: 'weg@example.test' },
  });
  assert.equal(r.status, 502, r.body);
  assert.equal(problem(r).code, 'SHARE_NOT_SENT');
  const list = JSON.parse((await s.staff.call('GET', '/api/v1/shares')).body) as { shares: unknown[] };
  assert.deepEqual(list.shares, []);
  const failed = (await s.node.n.node.audit.list({ action: 'share' })).filter((x) => x.outcome === 'failure');
  assert.equal(failed.length, 1);
});

test('a share takes a mobile number as people type it, and refuses what no SMS reaches', async (t) => {
  const s = await setUp(t);
  for (const mobile of ['0201234567', '12345', '+31 20 123 4567']) {
    const r = await s.staff.call('POST', '/api/v1/shares', {
      studyInstanceUids: [s.studyInstanceUid],
      recipient: { ...recipient, mobile },
    });
    assert.equal(r.status, 400, `${mobile}: ${r.body}`);
    assert.match(r.body, /mobile number/);
  }
  const r = await s.staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [s.studyInstanceUid],
    recipient: { ...recipient, mobile: '+44 7700 900123' },
  });
  assert.equal(r.status, 201, r.body);
  assert.equal((JSON.parse(r.body) as { recipient: { mobile: string } }).recipient.mobile, '+447700900123');
  // A person's role decides: an auditor reads the trail, and shares nothing.
  const auditor = await signedIn(t, s.node, { username: 'auditor', name: 'Anne Auditor', role: 'auditor' });
  assert.equal((await auditor.call('GET', '/api/v1/shares')).status, 403);
});

/** Opens a share with its link and code, downloads the zip and unpacks it; answers where, and the zip's reply. */
async function downloaded(
  t: TestContext,
  s: Setup,
  token: string,
  unzip: string,
): Promise<{ unpacked: string; zip: Reply; cookie: string }> {
  const code = await codeBySms(s, token);
  const opened = await recipientCall(s, 'POST', '/share/v1/session', { token, code });
  const cookie = String(opened.headers['set-cookie']).split(';')[0]!;
  const zip = await recipientCall(s, 'GET', '/share/v1/download', undefined, cookie);
  assert.equal(zip.status, 200, zip.body.slice(0, 500));
  const dir = tempDir(t);
  writeFileSync(join(dir, 'share.zip'), zip.bytes);
  const unpacked = join(dir, 'unpacked');
  const u = await run(unzip, ['-q', join(dir, 'share.zip'), '-d', unpacked], 60_000);
  assert.equal(u.code, 0, u.stderr);
  return { unpacked, zip, cookie };
}

/** DCMTK reads the DICOMDIR without complaint, and it lists the same records as the one dcmmkdir makes of the files. */
async function assertDicomdirAsDcmtkMakesIt(
  t: TestContext,
  unpacked: string,
  files: readonly string[],
  tools: { dcmdump: string; dcmmkdir: string },
): Promise<void> {
  const ours = await run(tools.dcmdump, ['-q', '+L', join(unpacked, 'DICOMDIR')], 60_000);
  assert.equal(ours.code, 0, ours.stderr);
  assert.equal(ours.stderr, '');
  const reference = join(tempDir(t), 'REFERENCE');
  const made = await run(
    tools.dcmmkdir,
    ['-q', '+id', unpacked, '+r', '+I', '--output-file', reference, ...files.map((f) => relative(unpacked, f))],
    60_000,
  );
  assert.equal(made.code, 0, made.stdout + made.stderr);
  // Record types, File IDs, the referenced instances and the keys a viewer shows.
  const KEYS =
    /\((0004,1430|0004,1500|0004,1511|0004,1512|0010,0010|0010,0020|0020,000d|0020,000e|0008,0060|0020,0011|0020,0013)\)/;
  const records = async (file: string): Promise<string[]> =>
    (await run(tools.dcmdump, ['-q', '+L', file], 60_000)).stdout
      .split('\n')
      .filter((l) => KEYS.test(l))
      .map((l) => l.replace(/^\s+/, '').replace(/\s+#.*$/, ''));
  assert.deepEqual(await records(join(unpacked, 'DICOMDIR')), await records(reference));
}

const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('the recipient downloads a zip: the DICOM files as held, in the standard media layout, with a DICOMDIR DCMTK reads', async (t) => {
  const unzip = requireTool(t, 'unzip');
  const dcmdump = requireTool(t, 'dcmdump');
  const dcmmkdir = requireTool(t, 'dcmmkdir');
  if (unzip === undefined || dcmdump === undefined || dcmmkdir === undefined) return;
  const s = await setUp(t);
  const { shareId, token } = await share(s);
  assert.equal((await recipientCall(s, 'GET', '/share/v1/download')).status, 401, 'not without the session');
  const { unpacked, zip } = await downloaded(t, s, token, unzip);
  assert.equal(zip.headers['content-type'], 'application/zip');
  assert.match(String(zip.headers['content-disposition']), /^attachment; filename="beelden-\d{4}-\d\d-\d\d\.zip"$/);

  // Every instance of the study, byte for byte as the node holds it, under File IDs of the General Purpose profile.
  const held = await heldInstances(s.node.n.node, s.studyInstanceUid);
  const files = filesIn(join(unpacked, 'DICOM'));
  assert.equal(files.length, held.length);
  for (const f of files) {
    const id = relative(unpacked, f).split(sep);
    assert.ok(id.length <= 8 && id.every((c) => /^[A-Z0-9_]{1,8}$/.test(c)), `File ID ${id.join('\\')}`);
  }
  assert.deepEqual(new Set(files.map((f) => digest(readFileSync(f)))), new Set(held.map((i) => i.stored.blob.sha256)));
  await assertDicomdirAsDcmtkMakesIt(t, unpacked, files, { dcmdump, dcmmkdir });
  // The report also as a PDF, beside the DICOM folder, for a recipient without a DICOM viewer.
  const reports = filesIn(join(unpacked, 'VERSLAGEN'));
  assert.equal(reports.length, 1);
  assert.match(relative(unpacked, reports[0]!), /^VERSLAGEN\/\d{4}-\d\d-\d\d .+\.pdf$/);
  assert.equal(readFileSync(reports[0]!).subarray(0, 5).toString('latin1'), '%PDF-');
  assert.match(readFileSync(join(unpacked, 'LEESMIJ.TXT'), 'utf8'), /VERSLAGEN bevat de verslagen als PDF/);

  // The download is recorded, per study, in the recipient's name.
  const downloads = (await s.node.n.node.audit.list({ action: 'download' })).filter(
    (r) => r.objects.shareId === shareId,
  );
  assert.deepEqual(
    downloads.map((r) => [r.user.id, r.objects.studyInstanceUid]),
    [[`share:${shareId}`, s.studyInstanceUid]],
  );
});

test('a de-identified share: the images under new UIDs and a pseudonym, the same in every download, without the reports', async (t) => {
  const unzip = requireTool(t, 'unzip');
  const dcmdump = requireTool(t, 'dcmdump');
  const dcmmkdir = requireTool(t, 'dcmmkdir');
  if (unzip === undefined || dcmdump === undefined || dcmmkdir === undefined) return;
  const s = await setUp(t);
  const made = await s.staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [s.studyInstanceUid],
    recipient,
    deidentify: { retainLongitudinalDates: true },
  });
  assert.equal(made.status, 201, made.body);
  const created = JSON.parse(made.body) as { shareId: string; deidentify: unknown };
  assert.deepEqual(created.deidentify, {
    retainLongitudinalDates: true,
    retainDeviceIdentity: false,
    cleanDescriptors: false,
  });
  const token = /\/share#([A-Za-z0-9_-]{43})/.exec((await s.mail.next()).text)?.[1] ?? '';

  const held = await heldInstances(s.node.n.node, s.studyInstanceUid);
  const images = held.filter(
    (i) => !/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(88|104)\./.test(i.stored.instance.sopClassUid),
  );
  assert.ok(images.length > 0 && images.length < held.length, 'the study has images and a report');
  const patient = held[0]!.stored.patient;

  const first = await downloaded(t, s, token, unzip);
  const view = await recipientCall(s, 'GET', '/share/v1/studies', undefined, first.cookie);
  const shown = JSON.parse(view.body) as { deidentified: boolean; studies: Record<string, unknown>[] };
  assert.equal(shown.deidentified, true);
  assert.equal(shown.studies[0]?.patientName, null);
  assert.equal(shown.studies[0]?.birthDate, null);
  assert.notEqual(shown.studies[0]?.studyInstanceUid, s.studyInstanceUid);
  assert.equal(shown.studies[0]?.instances, images.length, 'the images the zip holds, the report left out');

  const files = filesIn(join(first.unpacked, 'DICOM'));
  assert.equal(files.length, images.length, 'the images, not the report');
  // Nothing of the patient's name, BSN, id or birth date is left in any file, nor the study's own UID.
  const giveaways = [
    ...(patient.patientName ?? '').split('^').filter((p) => p.length > 2),
    patient.bsn ?? '',
    patient.patientId,
    patient.birthDate ?? '',
    s.studyInstanceUid,
  ].filter((g) => g !== '');
  for (const f of [...files, join(first.unpacked, 'DICOMDIR')]) {
    const bytes = readFileSync(f).toString('latin1');
    for (const g of giveaways) assert.ok(!bytes.includes(g), `${relative(first.unpacked, f)} holds ${g}`);
  }
  const dumped = (
    await run(
      dcmdump,
      [
        '-q',
        '+P',
        'PatientName',
        '+P',
        'PatientID',
        '+P',
        'StudyInstanceUID',
        '+P',
        'StudyDate',
        '+P',
        'PatientIdentityRemoved',
        ...files,
      ],
      60_000,
    )
  ).stdout;
  const values = (tag: string): Set<string> =>
    new Set([...dumped.matchAll(new RegExp(`^\\(${tag}\\) \\w\\w \\[([^\\]]*)\\]`, 'gm'))].map((m) => m[1] ?? ''));
  assert.deepEqual(values('0010,0010'), new Set(['ANONIEM']));
  assert.equal(values('0010,0020').size, 1, 'one pseudonym throughout');
  assert.match([...values('0010,0020')][0] ?? '', /^ANON[0-9A-F]{12}$/);
  assert.equal(values('0020,000d').size, 1, 'one new Study Instance UID throughout');
  assert.deepEqual(values('0020,000d'), new Set([shown.studies[0]?.studyInstanceUid]));
  assert.deepEqual(values('0008,0020'), new Set([held[0]!.stored.study.studyDate]), 'dates kept, as asked');
  assert.deepEqual(values('0012,0062'), new Set(['YES']));
  await assertDicomdirAsDcmtkMakesIt(t, first.unpacked, files, { dcmdump, dcmmkdir });
  assert.match(
    readFileSync(join(first.unpacked, 'LEESMIJ.TXT'), 'utf8'),
    /gede-identificeerd[\s\S]*1 verslag\(en\) zijn niet meegestuurd/,
  );

  // A second download of the same share: the same files, so a viewer sees the same study again, not a new one.
  const second = await downloaded(t, s, token, unzip);
  const hashes = (dir: string): string[] =>
    filesIn(join(dir, 'DICOM'))
      .map((f) => digest(readFileSync(f)))
      .sort();
  assert.deepEqual(hashes(second.unpacked), hashes(first.unpacked));
  const recorded = (await s.node.n.node.audit.list({ action: 'download' })).filter(
    (r) => r.objects.shareId === created.shareId,
  );
  assert.equal(recorded.length, 2);
  assert.match(recorded[0]?.description ?? '', /de-identified/);
});

/** A recipient session opened with link and code: its cookie. */
async function openedSession(s: Setup, token: string): Promise<string> {
  const code = await codeBySms(s, token);
  const opened = await recipientCall(s, 'POST', '/share/v1/session', { token, code });
  assert.equal(opened.status, 200, opened.body);
  return String(opened.headers['set-cookie']).split(';')[0]!;
}

type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;
const jsonOf = (r: Reply): Json[] => {
  assert.equal(r.status, 200, r.body.slice(0, 500));
  return JSON.parse(r.body) as Json[];
};
const value = (j: Json, tag: string): unknown => j[tag]?.Value?.[0];

/** The parts of a multipart/related answer, as bytes. */
function partsOf(r: Reply): Buffer[] {
  const boundary = /boundary=([^;\s]+)/.exec(String(r.headers['content-type']))?.[1] ?? '';
  assert.notEqual(boundary, '', String(r.headers['content-type']));
  const parts: Buffer[] = [];
  let at = r.bytes.indexOf(`--${boundary}`);
  while (at >= 0) {
    const next = r.bytes.indexOf(`--${boundary}`, at + boundary.length + 2);
    if (next < 0) break;
    const part = r.bytes.subarray(at, next - 2);
    parts.push(part.subarray(part.indexOf('\r\n\r\n') + 4));
    at = next;
  }
  return parts;
}

/** The first frame of a held instance, as the node stores it. */
async function heldFrame(s: Setup, sopInstanceUid: string): Promise<Buffer> {
  const held = await heldInstance(s.node.n.node, sopInstanceUid);
  assert.ok(held !== undefined, sopInstanceUid);
  return framesOf(await datasetOf(held), held).frames[0]!;
}

test("the recipient views a shared study in the browser's viewer, without download: only the share's images, each as held, one record per study", async (t) => {
  const s = await setUp(t);
  const other = await importSynthPatient(t, s.node.n.node, 22);
  const { shareId, token } = await share(s);
  const root = '/share/v1/dicomweb';

  // Nothing without the session of link and code.
  assert.equal((await recipientCall(s, 'GET', `${root}/studies`)).status, 401);
  const cookie = await openedSession(s, token);
  const get = (path: string): Promise<Reply> => recipientCall(s, 'GET', `${root}${path}`, undefined, cookie);

  const [study] = jsonOf(await get(`/studies?StudyInstanceUID=${s.studyInstanceUid}`));
  assert.equal(value(study!, '0020000D'), s.studyInstanceUid);
  const held = await heldInstances(s.node.n.node, s.studyInstanceUid);
  assert.equal(value(study!, '00201208'), held.length, 'every instance of the share');
  assert.ok(JSON.stringify(value(study!, '00100010')).length > 2, 'the patient, by name');

  const series = jsonOf(await get(`/studies/${s.studyInstanceUid}/series`));
  assert.equal(
    series.reduce((n, x) => n + Number(value(x, '00201209')), 0),
    held.length,
    'the series hold every instance',
  );
  const images = series.find((x) => value(x, '00080060') !== 'SR' && value(x, '00080060') !== 'DOC')!;
  const seriesUid = String(value(images, '0020000E'));
  const instances = jsonOf(await get(`/studies/${s.studyInstanceUid}/series/${seriesUid}/instances`));
  const metadata = jsonOf(await get(`/studies/${s.studyInstanceUid}/series/${seriesUid}/metadata`));
  assert.equal(metadata.length, instances.length);
  const sop = String(value(metadata[0]!, '00080018'));
  assert.match(
    metadata[0]!['7FE00010']?.BulkDataURI ?? '',
    new RegExp(`${root}/studies/.*/instances/${sop}/bulk/7FE00010$`),
  );

  // Every frame of the series, as a viewer asks for them: each the bytes the node holds.
  for (const instance of instances) {
    const uid = String(value(instance, '00080018'));
    const frame = await get(`/studies/${s.studyInstanceUid}/series/${seriesUid}/instances/${uid}/frames/1`);
    assert.equal(frame.status, 200, frame.body.slice(0, 300));
    assert.ok(partsOf(frame)[0]!.equals(await heldFrame(s, uid)), `frame 1 of ${uid}`);
  }
  const thumbnail = await get(`/studies/${s.studyInstanceUid}/series/${seriesUid}/thumbnail`);
  assert.equal(thumbnail.status, 200, thumbnail.body.slice(0, 300));
  assert.equal(thumbnail.headers['content-type'], 'image/jpeg');

  // Another patient's study, which the node holds, is not in this share: not found, whichever path names it.
  const otherHeld = (await heldInstances(s.node.n.node, other.studyInstanceUid))[0]!.stored;
  for (const path of [
    `/studies/${other.studyInstanceUid}/series`,
    `/studies/${other.studyInstanceUid}/series/${otherHeld.series.seriesInstanceUid}/metadata`,
    `/studies/${s.studyInstanceUid}/series/${seriesUid}/instances/${otherHeld.instance.sopInstanceUid}/frames/1`,
  ])
    assert.equal((await get(path)).status, 404, path);
  assert.deepEqual(jsonOf(await get(`/studies?StudyInstanceUID=${other.studyInstanceUid}`)), []);
  // Nor is the node's own DICOMweb, or a partner's folder, open to a recipient.
  for (const path of ['/dicomweb/studies', `/partner/v1/shares/${shareId}/dicomweb/studies`])
    assert.equal((await recipientCall(s, 'GET', path, undefined, cookie)).status, 401, path);

  // One record for the viewing of the study, however many images were asked for, naming the share and its recipient.
  const viewed = (await s.node.n.node.audit.list({ action: 'read' })).filter((r) =>
    r.description.startsWith('shared studies viewed in the browser'),
  );
  assert.equal(viewed.length, 1, viewed.map((r) => r.description).join('\n'));
  assert.equal(viewed[0]?.objects.shareId, shareId);
  assert.equal(viewed[0]?.objects.studyInstanceUid, s.studyInstanceUid);
  assert.match(viewed[0]?.description ?? '', /covers their further images of the study for 5 minutes/);
  assert.equal(viewed[0]?.user.id, `share:${shareId}`);
});

test('a de-identified share is viewed as its zip holds it: new UIDs, a pseudonym, no reports, the original UIDs not found', async (t) => {
  const s = await setUp(t);
  const made = await s.staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [s.studyInstanceUid],
    recipient,
    deidentify: {},
  });
  assert.equal(made.status, 201, made.body);
  const token = /\/share#([A-Za-z0-9_-]{43})/.exec((await s.mail.next()).text)?.[1] ?? '';
  const cookie = await openedSession(s, token);
  const root = '/share/v1/dicomweb';
  const get = (path: string): Promise<Reply> => recipientCall(s, 'GET', `${root}${path}`, undefined, cookie);

  const held = await heldInstances(s.node.n.node, s.studyInstanceUid);
  const patient = held[0]!.stored.patient;
  const giveaways = [
    s.studyInstanceUid,
    ...held.map((i) => i.stored.instance.sopInstanceUid),
    ...(patient.patientName ?? '').split('^').filter((p) => p.length > 2),
    patient.patientId,
    patient.birthDate ?? '',
  ].filter((g) => g !== '');

  const studies = await get('/studies');
  const [study] = jsonOf(studies);
  const studyUid = String(value(study!, '0020000D'));
  assert.notEqual(studyUid, s.studyInstanceUid);
  assert.deepEqual(value(study!, '00100010'), { Alphabetic: 'ANONIEM' });
  const series = await get(`/studies/${studyUid}/series`);
  assert.ok(
    jsonOf(series).every((x) => !['SR', 'DOC'].includes(String(value(x, '00080060')))),
    'no reports',
  );
  const seriesUid = String(value(jsonOf(series)[0]!, '0020000E'));
  const instances = await get(`/studies/${studyUid}/series/${seriesUid}/instances`);
  const metadata = await get(`/studies/${studyUid}/series/${seriesUid}/metadata`);
  for (const answer of [studies, series, instances, metadata])
    for (const g of giveaways) assert.ok(!answer.body.includes(g), `an answer holds ${g}`);
  const sop = String(value(jsonOf(metadata)[0]!, '00080018'));
  assert.equal(value(jsonOf(metadata)[0]!, '00120062'), 'YES', 'Patient Identity Removed');

  // The pixels are the held ones, under the share's UIDs; under the original UIDs nothing is found.
  const frame = await get(`/studies/${studyUid}/series/${seriesUid}/instances/${sop}/frames/1`);
  assert.equal(frame.status, 200, frame.body.slice(0, 300));
  const number = Number(value(jsonOf(metadata)[0]!, '00200013'));
  const candidates = held.filter(
    (i) =>
      i.stored.instance.instanceNumber === number &&
      i.stored.series.seriesNumber === Number(value(jsonOf(series)[0]!, '00200011')),
  );
  assert.equal(candidates.length, 1, 'the held instance of that series and number');
  assert.ok(partsOf(frame)[0]!.equals(await heldFrame(s, candidates[0]!.stored.instance.sopInstanceUid)));
  assert.equal((await get(`/studies/${s.studyInstanceUid}/series`)).status, 404);
});

test('the patient, with link and code, sees who accessed their data on this node, newest first; no one else does', async (t) => {
  const s = await setUp(t);
  const made = await s.staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [s.studyInstanceUid],
    recipient: { ...recipient, isPatient: true },
  });
  assert.equal(made.status, 201, made.body);
  const shareId = (JSON.parse(made.body) as { shareId: string }).shareId;
  const token = /\/share#([A-Za-z0-9_-]{43})/.exec((await s.mail.next()).text)?.[1] ?? '';
  const code = await codeBySms(s, token);
  const opened = await recipientCall(s, 'POST', '/share/v1/session', { token, code });
  const cookie = String(opened.headers['set-cookie']).split(';')[0]!;
  const view = JSON.parse((await recipientCall(s, 'GET', '/share/v1/studies', undefined, cookie)).body) as {
    hospital: string;
    accessHistory: boolean;
  };
  assert.equal(view.accessHistory, true);

  const r = await recipientCall(s, 'GET', '/share/v1/access-history', undefined, cookie);
  assert.equal(r.status, 200, r.body);
  const { entries } = JSON.parse(r.body) as {
    entries: { time: string; action: string; who: string; kind: string; organization: string | null }[];
  };
  const times = entries.map((e) => e.time);
  assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
  const line = (e: (typeof entries)[number]): string => `${e.action} by ${e.kind} ${e.who} (${e.organization ?? '-'})`;
  const lines = new Set(entries.map(line));
  assert.ok(lines.has(`share by person Sanne Secretaresse (${view.hospital})`), [...lines].join('\n'));
  assert.ok(lines.has('login by recipient Jan Ontvanger (-)'), [...lines].join('\n'));
  assert.ok(
    entries.some((e) => e.action === 'import' && e.kind === 'system'),
    `the study's import into the node: ${[...lines].join('; ')}`,
  );
  const audit = s.node.n.node.audit;
  const read = (await audit.list({ action: 'audit-read' })).filter((x) => x.objects.shareId === shareId);
  assert.deepEqual(
    read.map((x) => [x.user.id, x.outcome, x.patient?.bsn !== undefined]),
    [[`share:${shareId}`, 'success', true]],
  );

  // A share to someone else (a doctor elsewhere) does not show the patient's history: refused, and recorded.
  const other = await share(s, { name: 'Dr. Elders', email: 'elders@example.test', mobile: '06 1111 2222' });
  const otherCode = await codeBySms(s, other.token);
  const otherOpened = await recipientCall(s, 'POST', '/share/v1/session', { token: other.token, code: otherCode });
  const otherCookie = String(otherOpened.headers['set-cookie']).split(';')[0]!;
  const otherView = JSON.parse((await recipientCall(s, 'GET', '/share/v1/studies', undefined, otherCookie)).body) as {
    accessHistory: boolean;
  };
  assert.equal(otherView.accessHistory, false);
  const refused = await recipientCall(s, 'GET', '/share/v1/access-history', undefined, otherCookie);
  assert.equal(refused.status, 403);
  assert.equal(problem(refused).code, 'ACCESS_DENIED');
  const refusals = (await audit.list({ action: 'audit-read' })).filter((x) => x.objects.shareId === other.shareId);
  assert.deepEqual(
    refusals.map((x) => x.outcome),
    ['failure'],
  );
  assert.equal((await recipientCall(s, 'GET', '/share/v1/access-history')).status, 401, 'not without a session');
});

test('retention keeps a shared study until its share ends, then purges the copy, and the share itself a period later', async (t) => {
  const s = await setUp(t);
  const made = await s.staff.call('POST', '/api/v1/shares', {
    studyInstanceUids: [s.studyInstanceUid],
    recipient,
    validDays: 14,
  });
  assert.equal(made.status, 201, made.body);
  const shareId = (JSON.parse(made.body) as { shareId: string }).shareId;
  const node = s.node.n.node;
  const held = async (): Promise<number> => (await heldInstances(node, s.studyInstanceUid)).length;
  const before = await held();

  // Past the node's 7 days: the received copy would go, but the share still needs it.
  s.clock.now += 8 * 86_400_000;
  await node.retention.runOnce();
  assert.equal(await held(), before, 'kept while its share holds');

  // Revoked, the share has ended: its study's copy goes at the next pass; the share stays listed a while.
  assert.equal((await s.staff.call('POST', `/api/v1/shares/${shareId}/revoke`)).status, 200);
  await node.retention.runOnce();
  assert.equal(await held(), 0, 'purged once the share ended');
  const listed = JSON.parse((await s.staff.call('GET', '/api/v1/shares')).body) as { shares: { state: string }[] };
  assert.deepEqual(
    listed.shares.map((x) => x.state),
    ['revoked'],
  );

  // Another period on, the share goes too (the recipient's address and number with it), recorded.
  s.clock.now += 8 * 86_400_000;
  await node.retention.runOnce();
  assert.deepEqual(
    (JSON.parse((await s.staff.call('GET', '/api/v1/shares')).body) as { shares: unknown[] }).shares,
    [],
  );
  const purged = (await node.audit.list({ action: 'purge' })).filter((r) => r.objects.shareId === shareId);
  assert.equal(purged.length, 1);
  assert.match(purged[0]!.description, /^share with Jan Ontvanger purged 7 days after it ended$/);
  assert.equal(purged[0]!.user.id, 'system:retention');
});
