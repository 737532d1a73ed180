import { createWriteStream, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { createLogger } from '../log/index.ts';
import { type RunningNode, startNode } from '../node/index.ts';
import { synthesize } from '../synth/index.ts';
import { CONFIG_FILE_NAME, initNode } from './init-command.ts';
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
