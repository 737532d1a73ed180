import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { type Config, loadConfig, loadRegistryConfig } from '../config/index.ts';
import { HttpsRegistryClient, readNetworkKeyFile, type RunningRegistry, startRegistry } from '../registry/index.ts';
import { initRegistry, writeNetworkKey } from './registry-command.ts';
import { CONFIG_FILE_NAME, REGISTRY_CONFIG_FILE_NAME } from './command-line.ts';
import { formatTimeline } from './timeline-command.ts';
import { createLogger } from '../log/index.ts';
import { openAccounts, type RunningNode, startNode } from '../node/index.ts';
import { addUserFromCli, type UserAddOptions } from './user-command.ts';
import { synthesize } from '../synth/index.ts';
import { initNode } from './init-command.ts';
import { makeCa, makeNodeCertificate } from './pki-command.ts';
import { sendStudy } from '../exchange/index.ts';
import { Dataset, Tag } from '../dicom/index.ts';
import { readTlsFiles } from '../node/index.ts';
import { silentLogger } from '../log/index.ts';
import { untilSignal } from './signals.ts';
import { NodeApiClient } from './node-api-client.ts';
import { totpCode, totpStep } from '../auth/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { orthancBinary, type OrthancPacs, startOrthanc } from './orthanc-pacs.ts';
import { type DemoMailAndSms, startDemoMailAndSms } from './demo-mail-sms.ts';

/** The DCMTK tools a visitor uses to try the demo; it is on every node's allow-list. */
const VISITOR_AE = 'DEMO_SCU';
/** The AE title under which a node is the other hospitals' archive for its own PACS (the virtual PACS). */
const priorsTitle = (h: { aeTitle: string }): string => `${h.aeTitle}_PRIORS`;

const hospitals = [
  { aeTitle: 'NOORD', name: 'Ziekenhuis Noord', ura: '10000001' },
  { aeTitle: 'MIDDEN', name: 'Ziekenhuis Midden', ura: '10000002' },
  { aeTitle: 'ZUID', name: 'Ziekenhuis Zuid', ura: '10000003' },
] as const;

export interface DemoOptions {
  dir: string;
  basePort: number;
  patients: number;
  exitWhenReady: boolean;
}

/** The AE title under which a hospital's PACS reaches a partner through its node ("send to" menu). */
const sendToTitle = (h: (typeof hospitals)[number]): string => `NAAR_${h.aeTitle}`;

interface DemoHospital {
  hospital: (typeof hospitals)[number];
  port: number;
  node: RunningNode;
  pacs: OrthancPacs | undefined;
}

/**
 * Starts the demo network. Each hospital has its own PACS, an Orthanc when it is installed (else the node's own store
 * stands in for it), holding that hospital's synthetic patients; on first start Noord's PACS sends a study to Midden.
 */
export async function runDemo(o: DemoOptions): Promise<void> {
  const visitorPort = o.basePort + 10;
  const exchangePort = (i: number): number => o.basePort + 20 + i;
  const pacsPorts = (i: number): { dicom: number; http: number } => ({
    dicom: o.basePort + 30 + i,
    http: o.basePort + 40 + i,
  });
  const registryPort = o.basePort + 50;
  const withOrthanc = orthancBinary() !== undefined;
  const caDir = join(o.dir, 'pki', 'ca');
  if (!existsSync(join(caDir, 'ca.crt'))) makeCa(caDir, 'Beeldbrug demo CA');
  const networkKeyFile = join(o.dir, 'pki', 'network.key');
  if (!existsSync(networkKeyFile)) writeNetworkKey(networkKeyFile);
  let firstStart = false;
  const nodes: DemoHospital[] = [];
  let radiologist: { password: string; secret: string } | undefined;
  const pacses: OrthancPacs[] = [];
  let registry: RunningRegistry | undefined;
  let mailAndSms: DemoMailAndSms | undefined;
  const stopAll = async (): Promise<void> => {
    for (const { node } of nodes.reverse()) await node.close();
    for (const p of pacses) await p.stop();
    await registry?.close();
    await mailAndSms?.close();
  };
  try {
    registry = await startDemoRegistry(join(o.dir, 'registry'), caDir, registryPort);
    // Noord shares studies with patients: its mail server and SMS gateway are stand-ins that write to files.
    const servicesDir = join(o.dir, 'mail-and-sms');
    const servicesTls = join(o.dir, 'pki', 'services');
    if (!existsSync(join(servicesTls, 'node.crt')))
      makeNodeCertificate(caDir, servicesTls, {
        commonName: 'mail-and-sms.demo',
        organization: 'Demo mail and SMS',
        ura: '99999999',
        hosts: ['127.0.0.1'],
      });
    mailAndSms = await startDemoMailAndSms({
      dir: servicesDir,
      smtpPort: o.basePort + 60,
      smsPort: o.basePort + 61,
      tls: { certPath: join(servicesTls, 'node.crt'), keyPath: join(servicesTls, 'node.key') },
      caPath: join(caDir, 'ca.crt'),
    });
    for (const [i, hospital] of hospitals.entries()) {
      const dir = join(o.dir, hospital.aeTitle.toLowerCase());
      const port = o.basePort + i;
      const fresh = !existsSync(join(dir, CONFIG_FILE_NAME));
      const pacsAe = `PACS_${hospital.aeTitle}`;
      const others = hospitals.filter((_, j) => j !== i);
      let pacs: OrthancPacs | undefined;
      if (withOrthanc) {
        pacs = await startDemoPacs(join(dir, 'pacs'), pacsAe, pacsPorts(i), {
          beeldbrug: { aeTitle: hospital.aeTitle, host: '127.0.0.1', port },
          priors: { aeTitle: priorsTitle(hospital), host: '127.0.0.1', port },
          visitor: { aeTitle: VISITOR_AE, host: '127.0.0.1', port: visitorPort },
          ...Object.fromEntries(
            others.map((h) => [sendToTitle(h).toLowerCase(), { aeTitle: sendToTitle(h), host: '127.0.0.1', port }]),
          ),
        });
        pacses.push(pacs);
      }
      if (fresh) {
        initNode(dir, {
          nodeName: hospital.name,
          organizationName: hospital.name,
          ura: hospital.ura,
          aeTitle: hospital.aeTitle,
          dimsePort: port,
          peers: [
            {
              aeTitle: VISITOR_AE,
              host: '127.0.0.1',
              port: visitorPort,
              description: 'you, with DCMTK (storescp on this port for C-MOVE)',
            },
            ...hospitals
              .map((h, j) => ({ h, j }))
              .filter(({ j }) => j !== i)
              .map(({ h, j }) => ({
                aeTitle: h.aeTitle,
                host: '127.0.0.1',
                port: o.basePort + j,
                description: `demo node ${h.name}`,
              })),
            ...(pacs !== undefined
              ? [
                  {
                    aeTitle: pacsAe,
                    host: '127.0.0.1',
                    port: pacs.dicomPort,
                    description: `${hospital.name} PACS (Orthanc)`,
                  },
                ]
              : []),
          ],
        });
      }
      if (fresh) {
        firstStart = true;
        // Node-to-node exchange: a certificate from the demo CA, and the other two hospitals as trusted partners.
        makeNodeCertificate(caDir, join(dir, 'keys'), {
          commonName: `${hospital.aeTitle.toLowerCase()}.demo`,
          organization: hospital.name,
          ura: hospital.ura,
          hosts: ['localhost', '127.0.0.1'],
        });
        const partners = hospitals
          .map((h, j) => ({ h, j }))
          .filter(({ j }) => j !== i)
          .map(
            ({ h, j }) =>
              `    - { ura: "${h.ura}", name: "${h.name}", baseUrl: "https://127.0.0.1:${exchangePort(j)}", aeTitle: ${sendToTitle(h)} }\n`,
          )
          .join('');
        // With a PACS: arriving studies go into it, and a study to send is fetched from it when the node lacks it.
        const withPacs =
          pacs !== undefined
            ? `  routing:\n    - { action: forward, destination: ${pacsAe} }\n  fetchFrom: { aeTitle: ${pacsAe}, method: c-move }\n`
            : '';
        appendFileSync(
          join(dir, CONFIG_FILE_NAME),
          `\nexchange:\n  listen: { host: 127.0.0.1, port: ${exchangePort(i)} }\n  tls: { certFile: ./keys/node.crt, keyFile: ./keys/node.key, caFile: ./keys/ca.crt }\n  partners:\n${partners}${withPacs}`,
        );
        // Noord shares studies with patients; the demo catches the e-mails and SMS messages in files.
        if (i === 0)
          appendFileSync(
            join(dir, CONFIG_FILE_NAME),
            `\n${stringifyYaml({
              share: {
                ...mailAndSms.shareConfig(`https://127.0.0.1:${exchangePort(i)}`),
                // Partner accounts reach their folders over SFTP too.
                sftp: { host: '127.0.0.1', port: o.basePort + 62 },
              },
            })}`,
          );
      }
      // Every node registers its patients with the region's registry and asks it before answering a timeline question.
      if (!readFileSync(join(dir, CONFIG_FILE_NAME), 'utf8').includes('\nregistry:')) {
        appendFileSync(
          join(dir, CONFIG_FILE_NAME),
          `\nregistry:\n  baseUrl: https://127.0.0.1:${registryPort}\n  networkKeyFile: ../pki/network.key\n`,
        );
      }
      // The PACS (and you, with DCMTK) see the other hospitals' studies under a second AE title of the node.
      if (!readFileSync(join(dir, CONFIG_FILE_NAME), 'utf8').includes('\ntimeline:')) {
        appendFileSync(
          join(dir, CONFIG_FILE_NAME),
          `\n${stringifyYaml({
            timeline: {
              externalAe: {
                aeTitle: priorsTitle(hospital),
                callers: [...(pacs !== undefined ? [pacsAe] : []), VISITOR_AE],
              },
            },
          })}`,
        );
      }
      const config = loadConfig(join(dir, CONFIG_FILE_NAME));
      await demoAdmin(config, join(dir, 'admin-credentials.txt'));
      // Noord's radiologist: who signs in to send and to ask the timeline (the person comes from sign-in, never a flag).
      if (i === 0) radiologist = await demoPerson(config, join(dir, 'radiologist-credentials.txt'), DEMO_RADIOLOGIST);
      // And a partner clinic with its own download and upload folders, on the web and over SFTP.
      if (i === 0) await demoPerson(config, join(dir, 'partner-credentials.txt'), DEMO_PARTNER);
      const logger = createLogger({
        level: config.log.level,
        name: config.node.name,
        destination: createWriteStream(join(dir, 'node.log'), { flags: 'a' }),
      });
      const node = await startNode(config, logger);
      nodes.push({ hospital, port: node.dimsePorts[0] ?? port, node, pacs });
      if (fresh) await loadSyntheticPatients(pacs ?? node, join(dir, 'synth-import'), o.patients, i + 1);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  let pushed: string | undefined;
  let timelineText: string | undefined;
  let priorsText: string[] | undefined;
  let shareLink: string | undefined;
  const patientFile = join(o.dir, 'timeline-patient');
  try {
    if (firstStart) pushed = withOrthanc ? await pushFromPacs(nodes) : await demoPush(o.dir, nodes);
    if (firstStart || !existsSync(patientFile))
      writeFileSync(
        patientFile,
        await patientAtTwoHospitals(
          nodes,
          join(o.dir, 'timeline-import'),
          `https://127.0.0.1:${registryPort}`,
          networkKeyFile,
          (aeTitle) => join(o.dir, aeTitle.toLowerCase(), 'keys'),
        ),
      );
    const bsn = readFileSync(patientFile, 'utf8').trim();
    // Asked as a person would ask it: Noord's radiologist signs in over HTTPS and the node asks in their name.
    const noordHttps = nodes[0]?.node.https;
    const rad = radiologist;
    if (noordHttps !== undefined && rad !== undefined) {
      const api = { baseUrl: `https://127.0.0.1:${noordHttps.port}`, ca: readFileSync(join(caDir, 'ca.crt'), 'utf8') };
      const signIn = (offset: number) =>
        new NodeApiClient(api).signIn({
          username: DEMO_RADIOLOGIST.username,
          password: rad.password,
          code: totpCode(rad.secret, totpStep(new Date()) + offset),
        });
      // A demo started again within the same 30 s has used this step's code already; the next step's is accepted too.
      const { token } = await signIn(0).catch(() => signIn(1));
      const asRadiologist = new NodeApiClient({ ...api, token });
      timelineText = formatTimeline(await asRadiologist.timeline({ bsn, includeReports: false }));
      priorsText = await priorsInPacs(nodes[0], bsn);
      shareLink = await demoShare(asRadiologist, mailAndSms);
      await asRadiologist.signOut();
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const out: string[] = [
    `Beeldbrug demo network: ${nodes.length} hospitals, each a node${withOrthanc ? ' and its own PACS (Orthanc)' : ' (no Orthanc installed: the node stands in for the PACS)'}; data in ${o.dir}`,
    '',
  ];
  for (const { hospital, port, node, pacs } of nodes) {
    const s = await node.store.index.stats();
    out.push(
      `  ${hospital.aeTitle.padEnd(7)} ${hospital.name.padEnd(18)} DICOM 127.0.0.1:${port}  ${s.patients} patients, ${s.studies} studies, ${s.instances} instances${pacs !== undefined ? ' (node cache)' : ''}`,
    );
    if (pacs !== undefined) {
      const p = await pacs.rest<{ CountPatients: number; CountStudies: number; CountInstances: number }>(
        'GET',
        '/statistics',
      );
      out.push(
        `    ${pacs.aeTitle.padEnd(12)} Orthanc          DICOM 127.0.0.1:${pacs.dicomPort}  ${p.CountPatients} patients, ${p.CountStudies} studies, ${p.CountInstances} instances; web http://127.0.0.1:${pacs.httpPort} (user beeldbrug, password in ${join(o.dir, hospital.aeTitle.toLowerCase(), 'pacs', 'password')})`,
      );
    }
  }
  const first = nodes[0];
  if (first !== undefined) {
    const ae = first.hospital.aeTitle;
    out.push(
      '',
      `Try it with DCMTK. The nodes answer only AE titles on their allow-list; ${VISITOR_AE} from 127.0.0.1 is on it:`,
      `  echoscu -aet ${VISITOR_AE} -aec ${ae} 127.0.0.1 ${first.port}`,
      `  findscu -S -aet ${VISITOR_AE} -aec ${ae} -k QueryRetrieveLevel=STUDY -k PatientID -k PatientName -k StudyDate -k ModalitiesInStudy -k StudyInstanceUID 127.0.0.1 ${first.port}`,
      `  storescp --aetitle ${VISITOR_AE} ${visitorPort} &   # then, with a StudyInstanceUID from findscu:`,
      `  movescu -S -aet ${VISITOR_AE} -aec ${ae} -aem ${VISITOR_AE} -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=<uid> 127.0.0.1 ${first.port}`,
      `  getscu -S -aet ${VISITOR_AE} -aec ${ae} -k QueryRetrieveLevel=STUDY -k StudyInstanceUID=<uid> 127.0.0.1 ${first.port}`,
      `  echoscu -aet SOMEONE -aec ${ae} 127.0.0.1 ${first.port}   # refused: not on the allow-list`,
      '',
      ...(pushed !== undefined ? [`Push: ${pushed}`] : []),
      ...(timelineText !== undefined
        ? [
            '',
            `Timeline: the registry (https://127.0.0.1:${registryPort}) knows where the patient below is known and that the patient consented; Noord's radiologist sees:`,
            ...timelineText
              .trimEnd()
              .split('\n')
              .map((l) => `  ${l}`),
            `Ask it yourself, signed in as Noord's radiologist (user name, password and TOTP secret in ${join(o.dir, first.hospital.aeTitle.toLowerCase(), 'radiologist-credentials.txt')};`,
            '  the code comes from an authenticator app with that secret, or `oathtool --totp -b SECRET`):',
            `  bin/beeldbrug login --node https://127.0.0.1:${first.node.https?.port ?? 0} --ca ${join(caDir, 'ca.crt')} --username ${DEMO_RADIOLOGIST.username}`,
            `  bin/beeldbrug timeline ${readFileSync(patientFile, 'utf8').trim()}   # add --reports for the report texts, --retrieve <uid> to fetch a study into Noord`,
          ]
        : []),
      ...(priorsText !== undefined && first.pacs !== undefined
        ? [
            '',
            `Priors in the PACS: ${first.pacs.aeTitle} knows ${first.hospital.name}'s node as one more archive, DICOM modality "priors" (${priorsTitle(first.hospital)}).`,
            `Its query screen (web UI, Query/Retrieve, "priors", Patient ID ${readFileSync(patientFile, 'utf8').trim()}) lists the patient's studies elsewhere:`,
            ...priorsText.map((l) => `  ${l}`),
            '  "Retrieve" brings one over the exchange into the PACS. The same with DCMTK:',
            `  findscu -S -aet ${VISITOR_AE} -aec ${priorsTitle(first.hospital)} -k QueryRetrieveLevel=STUDY -k PatientID=${readFileSync(patientFile, 'utf8').trim()} -k StudyDate -k StudyDescription -k InstitutionName -k StudyInstanceUID 127.0.0.1 ${first.port}`,
          ]
        : []),
      ...(first.pacs !== undefined
        ? [
            `Send from a PACS: in ${first.pacs.aeTitle}'s web UI pick a study, "Send to DICOM modality", ${sendToTitle(hospitals[1])}. The PACS's studies:`,
            `  findscu -S -aet ${VISITOR_AE} -aec ${first.pacs.aeTitle} -k QueryRetrieveLevel=STUDY -k PatientName -k StudyDate -k StudyInstanceUID 127.0.0.1 ${first.pacs.dicomPort}`,
            'Or with the CLI (the node fetches the study from its PACS first):',
          ]
        : []),
      'Send a study to another hospital (over mutual TLS, verified, with a signed receipt):',
      `  bin/beeldbrug send --study <uid> --to ${hospitals[1].ura} --purpose transfer --give-up-after 5m   # signed in with beeldbrug login, as above`,
      '',
      ...(shareLink !== undefined && mailAndSms !== undefined
        ? [
            `Share with a patient: Noord's radiologist shared a study Noord holds; the e-mail is in ${mailAndSms.mailDir}, with this link:`,
            `  ${shareLink}`,
            `  Open it in the browser and ask for the code: the SMS arrives in ${mailAndSms.smsFile}. Share more from the workspace (Onderzoeken, Delen).`,
            `A partner clinic (${DEMO_PARTNER.organization}) found the same study in its download folder. Its password and TOTP secret are in ${join(o.dir, first.hospital.aeTitle.toLowerCase(), 'partner-credentials.txt')}:`,
            `  the workspace (below) as ${DEMO_PARTNER.username}, or  sftp -P ${o.basePort + 62} ${DEMO_PARTNER.username}@127.0.0.1   (ls download; put <file> upload/)`,
            '',
          ]
        : []),
      'Workspace (the web app; the browser must trust the demo CA, ' +
        join(caDir, 'ca.crt') +
        ', or be told to go on):',
      ...nodes.map((n) => `  ${n.hospital.name}: https://127.0.0.1:${n.node.https?.port ?? 0}/`),
      `  At ${first.hospital.name} sign in as ${DEMO_RADIOLOGIST.username} with the password and a code from the TOTP secret in radiologist-credentials.txt (above).`,
      `Sign-in (staff API, POST /api/v1/session): each node's first admin is in ${join(o.dir, '<node>', 'admin-credentials.txt')}; sign out with bin/beeldbrug logout.`,
      `Node logs: ${join(o.dir, '<node>', 'node.log')}. Stop with Ctrl-C.`,
    );
  }
  process.stdout.write(out.join('\n') + '\n');
  if (!o.exitWhenReady) await untilSignal();
  await stopAll();
}

/**
 * What the hospital's PACS sees of the patient at the other hospitals: its own C-FIND, through its DICOM modality
 * "priors" (the node's external AE title), one line per study. Undefined without a PACS.
 */
async function priorsInPacs(n: DemoHospital | undefined, bsn: string): Promise<string[] | undefined> {
  if (n?.pacs === undefined) return undefined;
  const query = await n.pacs.rest<{ ID: string }>('POST', '/modalities/priors/query', {
    Level: 'Study',
    Query: { PatientID: bsn, StudyDate: '', StudyDescription: '', ModalitiesInStudy: '', InstitutionName: '' },
  });
  const answers = await n.pacs.rest<Record<string, string | undefined>[]>(
    'GET',
    `/queries/${query.ID}/answers?expand&simplify`,
  );
  return answers
    .map((a) => {
      const d = a['StudyDate'] ?? '';
      const date = d.length === 8 ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : '(no date)  ';
      return `${date}  ${(a['ModalitiesInStudy'] ?? '').replaceAll('\\', '/').padEnd(8)} ${(a['StudyDescription'] ?? '').padEnd(28)} at ${a['InstitutionName'] ?? '?'}`;
    })
    .sort()
    .reverse();
}

/** Shares a study Noord holds with a demo recipient; answers the link from the e-mail it sent. */
async function demoShare(as: NodeApiClient, mail: DemoMailAndSms | undefined): Promise<string | undefined> {
  const uid = (await as.newestStudies(1))[0]?.['0020000D']?.Value?.[0];
  if (mail === undefined || typeof uid !== 'string') return undefined;
  const arrived = mail.nextMail();
  await as.share({
    studyInstanceUids: [uid],
    recipient: { name: 'Demo patiënt', email: 'patient@demo.test', mobile: '06 1234 5678' },
  });
  const text = await arrived;
  // The same study into the demo partner's download folder.
  await as.share({ studyInstanceUids: [uid], partner: DEMO_PARTNER.username });
  return /https:\/\/\S+\/share#[\w-]{43}/.exec(text)?.[0];
}

/**
 * A node with an HTTPS listener needs an admin before it starts. The demo makes one with a random password and keeps
 * the credentials (password and TOTP secret) in a file only the owner can read.
 */
async function demoAdmin(config: Readonly<Config>, credentialsFile: string): Promise<void> {
  const accounts = await openAccounts(config);
  const admins = await accounts.count('admin');
  await accounts.close();
  if (admins > 0) return;
  const password = randomBytes(18).toString('base64url');
  let shown = '';
  const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((shown += chunk.toString()), done()) });
  await addUserFromCli(config, { username: 'admin', name: 'Demo beheerder', role: 'admin', password }, out);
  writeFileSync(
    credentialsFile,
    `user name: admin
password: ${password}
${shown}`,
    { mode: 0o600 },
  );
}

const DEMO_RADIOLOGIST = {
  username: 'radioloog',
  name: 'Demo radioloog',
  role: 'radiologist',
  uziRole: '01.015',
} as const satisfies DemoPerson;
const DEMO_PARTNER = {
  username: 'kliniek.demo',
  name: 'Servicedesk',
  role: 'partner',
  organization: 'Kliniek Demo',
} as const satisfies DemoPerson;

type DemoPerson = Omit<UserAddOptions, 'password'>;

/** A demo account of Noord, made once with a random password; the credentials go to a file only the owner can read. */
async function demoPerson(
  config: Readonly<Config>,
  credentialsFile: string,
  person: DemoPerson,
): Promise<{ password: string; secret: string }> {
  if (!existsSync(credentialsFile)) {
    const password = randomBytes(18).toString('base64url');
    let shown = '';
    const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((shown += chunk.toString()), done()) });
    await addUserFromCli(config, { ...person, password }, out);
    writeFileSync(credentialsFile, `user name: ${person.username}\npassword: ${password}\n${shown}`, {
      mode: 0o600,
    });
  }
  const text = readFileSync(credentialsFile, 'utf8');
  const password = /^password: (\S+)$/m.exec(text)?.[1];
  const secret = /TOTP secret .*: ([A-Z2-7]+)$/m.exec(text)?.[1];
  if (password === undefined || secret === undefined)
    throw new BeeldbrugError(
      'CONFIG_INVALID',
      `${credentialsFile} does not hold the demo account's password and TOTP secret; remove it to make a new account`,
    );
  return { password, secret };
}

/** The region's localization and consent registry, in this process, with a certificate from the demo CA. */
async function startDemoRegistry(dir: string, caDir: string, port: number): Promise<RunningRegistry> {
  if (!existsSync(join(dir, REGISTRY_CONFIG_FILE_NAME))) {
    initRegistry(dir, {
      name: 'Demo registry',
      organization: { name: 'Regio demo', ura: '10000099' },
      host: '127.0.0.1',
      port,
      clients: hospitals.map((h) => ({ ura: h.ura, name: h.name })),
    });
    makeNodeCertificate(caDir, join(dir, 'pki'), {
      commonName: 'registry.demo',
      organization: 'Regio demo',
      ura: '10000099',
      hosts: ['localhost', '127.0.0.1'],
    });
  }
  const config = loadRegistryConfig(join(dir, REGISTRY_CONFIG_FILE_NAME));
  return startRegistry(
    config,
    createLogger({
      level: config.log.level,
      name: config.registry.name,
      destination: createWriteStream(join(dir, 'registry.log'), { flags: 'a' }),
    }),
  );
}

/**
 * One patient with two studies at Midden and one at Zuid (in each node's cache, and in its PACS when there is one), and
 * the patient's permit, recorded at the desk of each, for that hospital to release its studies, so that Noord's
 * timeline has something to show. Returns the BSN.
 */
async function patientAtTwoHospitals(
  nodes: readonly DemoHospital[],
  scratch: string,
  registryUrl: string,
  networkKeyFile: string,
  keysOf: (aeTitle: string) => string,
): Promise<string> {
  const [noord, midden, zuid] = nodes;
  if (noord === undefined || midden === undefined || zuid === undefined)
    throw new Error('the demo has three hospitals');
  rmSync(scratch, { recursive: true, force: true });
  const synth = await synthesize({
    outDir: scratch,
    patients: 1,
    seed: 77,
    studiesPerPatient: [3, 3],
    modalities: ['CR', 'DX', 'MR'],
  });
  const patient = synth.patients[0];
  if (patient === undefined) throw new Error('no synthetic patient');
  for (const [at, studies] of [
    [midden, patient.studies.slice(0, 2)],
    [zuid, patient.studies.slice(2)],
  ] as const) {
    for (const file of studies.flatMap((s) => s.files)) {
      await at.node.patientData.openForTask('demo', 'demo network', 'import', 'demo data').importFile(file);
      if (at.pacs !== undefined) await at.pacs.upload(file);
    }
    await at.node.localization?.flush();
  }
  rmSync(scratch, { recursive: true, force: true });
  // A hospital records only the patient's choices about itself (a broader consent is the patient portal's to record).
  for (const holder of [midden, zuid]) {
    const keys = keysOf(holder.hospital.aeTitle);
    const tls = readTlsFiles({
      certFile: join(keys, 'node.crt'),
      keyFile: join(keys, 'node.key'),
      caFile: join(keys, 'ca.crt'),
    });
    const client = new HttpsRegistryClient({
      baseUrl: registryUrl,
      tls,
      networkKey: readNetworkKeyFile(networkKeyFile),
      ourUra: holder.hospital.ura,
    });
    try {
      await client.recordConsent({
        bsn: patient.bsn,
        decision: 'permit',
        actor: { role: 'holder', ura: holder.hospital.ura },
        recordedBy: { id: 'demo', name: `Demo balie ${holder.hospital.aeTitle.toLowerCase()}` },
      });
    } finally {
      client.close();
    }
  }
  return patient.bsn;
}

/** A hospital's Orthanc, with a password made on first start and kept beside its storage. */
async function startDemoPacs(
  dir: string,
  aeTitle: string,
  ports: { dicom: number; http: number },
  modalities: Record<string, { aeTitle: string; host: string; port: number }>,
): Promise<OrthancPacs> {
  const passwordFile = join(dir, 'password');
  if (!existsSync(passwordFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(passwordFile, randomBytes(12).toString('hex'), { mode: 0o600 });
  }
  return startOrthanc({
    dir,
    aeTitle,
    dicomPort: ports.dicom,
    httpPort: ports.http,
    password: readFileSync(passwordFile, 'utf8').trim(),
    modalities,
  });
}

/** Synthetic patients into the hospital's PACS (or, without one, its node). */
async function loadSyntheticPatients(
  into: OrthancPacs | RunningNode,
  scratch: string,
  patients: number,
  seed: number,
): Promise<void> {
  rmSync(scratch, { recursive: true, force: true });
  await synthesize({ outDir: scratch, patients, seed });
  for (const file of listFiles(scratch)) {
    if ('upload' in into) await into.upload(file);
    else await into.patientData.openForTask('demo', 'demo network', 'import', 'demo data').importFile(file);
  }
  rmSync(scratch, { recursive: true, force: true });
}

/**
 * On first start, Noord's PACS sends a study to Midden from its own "send to" menu: Noord's node fetches nothing (the
 * PACS stores the study into it under Midden's AE title), pushes it to Midden's node, which forwards it into Midden's PACS.
 */
async function pushFromPacs(nodes: readonly DemoHospital[]): Promise<string> {
  const [from, to] = nodes;
  if (from?.pacs === undefined || to?.pacs === undefined) return 'no two PACS to push between';
  const studyIds = await from.pacs.rest<string[]>('GET', '/studies');
  const studyId = studyIds[0];
  if (studyId === undefined) return 'no study to push';
  const study = await from.pacs.rest<{ MainDicomTags: { StudyInstanceUID: string } }>('GET', `/studies/${studyId}`);
  const instances = (await from.pacs.rest<string[]>('GET', `/studies/${studyId}/instances`)).length;
  const before = (await to.pacs.rest<{ CountInstances: number }>('GET', '/statistics')).CountInstances;
  await from.pacs.rest('POST', `/modalities/${sendToTitle(to.hospital).toLowerCase()}/store`, {
    Resources: [studyId],
    Synchronous: true,
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const now = (await to.pacs.rest<{ CountInstances: number }>('GET', '/statistics')).CountInstances;
    if (now >= before + instances) break;
    if (Date.now() > deadline)
      return `${from.hospital.name}'s PACS sent study ${study.MainDicomTags.StudyInstanceUID}, but it did not reach ${to.hospital.name}'s PACS within 60 s; see the node logs`;
    await sleep(200);
  }
  return `${from.hospital.name}'s PACS sent study ${study.MainDicomTags.StudyInstanceUID} (${instances} instances) to ${to.hospital.name} from its "send to" menu; the receipt verified and the study is in ${to.hospital.name}'s PACS.`;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** On first start, Noord pushes one study to Midden, so the demo shows the exchange working. */
async function demoPush(dir: string, nodes: readonly DemoHospital[]): Promise<string> {
  const from = nodes[0];
  const to = nodes[1];
  if (from === undefined || to === undefined) return 'no two hospitals to push between';
  const access = from.node.patientData.openForTask('demo', 'demo network', 'exchange', 'demo push');
  const anyStudy = new Dataset().set(Tag.QueryRetrieveLevel, 'CS', 'STUDY').set(Tag.StudyInstanceUID, 'UI', '');
  const studyInstanceUid = (
    await access.find(anyStudy, 'study-root', (n) => `demo: a study to push, of ${n}`, undefined)
  )[0]?.string(Tag.StudyInstanceUID);
  if (studyInstanceUid === undefined) return 'no study to push';
  const config = loadConfig(join(dir, from.hospital.aeTitle.toLowerCase(), CONFIG_FILE_NAME));
  if (config.exchange === undefined) return 'exchange not configured';
  const result = await sendStudy(
    {
      studyInstanceUid,
      to: { ura: to.hospital.ura, name: to.hospital.name, baseUrl: `https://127.0.0.1:${to.node.https?.port ?? 0}` },
      purpose: 'transfer',
      urgency: 'routine',
      reason: 'demo: overplaatsing',
      user: { id: 'demo', name: 'Demo gebruiker' },
    },
    {
      access,
      tls: readTlsFiles(config.exchange.tls),
      logger: silentLogger(),
    },
  );
  return `${from.hospital.name} sent study ${studyInstanceUid} (${result.instances} instances) to ${to.hospital.name}; receipt verified.`;
}
