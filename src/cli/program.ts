import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { BEELDBRUG_VERSION, loadConfig, loadRegistryConfig } from '../config/index.ts';
import { ROLES, type Role } from '../auth/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { AuditListOptions } from './audit-command.ts';
import { CliProgram, printJson } from './cli-output.ts';
import {
  CONFIG_FILE_NAME,
  durationOption,
  parsePeerOption,
  portNumber,
  positiveInt,
  registryClient,
  REGISTRY_CONFIG_FILE_NAME,
  repeatable,
  uraNumber,
} from './command-line.ts';

// Each command's module loads when that command runs (`await import` in its action): the node with everything it
// serves is most of a second to load, which `beeldbrug --help`, a usage error or `beeldbrug login` need not wait for.

const JSON_HELP = 'print the result as one JSON document (errors as JSON on standard error)';

export function buildProgram(): Command {
  const program = new CliProgram('beeldbrug')
    .description(
      'Exchange radiology studies between hospitals: a DICOM node for your PACS, and the bridge to other hospitals.',
    )
    .version(BEELDBRUG_VERSION)
    .addHelpText(
      'after',
      '\nExit codes: 0 done, 1 failed (the message says why), 2 the command line is wrong (nothing was done).',
    );

  program
    .command('init')
    .description('write a working, commented configuration and a fresh encryption key into DIR')
    .argument('<dir>', 'folder for the node (created if missing)')
    .option('--name <name>', 'node name shown in logs and to partners', 'Beeldbrug node')
    .option('--organization <name>', 'organization name', 'Voorbeeldziekenhuis')
    .option('--ura <number>', 'the organization URA number (8 digits)', uraNumber, '00000000')
    .option('--ae-title <ae>', 'our DICOM AE title (1-16 characters)', 'BEELDBRUG')
    .option('--port <port>', 'DIMSE port on 127.0.0.1', portNumber(1), 11112)
    .option(
      '--peer <AE@host[:port]>',
      'a PACS or modality allowed to connect (repeatable)',
      repeatable(parsePeerOption),
      [],
    )
    .option('--json', JSON_HELP)
    .action(
      async (
        dir: string,
        o: {
          name: string;
          organization: string;
          ura: string;
          aeTitle: string;
          port: number;
          peer: ReturnType<typeof parsePeerOption>[];
          json?: boolean;
        },
      ) => {
        const { initNode } = await import('./init-command.ts');
        const written = initNode(resolve(dir), {
          nodeName: o.name,
          organizationName: o.organization,
          ura: o.ura,
          aeTitle: o.aeTitle,
          dimsePort: o.port,
          peers: o.peer,
        });
        const start = `beeldbrug start --config ${written.configPath}`;
        if (o.json === true)
          printJson({
            ...written,
            next: [
              `beeldbrug user add --config ${written.configPath} --username <name> --name <person> --role admin`,
              start,
            ],
          });
        else
          process.stdout.write(
            `wrote ${written.configPath}\nwrote ${written.keyPath} and ${written.auditKeyPath} (back them up apart from the data)\nstart with: ${start}\n`,
          );
      },
    );

  program
    .command('start')
    .description('run one node from its configuration until SIGINT or SIGTERM')
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .action(async (o: { config: string }) => {
      const config = loadConfig(o.config);
      const [{ createLogger }, { startNode }, { untilSignal }] = await Promise.all([
        import('../log/index.ts'),
        import('../node/index.ts'),
        import('./signals.ts'),
      ]);
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
    .description(
      'recompute the hash chain and name the first edited, removed, inserted or reordered record (exit 1 if any)',
    )
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .option('--json', JSON_HELP)
    .action(async (o: { config: string; json?: boolean }) => {
      const { verifyAuditFromCli } = await import('./audit-command.ts');
      process.exitCode = await verifyAuditFromCli(loadConfig(o.config), process.stdout, o.json === true);
    });
  audit
    .command('accept-head')
    .description(
      "after you have established why the trail no longer reaches its witness (a restore from an older backup), move the witness to the trail's present end; recorded with your reason",
    )
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .requiredOption('--reason <text>', 'why, in words an auditor reads')
    .action(async (o: { config: string; reason: string }) => {
      const { acceptAuditHeadFromCli } = await import('./audit-command.ts');
      process.exitCode = await acceptAuditHeadFromCli(loadConfig(o.config), o.reason);
    });
  audit
    .command('list')
    .description(
      'read the trail as an auditor (signed in: beeldbrug login, with two factors); your reading is recorded with its purpose. One line per record, oldest first',
    )
    .option('--bsn <bsn>', "only records about this patient (for a patient's request to see who looked at their data)")
    .option('--user <id>', 'only records of this user id')
    .option('--action <action>', 'only this action (login, query, retrieve, send, receive, import, purge, ...)')
    .option('--since <time>', 'from this time on (ISO 8601, e.g. 2026-12-01T00:00:00Z)')
    .option('--until <time>', 'before this time (ISO 8601)')
    .option('--purpose <text>', 'why you read, recorded with the reading', 'audit')
    .option('--limit <n>', 'at most this many records (default 1000)', (v) => Number.parseInt(v, 10))
    .option('--json', JSON_HELP)
    .action(async (o: AuditListOptions & { json?: boolean }) => {
      const { listAuditFromCli } = await import('./audit-command.ts');
      await listAuditFromCli(o, process.stdout, o.json === true);
    });

  program
    .command('migrate')
    .description(
      'with the node stopped, copy what it kept in its data folder (audit trail, study indexes, exchange, accounts, shares, uploads) to the database server its configuration names (database), and verify the copy; run again to resume',
    )
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .option('--json', JSON_HELP)
    .action(async (o: { config: string; json?: boolean }) => {
      const { migrateFromCli } = await import('./migrate-command.ts');
      process.exitCode = await migrateFromCli(loadConfig(o.config), process.stdout, o.json === true);
    });

  program
    .command('doctor')
    .description(
      "check the configuration and probe this node's ports and its DICOM peers (PACS) for what the internet-wide PACS scans found open; exit 1 on a critical finding",
    )
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .option('--json', JSON_HELP)
    .action(async (o: { config: string; json?: boolean }) => {
      const { doctorFromCli } = await import('./doctor-command.ts');
      process.exitCode = await doctorFromCli(loadConfig(o.config), process.stdout, o.json === true);
    });

  const user = program
    .command('user')
    .description('local accounts (password + TOTP) of staff who sign in to this node');
  user
    .command('add')
    .description(
      'create a local account and show its TOTP secret once; the first account is an admin. The password is read from standard input',
    )
    .requiredOption('-c, --config <file>', `configuration file (${CONFIG_FILE_NAME})`)
    .requiredOption('--username <name>', 'the sign-in name (a-z, 0-9, . _ -)')
    .requiredOption('--name <name>', 'the person, as the audit trail shows them')
    .addOption(new Option('--role <role>', 'what the account may do').choices(ROLES).makeOptionMandatory())
    .option('--uzi-role <code>', 'the UZI role code kept in audit records (e.g. 01.015 radiologist)')
    .option('--organization <name>', "a partner account's organization (required with --role partner)")
    .option('--json', JSON_HELP)
    // Everyone tries --password first; it is refused with the reason instead of "unknown option".
    .addOption(new Option('--password <password>').hideHelp())
    .addHelpText(
      'after',
      '\nExample: printf \'%s\\n\' "$PASSWORD" | beeldbrug user add --config beeldbrug.yaml --username jdevries --name "J. de Vries" --role admin',
    )
    .action(
      async (o: {
        config: string;
        username: string;
        name: string;
        role: Role;
        uziRole?: string;
        organization?: string;
        json?: boolean;
        password?: string;
      }) => {
        if (o.password !== undefined) {
          throw new BeeldbrugError(
            'COMMAND_LINE_INVALID',
            'the password is read from standard input, never from the command line (other users of this machine can see command lines, and shells keep them in their history); no account was created',
          );
        }
        const config = loadConfig(o.config);
        const { addUserFromCli, readStdin } = await import('./user-command.ts');
        const password = await readStdin();
        await addUserFromCli(
          config,
          {
            username: o.username,
            name: o.name,
            role: o.role,
            password,
            ...(o.uziRole !== undefined ? { uziRole: o.uziRole } : {}),
            ...(o.organization !== undefined ? { organization: o.organization } : {}),
          },
          process.stdout,
          o.json === true,
        );
      },
    );

  program
    .command('synth')
    .description('write synthetic patients with studies and reports (Part 10 files) for tests, demos and benchmarks')
    .requiredOption('-o, --out <dir>', 'output folder')
    .option('-p, --patients <n>', 'number of patients', positiveInt, 5)
    .option('-s, --seed <n>', 'seed: the same seed gives the same data', positiveInt, 1)
    .option('--json', JSON_HELP)
    .action(async (o: { out: string; patients: number; seed: number; json?: boolean }) => {
      const { synthesize } = await import('../synth/index.ts');
      const result = await synthesize({ outDir: resolve(o.out), patients: o.patients, seed: o.seed });
      if (o.json === true) {
        printJson({ outDir: resolve(o.out), ...result });
        return;
      }
      for (const p of result.patients) {
        process.stdout.write(
          `${p.bsn}  ${p.name.padEnd(32)} ${p.studies.map((s) => `${s.studyDate} ${s.modality}`).join(', ')}\n`,
        );
      }
      process.stdout.write(`${result.files} files, ${(result.bytes / 1e6).toFixed(1)} MB in ${resolve(o.out)}\n`);
    });

  program
    .command('demo')
    .description('start a demo network of hospital nodes on this machine with synthetic patients and studies')
    .option('-d, --dir <dir>', 'folder for the demo nodes (kept between runs)', 'demo-data')
    .option('--base-port <port>', 'first DIMSE port; the nodes use the next ones', portNumber(1), 11112)
    .option('--patients <n>', 'synthetic patients per hospital on first start', positiveInt, 4)
    .option('--exit-when-ready', 'stop after start-up (for tests)')
    .action(async (o: { dir: string; basePort: number; patients: number; exitWhenReady?: boolean }) => {
      const { runDemo } = await import('./demo-command.ts');
      await runDemo({
        dir: resolve(o.dir),
        basePort: o.basePort,
        patients: o.patients,
        exitWhenReady: o.exitWhenReady === true,
      });
    });

  program
    .command('login')
    .description(
      "sign in at your node for send and timeline, with a password and a code from the authenticator app, or at the hospital's identity provider (--oidc); the session is kept in a file only you can read ($BEELDBRUG_SESSION or ~/.config/beeldbrug/session.json)",
    )
    .requiredOption('--node <url>', "the node's HTTPS address, e.g. https://127.0.0.1:8443")
    .option('--username <name>', 'your sign-in name at the node (password and authenticator code)')
    .option('--oidc', "sign in at the hospital's identity provider instead: open the page shown and enter the code")
    .option(
      '--ca <file>',
      "the CA certificate that signed the node's server certificate (PEM); the system's CAs otherwise",
    )
    .action(async (o: { node: string; username?: string; oidc?: boolean; ca?: string }) => {
      const { loginFromCli } = await import('./login-command.ts');
      await loginFromCli({
        node: o.node,
        ...(o.username !== undefined ? { username: o.username } : {}),
        ...(o.oidc === true ? { oidc: true } : {}),
        ...(o.ca !== undefined ? { caFile: o.ca } : {}),
      });
    });

  program
    .command('logout')
    .description('end your session at the node and remove the saved sign-in')
    .action(async () => {
      const { logoutFromCli } = await import('./login-command.ts');
      await logoutFromCli();
    });

  program
    .command('send')
    .description(
      'ask your node (signed in: beeldbrug login) to send a study to a partner hospital, and follow it until delivered; the node sends it (mutual TLS, verified, resumable, retried)',
    )
    .requiredOption('--study <uid>', 'the StudyInstanceUID to send')
    .requiredOption('--to <partner>', 'the partner organization: its URA number or its name in exchange.partners')
    .addOption(
      new Option('--purpose <purpose>', 'why: transfer of care, consultation, or internal')
        .choices(['transfer', 'consultation', 'internal'])
        .makeOptionMandatory(),
    )
    .addOption(new Option('--urgency <urgency>', 'how urgent').choices(['routine', 'urgent']).default('routine'))
    .option('--reason <text>', 'the reason or question for the receiving radiologist', '')
    .option('--consent <reference>', 'the explicit consent reference (required for consultation)')
    .option(
      '--give-up-after <duration>',
      'stop following (exit 1) when not delivered within this time: 90s, 10m, 2h',
      durationOption,
      600,
    )
    .option('--max-attempts <n>', 'stop following (exit 1) once this many attempts have failed', positiveInt)
    .option('--no-wait', 'return once the transfer is queued')
    .action(
      async (o: {
        study: string;
        to: string;
        purpose: 'transfer' | 'consultation' | 'internal';
        urgency: 'routine' | 'urgent';
        reason: string;
        consent?: string;
        giveUpAfter: number;
        maxAttempts?: number;
        wait: boolean;
      }) => {
        const { sendFromCli } = await import('./send-command.ts');
        await sendFromCli({
          study: o.study,
          to: o.to,
          purpose: o.purpose,
          urgency: o.urgency,
          reason: o.reason,
          noWait: !o.wait,
          giveUpAfterSeconds: o.giveUpAfter,
          ...(o.maxAttempts !== undefined ? { maxAttempts: o.maxAttempts } : {}),
          ...(o.consent !== undefined ? { consent: o.consent } : {}),
        });
      },
    );

  program
    .command('timeline')
    .description(
      "a patient's studies at other hospitals, newest first, asked by your node in your name (signed in: beeldbrug login); optionally retrieve one",
    )
    .argument('<bsn>', 'the BSN (checked with the elfproef)')
    .option('--reports', 'include report texts')
    .option('--json', 'print the timeline as JSON')
    .option(
      '--retrieve <studyUid>',
      'then ask the source of this study to send it here (into the cache and, by the routing rules, the PACS)',
    )
    .option('--wait <seconds>', 'with --retrieve: wait this long for it to arrive (0: do not wait)', positiveInt, 300)
    .action(async (bsn: string, o: { reports?: boolean; json?: boolean; retrieve?: string; wait: number }) => {
      const { timelineFromCli } = await import('./timeline-command.ts');
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
    .command('migrate')
    .description(
      'with the registry stopped, copy its embedded file (localizations, consents with their ids and histories) to the database server its configuration names, and verify the copy; run again to resume',
    )
    .requiredOption('-c, --config <file>', `registry configuration file (${REGISTRY_CONFIG_FILE_NAME})`)
    .option('--json', JSON_HELP)
    .action(async (o: { config: string; json?: boolean }) => {
      const { migrateRegistryFromCli } = await import('./registry-command.ts');
      process.exitCode = await migrateRegistryFromCli(loadRegistryConfig(o.config), process.stdout, o.json === true);
    });
  registry
    .command('start')
    .description('run the registry from its configuration until SIGINT or SIGTERM')
    .requiredOption('-c, --config <file>', `registry configuration file (${REGISTRY_CONFIG_FILE_NAME})`)
    .action(async (o: { config: string }) => {
      const config = loadRegistryConfig(o.config);
      const [{ createLogger }, { serveRegistry }] = await Promise.all([
        import('../log/index.ts'),
        import('./registry-command.ts'),
      ]);
      await serveRegistry(config, createLogger({ level: config.log.level, name: config.registry.name }));
    });
  registry
    .command('init')
    .description(
      'write a registry configuration into DIR (put its certificate in DIR/pki with `beeldbrug pki node --out DIR/pki`)',
    )
    .argument('<dir>', 'folder for the registry')
    .option('--name <name>', 'registry name', 'Beeldbrug registry')
    .option('--organization <name>', 'the operating organization', 'Regionaal samenwerkingsverband')
    .option('--ura <number>', 'its URA number', uraNumber, '00000000')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'HTTPS port', portNumber(0), 8443)
    .option(
      '--client <URA:name>',
      'an organization that may call the registry (repeatable; at least one)',
      repeatable(registryClient),
      [],
    )
    .option('--json', JSON_HELP)
    .action(
      async (
        dir: string,
        o: {
          name: string;
          organization: string;
          ura: string;
          host: string;
          port: number;
          client: { ura: string; name: string }[];
          json?: boolean;
        },
      ) => {
        if (o.client.length === 0) {
          throw new BeeldbrugError(
            'COMMAND_LINE_INVALID',
            'name at least one organization that may call the registry: --client URA:name (repeatable); the registry refuses every other caller',
          );
        }
        const { initRegistry } = await import('./registry-command.ts');
        const path = initRegistry(resolve(dir), {
          name: o.name,
          organization: { name: o.organization, ura: o.ura },
          host: o.host,
          port: o.port,
          clients: o.client,
        });
        if (o.json === true) printJson({ configPath: path });
        else process.stdout.write(`wrote ${path}\n`);
      },
    );
  registry
    .command('network-key')
    .description('write a fresh network key for BSN pseudonyms (give every node a copy, never the registry)')
    .requiredOption('-o, --out <file>', 'where to write it')
    .option('--json', JSON_HELP)
    .action(async (o: { out: string; json?: boolean }) => {
      const { writeNetworkKey } = await import('./registry-command.ts');
      writeNetworkKey(resolve(o.out));
      if (o.json === true) printJson({ keyPath: resolve(o.out) });
      else process.stdout.write(`wrote ${resolve(o.out)}\n`);
    });

  const pki = program
    .command('pki')
    .description('a test CA and node certificates for the demo and tests (production uses the hospital PKI)');
  pki
    .command('ca')
    .description('make a root CA (ca.crt, ca.key) and an issuing CA under it (issuing-ca.crt, issuing-ca.key) in DIR')
    .requiredOption('-o, --out <dir>', 'folder for the CA')
    .option('--name <cn>', 'the CA common name', 'Beeldbrug test CA')
    .option('--json', JSON_HELP)
    .action(async (o: { out: string; name: string; json?: boolean }) => {
      const { makeCa } = await import('./pki-command.ts');
      const written = makeCa(resolve(o.out), o.name);
      if (o.json === true) printJson(written);
      else
        process.stdout.write(
          `wrote ${written.certPath}\nwrote ${written.keyPath}\nwrote ${written.issuingCertPath}\nwrote ${written.issuingKeyPath}\n`,
        );
    });
  pki
    .command('node')
    .description(
      'make a node certificate signed by the issuing CA, naming the organization and its URA as a UZI server certificate does: node.crt (with the issuing CA), node.key, ca.crt',
    )
    .requiredOption('--ca <dir>', 'folder with ca.crt and ca.key')
    .requiredOption('-o, --out <dir>', 'folder for the node certificate')
    .requiredOption('--name <cn>', 'the node name (certificate common name)')
    .requiredOption('--organization <name>', 'the organization name')
    .requiredOption('--ura <number>', 'the organization URA number (8 digits)', uraNumber)
    .option(
      '--host <name-or-ip>',
      'a DNS name or IPv4 address the node is reached at (repeatable)',
      repeatable((v: string) => v),
      [],
    )
    .option('--json', JSON_HELP)
    .action(
      async (o: {
        ca: string;
        out: string;
        name: string;
        organization: string;
        ura: string;
        host: string[];
        json?: boolean;
      }) => {
        const hosts = o.host.length > 0 ? o.host : ['localhost', '127.0.0.1'];
        const { makeNodeCertificate } = await import('./pki-command.ts');
        const r = makeNodeCertificate(resolve(o.ca), resolve(o.out), {
          commonName: o.name,
          organization: o.organization,
          ura: o.ura,
          hosts,
        });
        if (o.json === true) printJson(r);
        else process.stdout.write(`wrote ${r.certPath}\nwrote ${r.keyPath}\nwrote ${r.caPath}\n`);
      },
    );

  return program;
}
