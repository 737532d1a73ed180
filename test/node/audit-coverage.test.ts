// NEN 7513 coverage: every HTTP route of a node is driven on a live network (registry, two hospitals) and each route
// that touches patient data must leave a complete audit record: who (id, name, organization), on behalf of whom where
// that differs, from where, which patient, which objects, on what grounds, when. The route list comes from the router
// itself, so a new route that is neither driven here nor named as free of patient data fails this test. The DIMSE
// operations (C-STORE, C-FIND, C-MOVE, C-GET) are driven by DCMTK in dcmtk-against-node.test.ts with the same check.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { AuditAction, AuditRecord } from '../../src/audit/index.ts';
import { createTestCa, totpCode, totpStep } from '../../src/auth/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { readPart10, Tag } from '../../src/dicom/index.ts';
import { openAccounts } from '../../src/node/index.ts';
import { type Answer, call, type ExchangeNode, midden, multipartOf, noord, send } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { findscuAnswers } from '../support/dcmtk.ts';
import { signedIn } from '../support/sign-in.ts';
import { asRecipient, type Reply, shareSection, startMailServer, startSmsGateway } from '../support/share-services.ts';
import { byHolder, network, radiologist, radiologistAt, recorded, zuid } from '../support/timeline-network.ts';

/** What one route must leave in the trail of the node that serves it. */
interface Expected {
  at: ExchangeNode;
  action: AuditAction;
  /** Picks this route's records out of others of the same action written at the same time. */
  match: RegExp;
  bsn: string;
  /** Queries name the patient but no object; everything else names the study, transfer or instances. */
  objects: boolean;
  /** Someone outside any organization (a share's recipient): named with the person responsible for the share. */
  outsider?: boolean;
}

function assertComplete(route: string, r: AuditRecord, e: Expected): void {
  const what = `${route}: ${r.description}`;
  assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${what}: when, UTC in ms`);
  assert.ok(r.outcome === 'success' || r.outcome === 'failure', what);
  assert.ok(r.user.id.length > 0 && r.user.name.length > 0, `${what}: who`);
  if (e.outsider === true) {
    assert.ok((r.responsibleUser?.name ?? '').length > 0, `${what}: who is responsible`);
    assert.equal(r.user.organizationUra, undefined, `${what}: an outsider is of no organization`);
  } else assert.match(r.user.organizationUra ?? '', /^\d{8}$/, `${what}: the user's organization`);
  assert.ok(r.accessPoint.node.length > 0, `${what}: which node`);
  assert.ok(r.accessPoint.ip !== undefined || r.accessPoint.aeTitle !== undefined, `${what}: from where`);
  assert.equal(r.patient?.bsn, e.bsn, `${what}: which patient`);
  if (e.objects)
    assert.ok(
      Object.values(r.objects).some((v) => v !== undefined),
      `${what}: which objects`,
    );
  assert.ok((r.grounds.purpose ?? '').length > 0, `${what}: on what grounds`);
}

/** Routes whose answers and effects carry no patient data; each says why. */
const noPatientData: Record<string, string> = {
  'GET /health': 'liveness only',
  'GET /exchange/v1/hello': 'names the two organizations, no patient',
  'POST /api/v1/session': 'sign-in: recorded as login or login-failure, no patient',
  'POST /api/v1/session/password':
    'a person changes their own password: recorded as a configuration change, no patient',
  'GET /api/v1/session': 'the signed-in user themselves',
  'DELETE /api/v1/session': 'sign-out: recorded as logout, no patient',
  'GET /': 'the web app itself (static files), no data',
  'GET /assets/*': 'the web app itself (static files), no data',
  'GET /favicon.svg': 'the web app itself (static file), no data',
  'GET /api/v1/workspace': 'which hospital this is, and how to sign in',
  'GET /api/v1/destinations': 'the trust list and the PACS AE titles: configuration, no patient',
  'GET /api/v1/audit/verification': 'the chain checked: counts and hashes, no patient (recorded, checked below)',
  'GET /api/v1/accounts': "the node's staff accounts, no patient (account-admin.test.ts)",
  'POST /api/v1/accounts': 'an account added: a configuration change, no patient (account-admin.test.ts)',
  'POST /api/v1/accounts/:id/disable': 'a configuration change, no patient (account-admin.test.ts)',
  'POST /api/v1/accounts/:id/enable': 'a configuration change, no patient (account-admin.test.ts)',
  'POST /api/v1/accounts/:id/unlock': 'a configuration change, no patient (account-admin.test.ts)',
  'POST /api/v1/accounts/:id/reset-second-factor': 'a configuration change, no patient (account-admin.test.ts)',
  'GET /api/v1/configuration': "the node's configuration without secrets, no patient",
  'GET /api/v1/doctor': "findings about the node's configuration and ports, no patient",
  'GET /api/v1/openapi.json': 'the API description, built from the route table: no patient (openapi.test.ts)',
  'GET /metrics': 'counts and times, labelled by outcome, URA, state and error code: no patient (metrics.test.ts)',
  'GET /share': "the share recipient's page itself (static file), no data",
  'POST /share/v1/link': "a link's state and the hospital's name, no patient (share.test.ts)",
  'DELETE /share/v1/session': "a share recipient's sign-out, no patient",
  'POST /share/v1/uploads': 'an upload begun: a name and a size, nothing stored yet (share-upload.test.ts)',
  'GET /share/v1/uploads': "the recipient's own uploads: file names and counts (share-upload.test.ts)",
  'POST /partner/v1/uploads': 'an upload begun: a name and a size, nothing stored yet (share-sftp.test.ts)',
  'GET /partner/v1/uploads': "the partner's own uploads: file names and counts (partner.test.ts)",
  'GET /api/v1/session/ssh-keys': "a partner's own SSH keys: fingerprints, no patient (partner.test.ts)",
  'POST /api/v1/session/ssh-keys': 'a key registered: a configuration change, no patient (partner.test.ts)',
  'POST /api/v1/session/ssh-keys/remove': 'a key removed: a configuration change, no patient',
};

test('audit coverage: every route that touches patient data writes a complete record before it answers', async (t) => {
  if (requireTool(t, 'Orthanc') === undefined || requireTool(t, 'findscu') === undefined) return;
  // Noord's PACS, searched and fetched from in the workspace; it holds one of the patient's studies.
  const pacs = await startOrthanc({ dir: tempDir(t), aeTitle: 'PACS_NOORD', modalities: {} });
  t.after(() => pacs.stop());
  // Noord shares studies: its mail server and SMS gateway, under a CA of their own.
  const servicesCa = createTestCa({ commonName: 'Mail and SMS test CA' });
  const mail = await startMailServer(t, servicesCa);
  const sms = await startSmsGateway(t, servicesCa);
  const net = await network(t, {
    noord: {
      dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'Noord PACS' }],
      fetchFrom: { aeTitle: 'PACS_NOORD', method: 'c-get' },
      // The PACS also sees the other hospitals' studies under the node's external AE title (the virtual PACS).
      timeline: { sourceTimeoutMs: 5000, externalAe: { aeTitle: 'BB_PRIORS', callers: ['PACS_NOORD'] } },
      share: shareSection(t, { ca: servicesCa, mail, sms, publicUrl: 'https://beelden.noord.test' }),
    },
  });
  const { p, nodes } = net;
  await pacs.rest('PUT', '/modalities/beeldbrug', {
    AET: nodes.noord.n.aeTitle,
    Host: '127.0.0.1',
    Port: nodes.noord.n.port,
  });
  for (const f of p.studies[2]?.files ?? []) await pacs.upload(f);
  const n = nodes.noord;
  const m = nodes.midden;
  const own = (method: string, path: string, body?: unknown): Promise<Answer> =>
    call(n.port, method, path, n.ca.certPem, n.own, body);
  const asRadiologist = (method: string, path: string, body?: unknown): Promise<Answer> =>
    radiologistAt(n).call(method, path, body);
  const laborant = await signedIn(t, n, {
    username: 'j.jansen',
    name: 'J. Jansen',
    role: 'staff',
    uziRoleCode: '30.000',
  });
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });

  // An auditor with two factors, for the trail's own route.
  const config = parseConfig(
    parseYaml(readFileSync(n.n.configPath, 'utf8')) as Record<string, unknown>,
    n.n.configPath,
  );
  const accounts = await openAccounts(config);
  t.after(() => accounts.close());
  const password = 'a long enough passphrase';
  const { totpSecret } = await accounts.createLocal({
    username: 'auditor1',
    name: 'A. Auditor',
    role: 'auditor',
    password,
  });
  const signIn = await call(n.port, 'POST', '/api/v1/session', n.ca.certPem, undefined, {
    username: 'auditor1',
    password,
    code: totpCode(totpSecret, totpStep(new Date())),
  });
  assert.equal(signIn.status, 200, signIn.body);
  const token = (JSON.parse(signIn.body) as { token: string }).token;

  const seen = new Map<string, number>();
  const checked = new Set<string>();
  /** Drives a step, then checks that each route it covers left at least one complete record at the node serving it. */
  const step = async (drive: () => Promise<void>, expected: Record<string, Omit<Expected, 'bsn'>>): Promise<void> => {
    const before = new Map(
      await Promise.all([n, m].map(async (x) => [x, (await x.n.node.audit.list()).length] as const)),
    );
    await drive();
    for (const [route, e] of Object.entries(expected)) {
      const from = before.get(e.at) ?? 0;
      const found = async (): Promise<AuditRecord[]> =>
        (await e.at.n.node.audit.list())
          .slice(from)
          .filter((r) => r.action === e.action && e.match.test(r.description));
      await waitFor(`the ${e.action} record of ${route}`, async () => (await found()).length > 0);
      const records = await found();
      for (const r of records) assertComplete(route, r, { ...e, bsn: p.bsn });
      seen.set(route, records.length);
      checked.add(route);
    }
  };

  // The timeline: Noord asks; Midden, as the source, answers after asking the registry.
  let study = '';
  let prior = '';
  await step(
    async () => {
      const a = await asRadiologist('POST', '/api/v1/timeline', { bsn: p.bsn });
      assert.equal(a.status, 200, a.body);
      const studies = (JSON.parse(a.body) as { studies: { studyInstanceUid: string }[] }).studies;
      study = studies[0]?.studyInstanceUid ?? '';
      prior = studies[1]?.studyInstanceUid ?? '';
      assert.notEqual(study, '');
      assert.notEqual(prior, '', 'a second study, to be rejected below');
    },
    {
      'POST /api/v1/timeline': { at: n, action: 'query', match: /^timeline \(registry\)/, objects: false },
      'POST /timeline/v1/studies': { at: m, action: 'query', match: /^timeline: \d+ studies listed/, objects: false },
    },
  );

  // The PACS opens one of those studies through the virtual PACS: Midden lists its series.
  await step(
    async () => {
      const series = await findscuAnswers(
        t,
        ['-aet', 'PACS_NOORD', '-aec', 'BB_PRIORS', '127.0.0.1', String(n.n.port)],
        ['QueryRetrieveLevel=SERIES', `PatientID=${p.bsn}`, `StudyInstanceUID=${study}`, 'SeriesInstanceUID'],
      );
      assert.ok(series.length > 0);
    },
    {
      'POST /timeline/v1/series': {
        at: m,
        action: 'query',
        match: /^timeline: \d+ series of a study listed/,
        objects: true,
      },
    },
  );

  // Retrieval: Noord asks Midden, which queues the study and sends it over the exchange protocol into Noord's inbox.
  let transferId = '';
  await step(
    async () => {
      const a = await asRadiologist('POST', '/api/v1/timeline/retrievals', {
        bsn: p.bsn,
        source: midden.ura,
        studyInstanceUid: study,
      });
      assert.equal(a.status, 202, a.body);
      transferId = (JSON.parse(a.body) as { transferId: string }).transferId;
      await waitFor('the study delivered at Noord', async () =>
        (await n.n.node.audit.list({ action: 'receive' })).some((r) =>
          r.description.startsWith('study received complete'),
        ),
      );
    },
    {
      'POST /api/v1/timeline/retrievals': { at: n, action: 'retrieve', match: /^retrieval from/, objects: true },
      'POST /timeline/v1/retrievals': {
        at: m,
        action: 'retrieve',
        match: /^timeline retrieval: study queued/,
        objects: true,
      },
      'POST /exchange/v1/transfers': { at: n, action: 'receive', match: /^transfer announced/, objects: true },
      'POST /exchange/v1/transfers/:transferId/instances': {
        at: n,
        action: 'receive',
        match: /^\d+ instances received/,
        objects: true,
      },
      'POST /exchange/v1/transfers/:transferId/commit': {
        at: n,
        action: 'receive',
        match: /^study received complete/,
        objects: true,
      },
    },
  );
  const uploads = (await n.n.node.audit.list({ action: 'receive' })).filter((r) =>
    /instances received/.test(r.description),
  );
  assert.equal(
    uploads.flatMap((r) => r.objects.sopInstanceUids ?? []).length,
    new Set(uploads.flatMap((r) => r.objects.sopInstanceUids ?? [])).size,
    'each instance received is named once',
  );

  // The delivered study shared with the patient: made, listed, opened with link and code, shown, and withdrawn.
  let shareId = '';
  let cookie = '';
  const recipient = (method: string, path: string, json?: unknown): Promise<Reply> =>
    asRecipient(n.port, n.ca.certPem, method, path, json, cookie === '' ? undefined : cookie);
  await step(
    async () => {
      const made = await laborant.call('POST', '/api/v1/shares', {
        studyInstanceUids: [study],
        recipient: { name: 'De patiënt', email: 'patient@example.test', mobile: '0612345678', isPatient: true },
        upload: true,
      });
      assert.equal(made.status, 201, made.body);
      shareId = (JSON.parse(made.body) as { shareId: string }).shareId;
      assert.equal((await laborant.call('GET', '/api/v1/shares')).status, 200);
      const token = /share#([\w-]{43})/.exec((await mail.next()).text)?.[1] ?? '';
      assert.equal((await recipient('POST', '/share/v1/code', { token })).status, 200);
      const code = /\d{6}/.exec((await sms.next()).text)?.[0] ?? '';
      const opened = await recipient('POST', '/share/v1/session', { token, code });
      assert.equal(opened.status, 200, opened.body);
      cookie = String(opened.headers['set-cookie']).split(';')[0] ?? '';
      assert.equal((await recipient('GET', '/share/v1/studies')).status, 200);
      assert.equal((await recipient('GET', '/share/v1/download')).status, 200);
      await driveSharedViewer((path) => recipient('GET', path), '/share/v1/dicomweb');
      assert.equal((await recipient('GET', '/share/v1/access-history')).status, 200);
      // The patient uploads two images of theirs (tus: create, then the bytes); staff import one and reject the other.
      const uploaded: string[] = [];
      for (const files of [p.studies[0]?.files ?? [], p.studies[1]?.files ?? []]) {
        const bytes = readFileSync(files[0] ?? '');
        const tus = { 'tus-resumable': '1.0.0' };
        const created = await asRecipient(n.port, n.ca.certPem, 'POST', '/share/v1/uploads', undefined, cookie, {
          ...tus,
          'upload-length': String(bytes.length),
        });
        assert.equal(created.status, 201, created.body);
        const sent = await asRecipient(
          n.port,
          n.ca.certPem,
          'PATCH',
          String(created.headers['location']),
          bytes,
          cookie,
          {
            ...tus,
            'upload-offset': '0',
            'content-type': 'application/offset+octet-stream',
          },
        );
        assert.equal(sent.status, 204, sent.body);
        uploaded.push(readPart10(bytes).dataset.string(Tag.StudyInstanceUID) ?? '');
      }
      assert.equal((await recipient('GET', '/share/v1/uploads')).status, 200);
      assert.equal((await laborant.call('GET', '/api/v1/quarantine')).status, 200);
      const accepted = await laborant.call('POST', `/api/v1/quarantine/${uploaded[0]}/import`, {
        bsn: p.bsn,
        destination: 'PACS_NOORD',
      });
      assert.equal(accepted.status, 202, accepted.body);
      const rejected = await laborant.call('POST', `/api/v1/quarantine/${uploaded[1]}/reject`, {
        reason: 'niet van deze patiënt',
      });
      assert.equal(rejected.status, 200, rejected.body);
      assert.equal((await laborant.call('POST', `/api/v1/shares/${shareId}/revoke`)).status, 200);
    },
    {
      'POST /api/v1/shares': { at: n, action: 'share', match: /^shared with De patiënt/, objects: true },
      'GET /api/v1/shares': { at: n, action: 'query', match: /^shares listed/, objects: false },
      'POST /share/v1/code': { at: n, action: 'login', match: /^share link opened/, objects: true, outsider: true },
      'POST /share/v1/session': {
        at: n,
        action: 'login',
        match: /^share opened with link and code/,
        objects: true,
        outsider: true,
      },
      'GET /share/v1/studies': { at: n, action: 'read', match: /^shared studies shown/, objects: true, outsider: true },
      'GET /share/v1/download': {
        at: n,
        action: 'download',
        match: /^shared studies downloaded/,
        objects: true,
        outsider: true,
      },
      ...sharedViewerRoutes('/share/v1/dicomweb', {
        at: n,
        action: 'read',
        match: /^shared studies viewed in the browser by their recipient/,
        objects: true,
        outsider: true,
      }),
      'GET /share/v1/access-history': {
        at: n,
        action: 'audit-read',
        match: /^the patient read who accessed their data$/,
        objects: true,
        outsider: true,
      },
      'PATCH /share/v1/uploads/:uploadId': {
        at: n,
        action: 'upload',
        match: /^study uploaded by De patiënt into quarantine/,
        objects: true,
        outsider: true,
      },
      'GET /api/v1/quarantine': { at: n, action: 'read', match: /^uploaded study shown for review/, objects: true },
      'POST /api/v1/quarantine/:studyInstanceUid/import': {
        at: n,
        action: 'import',
        match: /^uploaded study accepted for import into PACS_NOORD/,
        objects: true,
      },
      'POST /api/v1/quarantine/:studyInstanceUid/reject': {
        at: n,
        action: 'import',
        match: /^uploaded study rejected: niet van deze patiënt$/,
        objects: true,
      },
      'POST /api/v1/shares/:shareId/revoke': { at: n, action: 'share', match: /revoked$/, objects: true },
    },
  );

  // A partner organization's account: a share lands in its download folder; it lists and downloads it on the web and
  // sends an image into the quarantine, each in its own name.
  const partnerSecret = (
    await accounts.createLocal({
      username: 'kliniek',
      name: 'Servicedesk',
      role: 'partner',
      organization: 'Kliniek Noord',
      password,
      createdBy: { id: 'os:beheer', name: 'beheer (beeldbrug user add)' },
    })
  ).totpSecret;
  const partnerSignIn = await call(n.port, 'POST', '/api/v1/session', n.ca.certPem, undefined, {
    username: 'kliniek',
    password,
    code: totpCode(partnerSecret, totpStep(new Date())),
  });
  assert.equal(partnerSignIn.status, 200, partnerSignIn.body);
  const partnerCookie = `beeldbrug_session=${(JSON.parse(partnerSignIn.body) as { token: string }).token}`;
  const asPartner = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    asRecipient(n.port, n.ca.certPem, method, path, body, partnerCookie, headers);
  await step(
    async () => {
      const made = await laborant.call('POST', '/api/v1/shares', { studyInstanceUids: [study], partner: 'kliniek' });
      assert.equal(made.status, 201, made.body);
      const partnerShare = (JSON.parse(made.body) as { shareId: string }).shareId;
      assert.equal((await asPartner('GET', '/partner/v1/shares')).status, 200);
      assert.equal((await asPartner('GET', `/partner/v1/shares/${partnerShare}/zip`)).status, 200);
      await driveSharedViewer((path) => asPartner('GET', path), `/partner/v1/shares/${partnerShare}/dicomweb`);
      const bytes = readFileSync(p.studies[2]?.files[0] ?? '');
      const tus = { 'tus-resumable': '1.0.0' };
      const created = await asPartner('POST', '/partner/v1/uploads', undefined, {
        ...tus,
        'upload-length': String(bytes.length),
      });
      assert.equal(created.status, 201, created.body);
      const sent = await asPartner('PATCH', String(created.headers['location']), bytes, {
        ...tus,
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
      });
      assert.equal(sent.status, 204, sent.body);
      assert.equal((await asPartner('GET', '/partner/v1/uploads')).status, 200);
    },
    {
      'GET /partner/v1/shares': {
        at: n,
        action: 'query',
        match: /^shares listed in the partner's download folder$/,
        objects: false,
        outsider: true,
      },
      'GET /partner/v1/shares/:shareId/zip': {
        at: n,
        action: 'download',
        match: /^shared studies downloaded by their recipient: \d+ instances$/,
        objects: true,
        outsider: true,
      },
      ...sharedViewerRoutes('/partner/v1/shares/:shareId/dicomweb', {
        at: n,
        action: 'read',
        match: /^shared studies viewed in the browser by the partner: \d+ instances; viewing/,
        objects: true,
        outsider: true,
      }),
      'PATCH /partner/v1/uploads/:uploadId': {
        at: n,
        action: 'upload',
        match: /^study uploaded by Servicedesk \(Kliniek Noord\) into quarantine/,
        objects: true,
        outsider: true,
      },
    },
  );

  // The sender may ask how its transfer stands.
  await step(
    async () =>
      assert.equal(
        (await call(n.port, 'GET', `/exchange/v1/transfers/${transferId}`, n.ca.certPem, m.own)).status,
        200,
      ),
    {
      'GET /exchange/v1/transfers/:transferId': { at: n, action: 'read', match: /^transfer state read/, objects: true },
    },
  );

  // Noord's own systems: the inbox lists the study, a user accepts it for import into the PACS.
  await step(
    async () => {
      const list = await own('GET', '/api/v1/inbox');
      assert.equal(list.status, 200, list.body);
      assert.match(list.body, new RegExp(p.bsn));
      // Naming a colleague in the body is refused: the person comes from the session.
      const impostor = await laborant.call('POST', `/api/v1/inbox/${transferId}/accept`, {
        destination: 'PACS_NOORD',
        user: { id: 'radioloog-1', name: 'Dr. Collega' },
      });
      assert.equal(impostor.status, 400, impostor.body);
      assert.match(impostor.body, /the person who acts comes from sign-in/);
      const one = await laborant.call('GET', `/api/v1/inbox/${transferId}?waitSeconds=1`);
      assert.equal(one.status, 200, one.body);
      const accept = await laborant.call('POST', `/api/v1/inbox/${transferId}/accept`, { destination: 'PACS_NOORD' });
      assert.equal(accept.status, 202, accept.body);
    },
    {
      'GET /api/v1/inbox': { at: n, action: 'query', match: /^inbox listed/, objects: true },
      'GET /api/v1/inbox/:transferId': { at: n, action: 'read', match: /^inbox transfer read/, objects: true },
      'POST /api/v1/inbox/:transferId/accept': {
        at: n,
        action: 'import',
        match: /^held study accepted by J\. Jansen/,
        objects: true,
      },
    },
  );
  // The second study is retrieved too, and a user rejects it: the decision is the person's, the removal the node's.
  await step(
    async () => {
      const a = await asRadiologist('POST', '/api/v1/timeline/retrievals', {
        bsn: p.bsn,
        source: midden.ura,
        studyInstanceUid: prior,
      });
      assert.equal(a.status, 202, a.body);
      const id = (JSON.parse(a.body) as { transferId: string }).transferId;
      await waitFor('the second study held at Noord', async () => {
        const one = await laborant.call('GET', `/api/v1/inbox/${id}?waitSeconds=5`);
        return one.status === 200 && (JSON.parse(one.body) as { state: string }).state === 'delivered';
      });
      const reject = await laborant.call('POST', `/api/v1/inbox/${id}/reject`, { reason: 'al in ons PACS' });
      assert.equal(reject.status, 200, reject.body);
    },
    {
      'POST /api/v1/inbox/:transferId/reject': {
        at: n,
        action: 'import',
        match: /^held study rejected by J\. Jansen, not imported: al in ons PACS/,
        objects: true,
      },
    },
  );
  const removed = (await n.n.node.audit.list({ action: 'purge' })).find((r) => r.objects.studyInstanceUid === prior);
  assert.equal(removed?.responsibleUser?.id, laborant.id, "the rejected copy's removal names who rejected it");
  assert.equal(removed?.patient?.bsn, p.bsn);

  const listed = (await n.n.node.audit.list({ action: 'query' })).find((r) => r.description.startsWith('inbox listed'));
  const cn = new X509Certificate(n.own.certPem).subject
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.slice(3);
  assert.deepEqual(
    listed?.user,
    { id: `system:${cn}`, name: `${cn} (${noord.name})`, organizationUra: noord.ura },
    'the system that asked, by its certificate',
  );
  const accepted = (await n.n.node.audit.list({ action: 'import' })).find((r) =>
    r.description.startsWith('held study accepted'),
  );
  assert.deepEqual(
    accepted?.user,
    { id: laborant.id, name: 'J. Jansen', roleCode: '30.000', organizationUra: noord.ura },
    'the person signed in, with UZI role and organization',
  );

  // Noord sends the study on to Midden for a second opinion, and its systems look at the outbox.
  let outgoing = '';
  await step(
    async () => {
      const impostor = await asRadiologist('POST', '/api/v1/outbox', {
        studyInstanceUid: study,
        to: midden.ura,
        purpose: 'transfer',
        reason: 'overplaatsing',
        user: { id: 'collega-1', name: 'Dr. Collega' },
      });
      assert.equal(impostor.status, 400, impostor.body);
      const a = await asRadiologist('POST', '/api/v1/outbox', {
        studyInstanceUid: study,
        to: midden.ura,
        purpose: 'transfer',
        reason: 'overplaatsing',
      });
      assert.equal(a.status, 202, a.body);
      outgoing = (JSON.parse(a.body) as { transferId: string }).transferId;
      assert.equal((await asRadiologist('GET', '/api/v1/outbox')).status, 200);
      assert.equal((await own('GET', `/api/v1/outbox/${outgoing}`)).status, 200);
    },
    {
      'POST /api/v1/outbox': { at: n, action: 'send', match: /^study queued for sending/, objects: true },
      'GET /api/v1/outbox': { at: n, action: 'query', match: /^outbox listed/, objects: true },
      'GET /api/v1/outbox/:transferId': { at: n, action: 'read', match: /^outbox transfer read/, objects: true },
    },
  );

  // A send that failed: a person stops it, then queues it again. Made failed in the outbox itself (queued, taken and
  // given up in one go, before the worker can look), so the test does not race a real partner.
  await step(
    async () => {
      const outbox = n.n.node.outbox;
      assert.ok(outbox !== undefined);
      const failed = await outbox.enqueue({
        studyInstanceUid: study,
        partnerUra: zuid.ura,
        purpose: 'transfer',
        urgency: 'routine',
        reason: 'overplaatsing',
        user: { id: radiologistAt(n).id, name: radiologist.name },
        patient: { bsn: p.bsn },
      });
      assert.ok(outbox.claim(failed.transferId));
      await outbox.failed(failed.transferId, 'PARTNER_REFUSED: a test refusal');
      const cancel = await asRadiologist('POST', `/api/v1/outbox/${failed.transferId}/cancel`, {});
      assert.equal(cancel.status, 200, cancel.body);
      const retry = await asRadiologist('POST', `/api/v1/outbox/${failed.transferId}/retry`, {});
      assert.equal(retry.status, 200, retry.body);
    },
    {
      'POST /api/v1/outbox/:transferId/cancel': { at: n, action: 'send', match: /cancelled by Dr\./, objects: true },
      'POST /api/v1/outbox/:transferId/retry': { at: n, action: 'send', match: /queued again by Dr\./, objects: true },
    },
  );

  const queuedBy = (await n.n.node.audit.list({ action: 'send' })).find((r) =>
    r.description.startsWith('study queued for sending'),
  );
  assert.deepEqual(
    queuedBy?.user,
    { id: radiologistAt(n).id, name: radiologist.name, roleCode: radiologist.roleCode, organizationUra: noord.ura },
    'the send names the signed-in radiologist',
  );
  for (const r of (await n.n.node.audit.list()).filter(
    (x) => x.action === 'query' && x.description.startsWith('timeline'),
  )) {
    // Asked in the workspace, by the radiologist; or through the virtual PACS, where the PACS is all that is known.
    const expected = r.accessPoint.aeTitle === 'BB_PRIORS' ? 'dicom:PACS_NOORD' : radiologistAt(n).id;
    assert.equal(r.user.id, expected, 'the timeline question names who asked');
  }

  // DICOMweb at Noord, which now holds the study: a viewer searches and retrieves it in the radiologist's name.
  const dicomweb = async (path: string): Promise<Answer> => {
    const a = await asRadiologist('GET', `/dicomweb${path}`);
    assert.equal(a.status, 200, `${path}: ${String(a.body).slice(0, 200)}`);
    return a;
  };
  const firstOf = (a: Answer): Record<string, { Value?: string[] }> =>
    (JSON.parse(String(a.body)) as Record<string, { Value?: string[] }>[])[0] ?? {};
  let seriesUid = '';
  let instanceUid = '';
  await step(
    async () => {
      await dicomweb(`/studies?PatientID=${p.bsn}`);
      seriesUid = firstOf(await dicomweb(`/studies/${study}/series`))['0020000E']?.Value?.[0] ?? '';
      await dicomweb(`/series?StudyInstanceUID=${study}`);
      instanceUid =
        firstOf(await dicomweb(`/studies/${study}/series/${seriesUid}/instances`))['00080018']?.Value?.[0] ?? '';
      await dicomweb(`/studies/${study}/instances`);
      await dicomweb(`/instances?StudyInstanceUID=${study}`);
    },
    {
      'GET /dicomweb/studies': { at: n, action: 'query', match: /^QIDO-RS study search/, objects: true },
      'GET /dicomweb/studies/:study/series': { at: n, action: 'query', match: /^QIDO-RS series search/, objects: true },
      'GET /dicomweb/series': { at: n, action: 'query', match: /^QIDO-RS series search/, objects: true },
      'GET /dicomweb/studies/:study/series/:series/instances': {
        at: n,
        action: 'query',
        match: /^QIDO-RS instance search/,
        objects: true,
      },
      'GET /dicomweb/studies/:study/instances': {
        at: n,
        action: 'query',
        match: /^QIDO-RS instance search/,
        objects: true,
      },
      'GET /dicomweb/instances': { at: n, action: 'query', match: /^QIDO-RS instance search/, objects: true },
    },
  );
  await step(
    async () => {
      await dicomweb(`/studies/${study}`);
      await dicomweb(`/studies/${study}/series/${seriesUid}`);
      await dicomweb(`/studies/${study}/series/${seriesUid}/instances/${instanceUid}`);
      await dicomweb(`/studies/${study}/series/${seriesUid}/instances/${instanceUid}/frames/1`);
      // The frames' record covers the radiologist's further viewing of the series; the laborant's is her own.
      const bulk = await laborant.call(
        'GET',
        `/dicomweb/studies/${study}/series/${seriesUid}/instances/${instanceUid}/bulk/7FE00010`,
      );
      assert.equal(bulk.status, 200);
    },
    {
      'GET /dicomweb/studies/:study': { at: n, action: 'retrieve', match: /^WADO-RS: /, objects: true },
      'GET /dicomweb/studies/:study/series/:series': { at: n, action: 'retrieve', match: /^WADO-RS: /, objects: true },
      'GET /dicomweb/studies/:study/series/:series/instances/:instance': {
        at: n,
        action: 'retrieve',
        match: /^WADO-RS: 1 instances/,
        objects: true,
      },
      'GET /dicomweb/studies/:study/series/:series/instances/:instance/frames/:frames': {
        at: n,
        action: 'retrieve',
        match: /^WADO-RS frames 1: 1 instances/,
        objects: true,
      },
      'GET /dicomweb/studies/:study/series/:series/instances/:instance/bulk/*': {
        at: n,
        action: 'retrieve',
        match: /^WADO-RS bulk data 7FE00010: 1 instances/,
        objects: true,
      },
    },
  );
  await step(
    async () => {
      await dicomweb(`/studies/${study}/metadata`);
      await dicomweb(`/studies/${study}/series/${seriesUid}/metadata`);
      await dicomweb(`/studies/${study}/series/${seriesUid}/instances/${instanceUid}/metadata`);
    },
    {
      'GET /dicomweb/studies/:study/metadata': { at: n, action: 'retrieve', match: /^WADO-RS metadata/, objects: true },
      'GET /dicomweb/studies/:study/series/:series/metadata': {
        at: n,
        action: 'retrieve',
        match: /^WADO-RS metadata/,
        objects: true,
      },
      'GET /dicomweb/studies/:study/series/:series/instances/:instance/metadata': {
        at: n,
        action: 'retrieve',
        match: /^WADO-RS metadata: 1 instances/,
        objects: true,
      },
    },
  );

  // Rendered images and thumbnails: what the workspace's study list and a browser show, recorded like any retrieval.
  await step(
    async () => {
      const instance = `/studies/${study}/series/${seriesUid}/instances/${instanceUid}`;
      await dicomweb(`${instance}/rendered`);
      await dicomweb(`${instance}/frames/1/rendered`);
      await dicomweb(`${instance}/thumbnail`);
      await dicomweb(`/studies/${study}/series/${seriesUid}/thumbnail`);
      await dicomweb(`/studies/${study}/thumbnail`);
    },
    Object.fromEntries(
      [
        ['/rendered', /^WADO-RS rendered: 1 instances/],
        ['/frames/:frames/rendered', /^WADO-RS rendered frame 1: 1 instances/],
        ['/thumbnail', /^WADO-RS thumbnail: 1 instances/],
      ]
        .map(([tail, match]) => [
          `GET /dicomweb/studies/:study/series/:series/instances/:instance${String(tail)}`,
          match,
        ])
        .concat([
          ['GET /dicomweb/studies/:study/series/:series/thumbnail', /^WADO-RS thumbnail: 1 instances/],
          ['GET /dicomweb/studies/:study/thumbnail', /^WADO-RS thumbnail: 1 instances/],
        ])
        .map(([route, match]) => [
          String(route),
          { at: n, action: 'retrieve' as const, match: match as RegExp, objects: true },
        ]),
    ),
  );

  // STOW-RS at Noord: the radiologist stores a study of the patient (from a CD, say) through DICOMweb.
  await step(
    async () => {
      const other = p.studies.find((s) => s.studyInstanceUid !== study);
      assert.ok(other !== undefined);
      const { body, contentType } = multipartOf([readFileSync(other.files[0] ?? '')]);
      const headers = { authorization: `Bearer ${radiologistAt(n).token}`, 'content-type': contentType };
      const a = await send(n.port, 'POST', '/dicomweb/studies', n.ca.certPem, undefined, body, headers);
      assert.equal(a.status, 200, String(a.body));
      // The same to that study's own resource: stored again (idempotent), and recorded again.
      const to = `/dicomweb/studies/${other.studyInstanceUid}`;
      const b = await send(n.port, 'POST', to, n.ca.certPem, undefined, body, headers);
      assert.equal(b.status, 200, String(b.body));
    },
    {
      'POST /dicomweb/studies': { at: n, action: 'receive', match: /^STOW-RS: study stored/, objects: true },
      'POST /dicomweb/studies/:study': { at: n, action: 'receive', match: /^STOW-RS: study stored/, objects: true },
    },
  );

  // The PACS from the workspace: a search shows the patient's study there, and it is fetched into the node.
  await step(
    async () => {
      const found = await asRadiologist('GET', `/api/v1/pacs/studies?patientId=${p.bsn}`);
      assert.equal(found.status, 200, found.body);
      const uid = p.studies[2]?.studyInstanceUid;
      assert.ok(
        (JSON.parse(found.body) as { studies: { studyInstanceUid: string }[] }).studies.some(
          (x) => x.studyInstanceUid === uid,
        ),
        found.body,
      );
      const fetched = await asRadiologist('POST', '/api/v1/pacs/retrievals', { studyInstanceUid: uid });
      assert.equal(fetched.status, 200, fetched.body);
    },
    {
      'GET /api/v1/pacs/studies': { at: n, action: 'query', match: /^PACS PACS_NOORD searched/, objects: true },
      'POST /api/v1/pacs/retrievals': {
        at: n,
        action: 'retrieve',
        match: /^study fetched from the PACS PACS_NOORD/,
        objects: true,
      },
    },
  );

  // The trail itself: reading it about a patient is a record about that patient.
  await step(
    async () => {
      const a = await send(
        n.port,
        'GET',
        `/api/v1/audit?bsn=${p.bsn}&purpose=${encodeURIComponent('patient asked who saw his data')}`,
        n.ca.certPem,
        undefined,
        undefined,
        { authorization: `Bearer ${token}` },
      );
      assert.equal(a.status, 200, String(a.body));
    },
    { 'GET /api/v1/audit': { at: n, action: 'audit-read', match: /^audit trail read/, objects: false } },
  );
  // Verifying the chain shows no patient data, but it is an auditor's act on the trail: recorded, with its outcome.
  const verified = await send(n.port, 'GET', '/api/v1/audit/verification', n.ca.certPem, undefined, undefined, {
    authorization: `Bearer ${token}`,
  });
  assert.equal(verified.status, 200, String(verified.body));
  const v = JSON.parse(String(verified.body)) as { intact: boolean; records: number };
  assert.equal(v.intact, true);
  assert.ok(v.records > 10, `${v.records} records verified`);
  assert.match(
    (await n.n.node.audit.list({ action: 'audit-read' })).at(-1)?.description ?? '',
    new RegExp(`^audit chain verified: intact, ${v.records} records$`),
  );

  // Every route of the router is either driven above or named as free of patient data, and nothing else.
  const inventory = (n.n.node.https?.routes ?? []).map((r) => `${r.method} ${r.url}`).sort();
  assert.deepEqual([...checked, ...Object.keys(noPatientData)].sort(), inventory, 'every route is accounted for');

  // The partner's upload batches each left one record; the count follows the study, not the requests made by this test.
  assert.ok((seen.get('POST /exchange/v1/transfers/:transferId/instances') ?? 0) >= 1);
  assert.deepEqual(
    await n.n.node.audit.verify(),
    { ok: true, records: (await n.n.node.audit.list()).length },
    'and the chain is intact',
  );

  // When the trail cannot be written (here another process holds its write lock past the busy timeout), a request on
  // patient data fails and shows nothing.
  const holder = new DatabaseSync(join(config.dataDir, 'audit.sqlite'));
  holder.exec('BEGIN IMMEDIATE');
  try {
    const answers = await Promise.all([
      own('GET', '/api/v1/inbox'),
      call(n.port, 'GET', `/exchange/v1/transfers/${transferId}`, n.ca.certPem, m.own),
      send(n.port, 'GET', `/api/v1/audit?bsn=${p.bsn}`, n.ca.certPem, undefined, undefined, {
        authorization: `Bearer ${token}`,
      }),
    ]);
    for (const a of answers) {
      assert.equal(a.status, 500, a.body);
      assert.doesNotMatch(a.body, new RegExp(`${p.bsn}|${study}`), 'nothing of the patient in the failure');
    }
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
  assert.equal(
    (await own('GET', '/api/v1/inbox')).status,
    200,
    'and once the trail is writable again, the route answers',
  );
});

/** The routes of a share's viewer (share-view-routes.ts), each expected to leave the viewing's record. */
function sharedViewerRoutes<E>(root: string, expected: E): Record<string, E> {
  const paths = [
    '/studies',
    '/studies/:study/series',
    '/studies/:study/series/:series/instances',
    '/studies/:study/series/:series/metadata',
    '/studies/:study/series/:series/instances/:instance/metadata',
    '/studies/:study/series/:series/instances/:instance/frames/:frames',
    '/studies/:study/series/:series/thumbnail',
  ];
  return Object.fromEntries(paths.map((p) => [`GET ${root}${p}`, expected]));
}

/** Walks a share's viewer as the web app does: the study, its series, their instances, metadata, a frame, a thumbnail. */
async function driveSharedViewer(get: (path: string) => Promise<Reply>, root: string): Promise<void> {
  const json = async (path: string): Promise<Record<string, { Value?: unknown[] }>[]> => {
    const r = await get(`${root}${path}`);
    assert.equal(r.status, 200, `${path}: ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as Record<string, { Value?: unknown[] }>[];
  };
  const uid = (j: Record<string, { Value?: unknown[] }> | undefined, tag: string): string =>
    String(j?.[tag]?.Value?.[0]);
  const study = uid((await json('/studies'))[0], '0020000D');
  const series = uid((await json(`/studies/${study}/series`))[0], '0020000E');
  const instance = uid((await json(`/studies/${study}/series/${series}/instances`))[0], '00080018');
  await json(`/studies/${study}/series/${series}/metadata`);
  await json(`/studies/${study}/series/${series}/instances/${instance}/metadata`);
  for (const path of [`/instances/${instance}/frames/1`, '/thumbnail']) {
    const r = await get(`${root}/studies/${study}/series/${series}${path}`);
    assert.equal(r.status, 200, `${path}: ${r.body.slice(0, 300)}`);
  }
}
