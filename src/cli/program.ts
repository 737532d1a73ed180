import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, loadRegistryConfig } from '../config/index.ts';
import { initRegistry, REGISTRY_CONFIG_FILE_NAME, serveRegistry, writeNetworkKey } from './registry-command.ts';
import { timelineFromCli } from './timeline-command.ts';
import { createLogger } from '../log/index.ts';
import { startNode } from '../node/index.ts';
import { synthesize } from '../synth/index.ts';
import { runDemo } from './demo-command.ts';
import { makeCa, makeNodeCertificate } from './pki-command.ts';
import { parseDuration, sendFromCli } from './send-command.ts';
import { loginFromCli, logoutFromCli } from './login-command.ts';
import { acceptAuditHeadFromCli, verifyAuditFromCli } from './audit-command.ts';
import { doctorFromCli } from './doctor-command.ts';
import { addUserFromCli, readStdin } from './user-command.ts';
import { ROLES, type Role } from '../auth/index.ts';
import { CONFIG_FILE_NAME, initNode, parsePeerOption } from './init-command.ts';
import { untilSignal } from './signals.ts';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

const durationOption = (v: string): number => {
  const seconds = parseDuration(v);
  if (seconds === undefined || seconds <= 0) throw new InvalidArgumentError('expected a time such as 90s, 10m or 2h');
  return seconds;
};

export function buildProgram(): Command {
  const program = new Command('beeldbrug')
    .description('Exchange radiology studies between hospitals: a DICOM node for your PACS, and the bridge to other hospitals.')
    .showHelpAfterError()
    .version('0.1.0');

  program
    .command('init')
    .description('write a working, commented configuration and a fresh encryption key into DIR')
    .argument('<dir>', 'folder for the node (created if missing)')
    .option('--name <name>', 'node name shown in logs and to partners', 'Beeldbrug node')
    .option('--organization <name>', 'organization name', 'Voorbeeldziekenhuis')
    .option('--ura <number>', 'the organization URA number (8 digits)', '00000000')
    .option('--ae-title <ae>', 'our DICOM AE title', 'BEELDBRUG')
    .option('--port <port>', 'DIMSE port on 127.0.0.1', positiveInt, 11112)
    .option('--peer <AE@host[:port]>', 'a PACS or modality allowed to connect (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action((dir: string, o: { name: string; organization: string; ura: string; aeTitle: string; port: number; peer: string[] }) => {
      const { configPath, keyPath, auditKeyPath } = initNode(resolve(dir), {
        nodeName: o.name,
        organizationName: o.organization,
        ura: o.ura,
        aeTitle: o.aeTitle,
        dimsePort: o.port,
        peers: o.peer.map(parsePeerOption),
      });
      loadConfig(configPath); // what init writes must start
      process.stdout.write(`wrote ${configPath}\nwrote ${keyPath} and ${auditKeyPath} (back them up apart from the data)\nstart with: beeldbrug start --config ${configPath}\n`);
    });

  program
    .command('start')
    .description('run one node from its configuration until SIGINT or SIGTERM')
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .action(async (o: { config: string }) => {
      const config = loadConfig(o.config);
      const logger = createLogger({ level: config.log.level, name: config.node.name });
      const node = await startNode(config, logger);
      process.stdout.write(`READY ${config.dimse.aeTitle} dimse=${node.dimsePorts.join(',')}\n`);
      await untilSignal();
      logger.info('stopping');
      await node.close();
    });

  const audit = program.command('audit').description("the node's audit trail (NEN 7513)");
  audit
    .command('verify')
    .description('recompute the hash chain and name the first edited, removed, inserted or reordered record (exit 1 if any)')
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .action((o: { config: string }) => {
      process.exitCode = verifyAuditFromCli(loadConfig(o.config));
    });
  audit
    .command('accept-head')
    .description("after you have established why the trail no longer reaches its witness (a restore from an older backup), move the witness to the trail's present end; recorded with your reason")
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .requiredOption('--reason <text>', 'why, in words an auditor reads')
    .action((o: { config: string; reason: string }) => {
      process.exitCode = acceptAuditHeadFromCli(loadConfig(o.config), o.reason);
    });

  program
    .command('doctor')
    .description("check the configuration and probe this node's ports and its DICOM peers (PACS) for what the internet-wide PACS scans found open; exit 1 on a critical finding")
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .action(async (o: { config: string }) => {
      process.exitCode = await doctorFromCli(loadConfig(o.config));
    });

  const user = program.command('user').description('local accounts (password + TOTP) of staff who sign in to this node');
  user
    .command('add')
    .description('create a local account and show its TOTP secret once; the first account is an admin. The password is read from standard input')
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .requiredOption('--username <name>', 'the sign-in name (a-z, 0-9, . _ -)')
    .requiredOption('--name <name>', 'the person, as the audit trail shows them')
    .addOption(new Option('--role <role>', 'what the account may do').choices(ROLES).makeOptionMandatory())
    .option('--uzi-role <code>', 'the UZI role code kept in audit records (e.g. 01.015 radiologist)')
    .action(async (o: { config: string; username: string; name: string; role: Role; uziRole?: string }) => {
      const password = await readStdin();
      await addUserFromCli(loadConfig(o.config), { username: o.username, name: o.name, role: o.role, password, ...(o.uziRole !== undefined ? { uziRole: o.uziRole } : {}) });
    });

  program
    .command('synth')
    .description('write synthetic patients with studies and reports (Part 10 files) for tests, demos and benchmarks')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('-p, --patients <n>', 'number of patients', positiveInt, 5)
    .option('-s, --seed <n>', 'seed: the same seed gives the same data', positiveInt, 1)
    .action(async (o: { out: string; patients: number; seed: number }) => {
      const result = await synthesize({ outDir: resolve(o.out), patients: o.patients, seed: o.seed });
      for (const p of result.patients) {
        process.stdout.write(`${p.bsn}  ${p.name.padEnd(32)} ${p.studies.map((s) => `${s.studyDate} ${s.modality}`).join(', ')}\n`);
      }
      process.stdout.write(`${result.files} files, ${(result.bytes / 1e6).toFixed(1)} MB in ${resolve(o.out)}\n`);
    });

  program
    .command('demo')
    .description('start a demo network of hospital nodes on this machine with synthetic patients and studies')
    .option('-d, --dir <dir>', 'folder for the demo nodes (kept between runs)', 'demo-data')
    .option('--base-port <port>', 'first DIMSE port; the nodes use the next ones', positiveInt, 11112)
    .option('--patients <n>', 'synthetic patients per hospital on first start', positiveInt, 4)
    .option('--exit-when-ready', 'stop after start-up (for tests)')
    .action(async (o: { dir: string; basePort: number; patients: number; exitWhenReady?: boolean }) => {
      await runDemo({ dir: resolve(o.dir), basePort: o.basePort, patients: o.patients, exitWhenReady: o.exitWhenReady === true });
    });

  program
    .command('login')
    .description('sign in at your node (password + code from the authenticator app) for send and timeline; the session is kept in a file only you can read ($BEELDBRUG_SESSION or ~/.config/beeldbrug/session.json)')
    .requiredOption('--node <url>', "the node's HTTPS address, e.g. https://127.0.0.1:8443")
    .requiredOption('--username <name>', 'your sign-in name')
    .option('--ca <file>', "the CA certificate that signed the node's server certificate (PEM); the system's CAs otherwise")
    .action(async (o: { node: string; username: string; ca?: string }) => {
      await loginFromCli({ node: o.node, username: o.username, ...(o.ca !== undefined ? { caFile: o.ca } : {}) });
    });

  program
    .command('logout')
    .description('end your session at the node and remove the saved sign-in')
    .action(async () => {
      await logoutFromCli();
    });

  program
    .command('send')
    .description('ask your node (signed in: beeldbrug login) to send a study to a partner hospital, and follow it until delivered; the node sends it (mutual TLS, verified, resumable, retried)')
    .requiredOption('--study <uid>', 'the StudyInstanceUID to send')
    .requiredOption('--to <partner>', 'the partner organization: its URA number or its name in exchange.partners')
    .addOption(new Option('--purpose <purpose>', 'why: transfer of care, consultation, or internal').choices(['transfer', 'consultation', 'internal']).makeOptionMandatory())
    .addOption(new Option('--urgency <urgency>', 'how urgent').choices(['routine', 'urgent']).default('routine'))
    .option('--reason <text>', 'the reason or question for the receiving radiologist', '')
    .option('--consent <reference>', 'the explicit consent reference (required for consultation)')
    .option('--give-up-after <duration>', 'stop following (exit 1) when not delivered within this time: 90s, 10m, 2h', durationOption, 600)
    .option('--max-attempts <n>', 'stop following (exit 1) once this many attempts have failed', positiveInt)
    .option('--no-wait', 'return once the transfer is queued')
    .action(async (o: { study: string; to: string; purpose: 'transfer' | 'consultation' | 'internal'; urgency: 'routine' | 'urgent'; reason: string; consent?: string; giveUpAfter: number; maxAttempts?: number; wait: boolean }) => {
      await sendFromCli({
        study: o.study, to: o.to, purpose: o.purpose, urgency: o.urgency, reason: o.reason, noWait: !o.wait, giveUpAfterSeconds: o.giveUpAfter,
        ...(o.maxAttempts !== undefined ? { maxAttempts: o.maxAttempts } : {}),
        ...(o.consent !== undefined ? { consent: o.consent } : {}),
      });
    });

  program
    .command('timeline')
    .description("a patient's studies at other hospitals, newest first, asked by your node in your name (signed in: beeldbrug login); optionally retrieve one")
    .argument('<bsn>', 'the BSN (checked with the elfproef)')
    .option('--reports', 'include report texts')
    .option('--json', 'print the timeline as JSON')
    .option('--retrieve <studyUid>', 'then ask the source of this study to send it here (into the cache and, by the routing rules, the PACS)')
    .option('--wait <seconds>', 'with --retrieve: wait this long for it to arrive (0: do not wait)', positiveInt, 300)
    .action(async (bsn: string, o: { reports?: boolean; json?: boolean; retrieve?: string; wait: number }) => {
      await timelineFromCli({
        bsn,
        includeReports: o.reports === true,
        json: o.json === true,
        waitSeconds: o.wait,
        ...(o.retrieve !== undefined ? { retrieve: o.retrieve } : {}),
      });
    });

  const registry = program.command('registry').description('the localization and consent registry (its own process)');
  registry
    .command('start')
    .description('run the registry from its configuration until SIGINT or SIGTERM')
    .requiredOption('-c, --config <file>', `registry configuration file (${REGISTRY_CONFIG_FILE_NAME})`)
    .action(async (o: { config: string }) => {
      const config = loadRegistryConfig(o.config);
      await serveRegistry(config, createLogger({ level: config.log.level, name: config.registry.name }));
    });
  registry
    .command('init')
    .description('write a registry configuration into DIR (put its certificate in DIR/pki with `beeldbrug pki node --out DIR/pki`)')
    .argument('<dir>', 'folder for the registry')
    .option('--name <name>', 'registry name', 'Beeldbrug registry')
    .option('--organization <name>', 'the operating organization', 'Regionaal samenwerkingsverband')
    .option('--ura <number>', 'its URA number', '00000000')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'HTTPS port', positiveInt, 8443)
    .option('--client <URA:name>', 'an organization that may call the registry (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action((dir: string, o: { name: string; organization: string; ura: string; host: string; port: number; client: string[] }) => {
      const clients = o.client.map((c) => {
        const m = /^(\d{8}):(.+)$/.exec(c);
        if (m?.[1] === undefined || m[2] === undefined) throw new InvalidArgumentError(`--client wants URA:name, got ${c}`);
        return { ura: m[1], name: m[2] };
      });
      const path = initRegistry(resolve(dir), { name: o.name, organization: { name: o.organization, ura: o.ura }, host: o.host, port: o.port, clients });
      process.stdout.write(`wrote ${path}\n`);
    });
  registry
    .command('network-key')
    .description("write a fresh network key for BSN pseudonyms (give every node a copy, never the registry)")
    .requiredOption('-o, --out <file>', 'where to write it')
    .action((o: { out: string }) => {
      writeNetworkKey(resolve(o.out));
      process.stdout.write(`wrote ${resolve(o.out)}\n`);
    });

  const pki = program
    .command('pki')
    .description('a test CA and node certificates for the demo and tests (production uses the hospital PKI)');
  pki
    .command('ca')
    .description('make a root CA (ca.crt, ca.key) and an issuing CA under it (issuing-ca.crt, issuing-ca.key) in DIR')
    .requiredOption('-o, --out <dir>', 'folder for the CA')
    .option('--name <cn>', 'the CA common name', 'Beeldbrug test CA')
    .action((o: { out: string; name: string }) => {
      const r = makeCa(resolve(o.out), o.name);
      process.stdout.write(`wrote ${r.certPath}\nwrote ${r.keyPath}\nwrote ${r.issuingCertPath}\nwrote ${r.issuingKeyPath}\n`);
    });
  pki
    .command('node')
    .description("make a node certificate signed by the issuing CA, naming the organization and its URA as a UZI server certificate does: node.crt (with the issuing CA), node.key, ca.crt")
    .requiredOption('--ca <dir>', 'folder with ca.crt and ca.key')
    .requiredOption('-o, --out <dir>', 'folder for the node certificate')
    .requiredOption('--name <cn>', 'the node name (certificate common name)')
    .requiredOption('--organization <name>', 'the organization name')
    .requiredOption('--ura <number>', 'the organization URA number (8 digits)')
    .option('--host <name-or-ip>', 'a DNS name or IPv4 address the node is reached at (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action((o: { ca: string; out: string; name: string; organization: string; ura: string; host: string[] }) => {
      const hosts = o.host.length > 0 ? o.host : ['localhost', '127.0.0.1'];
      const r = makeNodeCertificate(resolve(o.ca), resolve(o.out), { commonName: o.name, organization: o.organization, ura: o.ura, hosts });
      process.stdout.write(`wrote ${r.certPath}\nwrote ${r.keyPath}\nwrote ${r.caPath}\n`);
    });

  return program;
}
