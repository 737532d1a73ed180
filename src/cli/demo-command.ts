import { appendFileSync, createWriteStream, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { createLogger } from '../log/index.ts';
import { type RunningNode, startNode } from '../node/index.ts';
import { synthesize } from '../synth/index.ts';
import { CONFIG_FILE_NAME, initNode } from './init-command.ts';
import { makeCa, makeNodeCertificate } from './pki-command.ts';
import { sendStudy } from '../exchange/index.ts';
import { readTlsFiles } from '../node/index.ts';
import { silentLogger } from '../log/index.ts';
import { untilSignal } from './signals.ts';

/** The DCMTK tools a visitor uses to try the demo; it is on every node's allow-list. */
const VISITOR_AE = 'DEMO_SCU';

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

/** Starts the demo network; on first start each hospital gets its own synthetic patients, imported like a PACS push. */
export async function runDemo(o: DemoOptions): Promise<void> {
  const visitorPort = o.basePort + 10;
  const exchangePort = (i: number): number => o.basePort + 20 + i;
  const caDir = join(o.dir, 'pki', 'ca');
  if (!existsSync(join(caDir, 'ca.crt'))) makeCa(caDir, 'Beeldbrug demo CA');
  let firstStart = false;
  const nodes: { hospital: (typeof hospitals)[number]; port: number; node: RunningNode }[] = [];
  try {
    for (const [i, hospital] of hospitals.entries()) {
      const dir = join(o.dir, hospital.aeTitle.toLowerCase());
      const port = o.basePort + i;
      const fresh = !existsSync(join(dir, CONFIG_FILE_NAME));
      if (fresh) {
        initNode(dir, {
          nodeName: hospital.name,
          organizationName: hospital.name,
          ura: hospital.ura,
          aeTitle: hospital.aeTitle,
          dimsePort: port,
          peers: [
            { aeTitle: VISITOR_AE, host: '127.0.0.1', port: visitorPort, description: 'you, with DCMTK (storescp on this port for C-MOVE)' },
            ...hospitals
              .map((h, j) => ({ h, j }))
              .filter(({ j }) => j !== i)
              .map(({ h, j }) => ({ aeTitle: h.aeTitle, host: '127.0.0.1', port: o.basePort + j, description: `demo node ${h.name}` })),
          ],
        });
      }
      if (fresh) {
        firstStart = true;
        // Node-to-node exchange: a certificate from the demo CA, and the other two hospitals as trusted partners.
        makeNodeCertificate(caDir, join(dir, 'keys'), { commonName: `${hospital.aeTitle.toLowerCase()}.demo`, organization: hospital.name, ura: hospital.ura, hosts: ['localhost', '127.0.0.1'] });
        const partners = hospitals
          .map((h, j) => ({ h, j }))
          .filter(({ j }) => j !== i)
          .map(({ h, j }) => `    - { ura: "${h.ura}", name: "${h.name}", baseUrl: "https://127.0.0.1:${exchangePort(j)}" }\n`)
          .join('');
        appendFileSync(
          join(dir, CONFIG_FILE_NAME),
          `\nexchange:\n  listen: { host: 127.0.0.1, port: ${exchangePort(i)} }\n  tls: { certFile: ./keys/node.crt, keyFile: ./keys/node.key, caFile: ./keys/ca.crt }\n  partners:\n${partners}`,
        );
      }
      const config = loadConfig(join(dir, CONFIG_FILE_NAME));
      const logger = createLogger({ level: config.log.level, name: config.node.name, destination: createWriteStream(join(dir, 'node.log'), { flags: 'a' }) });
      const node = await startNode(config, logger);
      nodes.push({ hospital, port: node.dimsePorts[0] ?? port, node });
      if (fresh) await loadSyntheticPatients(node, join(dir, 'synth-import'), o.patients, i + 1);
    }
  } catch (err) {
    for (const { node } of nodes.reverse()) await node.close();
    throw err;
  }

  const pushed = firstStart ? await demoPush(o.dir, nodes) : undefined;

  const out: string[] = [`Beeldbrug demo network: ${nodes.length} hospital nodes, data in ${o.dir}`, ''];
  for (const { hospital, port, node } of nodes) {
    const s = node.store.index.stats();
    out.push(`  ${hospital.aeTitle.padEnd(7)} ${hospital.name.padEnd(18)} DICOM 127.0.0.1:${port}  ${s.patients} patients, ${s.studies} studies, ${s.instances} instances`);
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
      'Send a study to another hospital (over mutual TLS, verified, with a signed receipt):',
      `  bin/beeldbrug send --config ${join(o.dir, first.hospital.aeTitle.toLowerCase(), CONFIG_FILE_NAME)} --study <uid> --to ${hospitals[1].ura} --purpose transfer --user-id demo --user-name "Demo gebruiker"`,
      '',
      `Node logs: ${join(o.dir, '<node>', 'node.log')}. Stop with Ctrl-C.`,
    );
  }
  process.stdout.write(out.join('\n') + '\n');
  if (!o.exitWhenReady) await untilSignal();
  for (const { node } of nodes.reverse()) await node.close();
}

async function loadSyntheticPatients(node: RunningNode, scratch: string, patients: number, seed: number): Promise<void> {
  rmSync(scratch, { recursive: true, force: true });
  await synthesize({ outDir: scratch, patients, seed });
  for (const file of listFiles(scratch)) {
    await node.studies.importFile({ actor: { kind: 'system', task: 'demo' }, purpose: 'import' }, file);
  }
  rmSync(scratch, { recursive: true, force: true });
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** On first start, Noord pushes one study to Midden, so the demo shows the exchange working. */
async function demoPush(dir: string, nodes: readonly { hospital: (typeof hospitals)[number]; node: RunningNode }[]): Promise<string> {
  const from = nodes[0];
  const to = nodes[1];
  if (from === undefined || to === undefined) return 'no two hospitals to push between';
  const study = from.node.store.index.query('STUDY', [])[0];
  const studyInstanceUid = study?.values.studyInstanceUid;
  if (typeof studyInstanceUid !== 'string') return 'no study to push';
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
    { studies: from.node.studies, tls: readTlsFiles(config.exchange.tls), logger: silentLogger() },
  );
  return `${from.hospital.name} sent study ${studyInstanceUid} (${result.instances} instances) to ${to.hospital.name}; receipt verified.`;
}
