import { request as httpRequest } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import type { Config } from '../config/index.ts';
import { Dataset, SopClass, Tag, TransferSyntax, writeDataset } from '../dicom/index.ts';
import { Association, DimseProtocolError } from '../dimse/index.ts';
import { objectStorageProblem } from '../store/index.ts';
import { openAccounts } from './accounts.ts';
import { auditTrailLocation, openAuditTrail } from './audit-trail.ts';
import { insecureSettings, isLoopback } from './secure-defaults.ts';
import { insecureFiles, ownCertificates } from './insecure-files.ts';

export type FindingLevel = 'critical' | 'warning' | 'ok';

/** One thing `beeldbrug doctor` found, and what to do about it. */
export interface Finding {
  level: FindingLevel;
  /** What was looked at: a configuration key, a port, a PACS. */
  subject: string;
  finding: string;
  fix?: string;
}

/** The AE title the probes call from: on no allow-list, as a stranger on the network would be. */
export const PROBE_AE_TITLE = 'BB_DOCTOR_PROBE';
const CONNECT_MS = 3000;
/** A certificate renewal through the hospital's PKI (UZI) takes weeks; warn well before. */
const RENEW_WITHIN_DAYS = 30;

/** Web ports the scans found PACS viewers and admin consoles on (Orthanc 8042, dcm4chee and others 8080), plain HTTP. */
const WEB_PORTS = [8042, 8080];
/** Factory credentials of common PACS web consoles; a PACS that accepts one of them is open to anyone who reads a manual. */
const DEFAULT_CREDENTIALS = [
  ['orthanc', 'orthanc'],
  ['admin', 'admin'],
  ['admin', 'password'],
] as const;

type Probe =
  | { outcome: 'accepted'; association: Association }
  | { outcome: 'rejected'; why: string }
  | { outcome: 'unreachable'; why: string };

async function associate(host: string, port: number, calledAeTitle: string, sopClass: string): Promise<Probe> {
  try {
    const association = await Association.connect({
      host,
      port,
      callingAeTitle: PROBE_AE_TITLE,
      calledAeTitle,
      // Explicit VR only: the C-FIND identifier is written in it, so the PACS must not pick another.
      presentationContexts: [{ abstractSyntax: sopClass, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }],
      timeouts: { connectMs: CONNECT_MS, responseMs: CONNECT_MS },
    });
    return { outcome: 'accepted', association };
  } catch (err) {
    const code = err instanceof DimseProtocolError ? err.code : '';
    if (code === 'CONNECT_FAILED' || code === 'TIMEOUT') return { outcome: 'unreachable', why: (err as Error).message };
    return { outcome: 'rejected', why: (err as Error).message };
  }
}

/** Studies a stranger sees with a study-level C-FIND on everything: counted, never shown. */
async function strangerFind(a: Association): Promise<number | undefined> {
  const query = new Dataset()
    .set(Tag.QueryRetrieveLevel, 'CS', 'STUDY')
    .set(Tag.PatientName, 'PN', '*')
    .set(Tag.StudyInstanceUID, 'UI', '');
  let count = 0;
  try {
    for await (const _ of a.find(
      SopClass.StudyRootQueryRetrieveFind,
      writeDataset(query, TransferSyntax.ExplicitVRLittleEndian),
    ))
      count++;
    return count;
  } catch {
    return count > 0 ? count : undefined;
  }
}

/** How a plain HTTP GET with optional basic credentials is answered: the status, or undefined when nothing answers. */
function httpStatus(
  host: string,
  port: number,
  path: string,
  credentials?: readonly [string, string],
): Promise<number | undefined> {
  return new Promise((resolve) => {
    const headers: Record<string, string> =
      credentials !== undefined
        ? { authorization: `Basic ${Buffer.from(credentials.join(':')).toString('base64')}` }
        : {};
    const req = httpRequest({ host, port, path, method: 'GET', headers, timeout: CONNECT_MS, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Whether a port answers a TLS handshake at all (any certificate): a TLS-only port must not answer plain DICOM or HTTP. */
function speaksTls(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host, port, rejectUnauthorized: false, timeout: CONNECT_MS });
    s.once('secureConnect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

/** Where to reach a listener from this machine: a wildcard address is reached on loopback. */
function reachable(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

async function configurationFindings(config: Readonly<Config>): Promise<Finding[]> {
  let admins: number;
  const findings: Finding[] = [];
  try {
    const accounts = await openAccounts(config);
    admins = await accounts.count('admin');
    await accounts.close();
  } catch (err) {
    // The accounts cannot be counted without the store key; the rest of the configuration is checked all the same.
    findings.push({
      level: 'critical',
      subject: 'accounts',
      finding: `${(err as Error).message} (the node refuses to start)`,
      fix: 'see the message; `beeldbrug start` stops with the same one',
    });
    admins = 1;
  }
  const insecure = [...insecureSettings(config, { admins }), ...insecureFiles(config)];
  findings.push(
    ...insecure.map((s): Finding => ({
      level: 'critical',
      subject: s.key,
      finding: `${s.problem} (the node refuses to start)`,
      fix: s.fix,
    })),
  );
  const now = Date.now();
  for (const c of ownCertificates(config)) {
    const days = Math.floor((c.validTo.getTime() - now) / 86_400_000);
    if (days >= 0 && days < RENEW_WITHIN_DAYS) {
      findings.push({
        level: 'warning',
        subject: c.key,
        finding: `this node's certificate ${c.certFile} expires on ${c.validTo.toISOString().slice(0, 10)}, in ${days} days`,
        fix: 'renew it now: on that day partners and peers refuse it and the node will not start',
      });
    }
  }
  for (const [i, l] of config.dimse.listeners.entries()) {
    if (l.plainDicom !== undefined && !isLoopback(l.host)) {
      findings.push({
        level: 'warning',
        subject: `dimse.listeners[${i}]`,
        finding: `plain DICOM on ${l.host}:${l.port}, on purpose: ${l.plainDicom.reason}`,
        fix: 'keep that network closed to everything but the modalities named; move them to the TLS port when they can',
      });
    }
  }
  for (const p of config.dimse.peers) {
    if (p.port !== undefined && !p.tls && !isLoopback(p.host)) {
      findings.push({
        level: 'warning',
        subject: `dimse.peers ${p.aeTitle}`,
        finding: `this node talks to ${p.aeTitle} at ${p.host}:${p.port} over plain DICOM`,
        fix: 'switch on DICOM TLS at that peer and set tls: true',
      });
    }
  }
  const tlsListener = config.dimse.listeners.some((l) => l.tls !== undefined);
  for (const p of config.dimse.peers) {
    if (p.certificate === undefined && (p.tls || tlsListener)) {
      findings.push({
        level: 'warning',
        subject: `dimse.peers ${p.aeTitle}`,
        finding: `over DICOM TLS, any certificate of our own organization (URA ${config.node.organization.ura}) stands for ${p.aeTitle}`,
        fix: `bind it to its own certificate: dimse.peers[].certificate with its ura, subject or sha256 (openssl x509 -noout -fingerprint -sha256 -in its.crt)`,
      });
    }
  }
  if (findings.length === 0)
    findings.push({ level: 'ok', subject: 'configuration', finding: 'no insecure setting found' });
  return findings;
}

/**
 * The audit trail as `beeldbrug audit verify` checks it: the chain intact, and reaching the witness of its newest
 * record kept outside the file. A broken trail stops the node at start; doctor says so before the next restart does.
 */
async function auditFindings(config: Readonly<Config>): Promise<Finding[]> {
  const subject = 'audit trail';
  let trail;
  try {
    trail = await openAuditTrail(config, { forVerify: true });
  } catch (err) {
    return [{ level: 'critical', subject, finding: `cannot be opened: ${(err as Error).message}` }];
  }
  try {
    const v = await trail.verify();
    if (!v.ok)
      return [
        {
          level: 'critical',
          subject,
          finding: `broken at record ${v.firstBadSequence}: ${v.problem}`,
          fix: 'run beeldbrug audit verify, find out what changed the file, and compare with the copy the audit repository (ATNA) holds',
        },
      ];
    const problem = trail.witnessProblem;
    if (problem !== undefined)
      return [
        {
          level: 'critical',
          subject,
          finding: `${problem} (the node refuses to start)`,
          fix: 'find out why (a restore from an older backup?); then beeldbrug audit accept-head --reason "..." records the gap',
        },
      ];
    return [
      {
        level: 'ok',
        subject,
        finding: `intact: ${v.records} records ${auditTrailLocation(config)}, up to the witness of the newest`,
      },
    ];
  } finally {
    await trail.close();
  }
}

async function ownDimseFindings(config: Readonly<Config>): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [i, l] of config.dimse.listeners.entries()) {
    const subject = `dimse.listeners[${i}] ${l.host}:${l.port}`;
    const host = reachable(l.host);
    if (l.tls !== undefined) {
      // A TLS port must not take a plain association; a plain attempt there fails at the handshake or is dropped.
      const plain = await associate(host, l.port, config.dimse.aeTitle, SopClass.Verification);
      if (plain.outcome === 'accepted') {
        await plain.association.release().catch(() => undefined);
        findings.push({
          level: 'critical',
          subject,
          finding: 'a TLS port took a plain DICOM association',
          fix: 'report this as a bug; meanwhile close the port to the network',
        });
      } else if (plain.outcome === 'unreachable') {
        findings.push({ level: 'warning', subject, finding: `not reachable (${plain.why}); is the node running?` });
      } else {
        findings.push({ level: 'ok', subject, finding: 'plain DICOM refused on the TLS port' });
      }
      continue;
    }
    const echo = await associate(host, l.port, config.dimse.aeTitle, SopClass.Verification);
    if (echo.outcome === 'unreachable') {
      findings.push({ level: 'warning', subject, finding: `not reachable (${echo.why}); is the node running?` });
    } else if (echo.outcome === 'accepted') {
      await echo.association.release().catch(() => undefined);
      findings.push({
        level: 'critical',
        subject,
        finding: `an association from ${PROBE_AE_TITLE}, an AE title on no allow-list, was accepted`,
        fix: 'report this as a bug: the node answers only dimse.peers',
      });
    } else {
      findings.push({
        level: 'ok',
        subject,
        finding: `an unknown AE title (${PROBE_AE_TITLE}) is refused at association`,
      });
    }
  }
  return findings;
}

async function ownHttpsFindings(config: Readonly<Config>): Promise<Finding[]> {
  const e = config.exchange;
  if (e === undefined) return [];
  const host = reachable(e.listen.host);
  const subject = `exchange.listen ${e.listen.host}:${e.listen.port}`;
  if (!(await speaksTls(host, e.listen.port)))
    return [{ level: 'warning', subject, finding: 'no TLS answer; is the node running?' }];
  const plain = await httpStatus(host, e.listen.port, '/health');
  if (plain !== undefined)
    return [
      {
        level: 'critical',
        subject,
        finding: `answered plain HTTP (status ${plain})`,
        fix: 'report this as a bug: the listener speaks HTTPS only',
      },
    ];
  return [{ level: 'ok', subject, finding: 'HTTPS only; plain HTTP gets no answer' }];
}

/**
 * Probes a PACS the way the 2019-2025 scans did: an association from a stranger's AE title, a called AE title that is
 * not the PACS's, a C-FIND for every study, plain DICOM across the network, and its web console on the usual ports
 * without and with factory credentials.
 */
async function pacsFindings(peer: Readonly<Config['dimse']['peers'][number]> & { port: number }): Promise<Finding[]> {
  const subject = `PACS ${peer.aeTitle} ${peer.host}:${peer.port}`;
  const findings: Finding[] = [];
  if (peer.tls) {
    if (!(await speaksTls(peer.host, peer.port)))
      return [
        { level: 'warning', subject, finding: 'no TLS answer; is the PACS running, and is this its DICOM TLS port?' },
      ];
    findings.push({ level: 'ok', subject, finding: 'answers DICOM TLS; the plain-DICOM probes do not apply' });
  } else {
    const stranger = await associate(peer.host, peer.port, peer.aeTitle, SopClass.StudyRootQueryRetrieveFind);
    if (stranger.outcome === 'unreachable')
      return [{ level: 'warning', subject, finding: `not reachable (${stranger.why})` }];
    if (stranger.outcome === 'accepted') {
      findings.push({
        level: 'critical',
        subject,
        finding: `accepts an association from ${PROBE_AE_TITLE}, an AE title it cannot know (the calling AE title is not checked)`,
        fix: 'allow only known AE title + host pairs in the PACS (Orthanc: DicomCheckModalityHost true, DicomAlwaysAllowFind/Store/Move false, known modalities only)',
      });
      const studies = await strangerFind(stranger.association);
      await stranger.association.release().catch(() => undefined);
      if (studies !== undefined && studies > 0) {
        findings.push({
          level: 'critical',
          subject,
          finding: `answers a C-FIND from that stranger: ${studies} studies visible, with patient names`,
          fix: 'refuse C-FIND from AE titles that are not configured',
        });
      }
    } else {
      findings.push({
        level: 'ok',
        subject,
        finding: `refuses an association from the unknown AE title ${PROBE_AE_TITLE}`,
      });
    }
    const wrongCalled = await associate(peer.host, peer.port, 'NOT_THE_PACS', SopClass.Verification);
    if (wrongCalled.outcome === 'accepted') {
      await wrongCalled.association.release().catch(() => undefined);
      findings.push({
        level: 'warning',
        subject,
        finding: 'accepts an association addressed to any called AE title',
        fix: 'check the called AE title (Orthanc: DicomCheckCalledAet true)',
      });
    }
    if (!isLoopback(peer.host)) {
      findings.push({
        level: 'warning',
        subject,
        finding: 'DICOM without TLS on a network interface',
        fix: 'switch on DICOM TLS at the PACS (BCP 195) and set tls: true for this peer',
      });
    }
  }
  const webs =
    peer.web !== undefined ? [new URL(peer.web)] : WEB_PORTS.map((port) => new URL(`http://${peer.host}:${port}/`));
  for (const url of webs) {
    if (url.protocol === 'https:') {
      findings.push({
        level: 'ok',
        subject: `${subject}: web ${url.href}`,
        finding: 'served over HTTPS; the credential probes run over plain HTTP only',
      });
      continue;
    }
    const port = Number(url.port || 80);
    const open = await httpStatus(url.hostname, port, url.pathname);
    if (open === undefined) continue;
    const web = `${subject}: web ${url.href}`;
    if (open >= 200 && open < 400) {
      findings.push({
        level: 'critical',
        subject: web,
        finding: `answers without credentials (status ${open}), over plain HTTP`,
        fix: 'switch on authentication and TLS for the web interface, or close the port',
      });
      continue;
    }
    const accepted = [];
    for (const c of DEFAULT_CREDENTIALS) {
      const s = await httpStatus(url.hostname, port, url.pathname, c);
      if (s !== undefined && s >= 200 && s < 400) accepted.push(c.join('/'));
    }
    if (accepted.length > 0)
      findings.push({
        level: 'critical',
        subject: web,
        finding: `accepts factory credentials (${accepted.join(', ')})`,
        fix: 'change the default password; better, sign-in through the hospital identity provider',
      });
    findings.push({
      level: 'warning',
      subject: web,
      finding: 'a web interface over plain HTTP: passwords and images cross the network readable',
      fix: 'serve it over HTTPS only',
    });
  }
  return findings;
}

/** Where the instance files are: the data folder, or object storage the node must be able to reach. */
async function objectStorageFindings(config: Readonly<Config>): Promise<Finding[]> {
  const objects = config.store.objects;
  if (objects === undefined) return [];
  const subject = 'store.objects';
  const where = `bucket ${objects.bucket} at ${objects.endpoint}`;
  const problem = await objectStorageProblem(objects);
  if (problem !== undefined)
    return [
      {
        level: 'critical',
        subject,
        finding: `the ${where} cannot be used (${problem}); the node does not start`,
        fix: 'check the endpoint, that the bucket exists, and the keys in accessKeyFile and secretKeyFile',
      },
    ];
  return [{ level: 'ok', subject, finding: `instance files in the ${where}, encrypted by the node before upload` }];
}

/** Every check, in the order an administrator fixes things: the configuration, this node's ports, then each PACS. */
export async function runDoctor(config: Readonly<Config>): Promise<Finding[]> {
  const findings = [
    ...(await configurationFindings(config)),
    ...(await auditFindings(config)),
    ...(await objectStorageFindings(config)),
    ...(await ownDimseFindings(config)),
    ...(await ownHttpsFindings(config)),
  ];
  for (const peer of config.dimse.peers) {
    if (peer.port !== undefined) findings.push(...(await pacsFindings({ ...peer, port: peer.port })));
  }
  return findings;
}
