import { createPrivateKey, hkdfSync, type X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BSN_ISSUER_OID } from '../patient/index.ts';
import { BEELDBRUG_VERSION, type Config } from '../config/index.ts';
import { DimseServer } from '../dimse/index.ts';
import type { AuditTrail } from '../audit/index.ts';
import { openAuditTrail } from './audit-trail.ts';
import { AtnaExporter } from './atna-export.ts';
import { openAccounts, openOidc } from './accounts.ts';
import { describeInsecure, insecureResolvedPeers, insecureSettings } from './secure-defaults.ts';
import { insecureFiles } from './insecure-files.ts';
import { privateDatabaseFile } from './private-files.ts';
import { openAssertions, registerAccountRoutes } from './account-routes.ts';
import { registerAccountAdminRoutes } from './account-admin-routes.ts';
import { registerMetricsRoute, registerNodeAdminRoutes } from './node-admin-routes.ts';
import { registerPacsRoutes } from './pacs-routes.ts';
import { NodeMetrics } from '../metrics/index.ts';
import { SignInRateLimit } from '../auth/index.ts';
import {
  ArrivalNotifier,
  arrivalNotice,
  importAbout,
  importGrounds,
  type IncomingTransfer,
  Outbox,
  OutboxWorker,
  queueSend,
  registerHelloRoute,
  registerInboxRoutes,
  registerOutboxRoutes,
  registerTransferRoutes,
  registerUploadRoute,
  routeFor,
  type Route,
  TransferWatch,
} from '../exchange/index.ts';
import { PacsForwarder } from './pacs-forwarder.ts';
import { startHttpsServer, type RouteAccess } from '../http/index.ts';
import { registerDicomwebRoutes } from '../dicomweb/index.ts';
import { startPackingThreads } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import {
  readEncryptionKeyFile,
  setBlobWriterThreads,
  startBlobReaders,
  StoreError,
  type Store,
} from '../store/index.ts';
import { NodeRecords, QUARANTINE_SCHEMA } from './node-store.ts';
import { type AccessGrounds, PatientData, type PatientDataAccess } from '../studies/index.ts';
import { dimseHandlers } from './dimse-handlers.ts';
import { RetentionJob } from './retention-job.ts';
import {
  admit,
  normalizeAddress,
  notOurOrganization,
  peerCertificateCheck,
  resolveHosts,
  resolvePeers,
} from './peer-allow-list.ts';
import { hl7Listener, Prefetcher, registerRespondingGateway, virtualPacs, XcaCommunity } from '../gateway/index.ts';
import { StableStudySends } from './stable-study-sends.ts';
import { pacsAt, pacsSourceFor } from './pacs-source.ts';
import { identityProviderCertificate, readConfiguredFile, readTlsFiles } from './tls-files.ts';
import { HttpsRegistryClient, readNetworkKeyFile, type RegistryClient } from '../registry/index.ts';
import { registerWorkspaceRoutes, WORKSPACE_ROOT } from '../workspace/index.ts';
import {
  httpsSmsGateway,
  offlineViewerPage,
  Quarantine,
  loadSftp,
  registerShareRoutes,
  registerUploadRoutes,
  Shares,
  smtpMailer,
} from '../share/index.ts';
import {
  LocalizationPublisher,
  registerTimelineRoutes,
  registerTimelineSourceRoutes,
  requesterUser,
  TimelineService,
} from '../timeline/index.ts';

export interface RunningNode {
  /** The only way to patient data: every access authorized, consented where needed, and recorded. */
  readonly patientData: PatientData;
  /** The store itself, for operator checks and tests; nothing of the node reaches patient data through it. */
  readonly store: Store;
  /** The DIMSE ports actually listening, in configuration order (a configured port 0 gets one from the OS). */
  readonly dimsePorts: readonly number[];
  /** The node-to-node HTTPS listener, when `exchange` is configured, with every route and who may call it. */
  readonly https: { port: number; routes: readonly { method: string; url: string; access: RouteAccess }[] } | undefined;
  /** The SFTP port for partner accounts, when `share.sftp` is configured. */
  readonly sftpPort: number | undefined;
  /** The HL7 (MLLP) port for orders from the RIS, when `hl7` is configured. */
  readonly hl7Port: number | undefined;
  /** The PACS forwarders by destination AE title, as routing created them. */
  forwarding(): ReadonlyMap<string, PacsForwarder>;
  /** The node's audit trail (NEN 7513). */
  readonly audit: AuditTrail;
  /** The durable queue of outgoing transfers, when `exchange` is configured. */
  readonly outbox: Outbox | undefined;
  /** The timeline (requesting side), when `exchange` is configured. */
  readonly timeline: TimelineService | undefined;
  /** What keeps the registry's localizations in step, when a registry is configured. */
  readonly localization: LocalizationPublisher | undefined;
  /** The retention job: one pass can be asked for besides its own schedule (an operator's check, a test). */
  readonly retention: { runOnce(): Promise<void> };
  close(): Promise<void>;
}

/** What a test sets besides the configuration. */
export interface NodeOptions {
  /** The clock of the sign-in rate limit, shares and retention (milliseconds since the epoch). */
  now?: () => number;
}

/** The SFTP side of a node that serves partner accounts (share.sftp): ssh2 loads here, and the host key is read or made. */
async function openPartnerSftp(
  settings: NonNullable<NonNullable<Config['share']>['sftp']>,
  dataDir: string,
): Promise<{
  settings: typeof settings;
  side: Awaited<ReturnType<typeof loadSftp>>;
  hostKey: string;
  fingerprint: string;
}> {
  const side = await loadSftp();
  const hostKey = await side.sftpHostKey(join(dataDir, 'sftp-host-key'));
  return { settings, side, hostKey, fingerprint: side.hostKeyFingerprint(hostKey) };
}

/** Builds one hospital node from its configuration, in dependency order, and shuts it down in reverse. */
export async function startNode(
  config: Readonly<Config>,
  logger: Logger,
  options: NodeOptions = {},
): Promise<RunningNode> {
  let encryptionKey: Buffer;
  try {
    encryptionKey = readEncryptionKeyFile(config.store.encryptionKeyFile);
  } catch (cause) {
    const why = cause instanceof StoreError ? `${cause.code}: ${cause.message}` : String(cause);
    throw new BeeldbrugError(
      'KEY_FILE_PROBLEM',
      `the store encryption key cannot be used (${why}); \`beeldbrug init\` writes a fresh one`,
      { cause },
    );
  }
  // Files named in the configuration are read before anything opens, so that a missing one stops the start cleanly.
  const oidcSignIn = config.auth.oidc !== undefined ? openOidc(config.auth.oidc) : undefined;
  const assertions = openAssertions(config);
  const atna = config.audit.atna;
  const atnaTls = atna !== undefined ? readTlsFiles(atna.tls) : undefined;
  // A secret others may read stops the start before it is used: the database password before the accounts connect
  // with it (whether there is an admin is then told at the next start).
  const files = insecureFiles(config);
  if (files.length > 0)
    throw new BeeldbrugError(
      'CONFIG_INSECURE',
      describeInsecure([...insecureSettings(config, { admins: 1 }), ...files]),
    );
  const accounts = await openAccounts(config);
  const insecure = insecureSettings(config, { admins: await accounts.count('admin') });
  if (insecure.length > 0) {
    await accounts.close();
    throw new BeeldbrugError('CONFIG_INSECURE', describeInsecure(insecure));
  }
  // Created 0600 before SQLite opens them (openAccounts made the data folder private); their journals follow.
  const embedded = config.database.kind === 'embedded';
  for (const db of embedded ? ['index.sqlite', 'audit.sqlite'] : []) privateDatabaseFile(join(config.dataDir, db));
  setBlobWriterThreads(config.store.writeThreads);
  const records = new NodeRecords(config, logger.child({ part: 'store' }));
  let store: Store;
  let audit: Awaited<ReturnType<typeof openAuditTrail>>;
  try {
    store = await records.store({ dataDir: config.dataDir, encryptionKey });
    audit = await openAuditTrail(config).catch(async (err: unknown) => {
      await store.close();
      throw err;
    });
  } catch (err) {
    // A start that stops here leaves no connection open: the process (or a test) can end.
    await records.close();
    await accounts.close();
    throw err;
  }
  // An expired session is refused when presented; this removes the ones nobody presents again.
  const sweeper = setInterval(
    () => void accounts.sweep().catch((err: unknown) => logger.warn({ err }, 'expired sessions could not be removed')),
    3600_000,
  ).unref();
  const closers: (() => Promise<void>)[] = [
    // Last: the stores below use its connections.
    () => records.close(),
    async () => audit.close(),
    async () => (clearInterval(sweeper), accounts.close()),
    () => store.close(),
    async () => oidcSignIn?.close(),
  ];
  if (atna !== undefined && atnaTls !== undefined) {
    const exporter = new AtnaExporter({
      trail: audit,
      source: { node: config.node.name, ura: config.node.organization.ura, aeTitle: config.dimse.aeTitle },
      host: atna.host,
      port: atna.port,
      tls: atnaTls,
      cursor: await records.exportCursor(`${atna.host}:${atna.port}`),
      leases: await records.taskLeases(),
      pollMs: atna.pollMs,
      logger: logger.child({ part: 'atna' }),
    });
    exporter.start();
    closers.push(() => exporter.close());
  }
  let closing: Promise<void> | undefined;
  // Once, in reverse order of opening; a second call waits for the first.
  const closeAll = (): Promise<void> =>
    (closing ??= (async () => {
      for (const close of closers.reverse())
        await close().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
    })());
  try {
    // Set once the exchange part below is up: the registry decides every release to another organization.
    let registry: RegistryClient | undefined;
    const patientData = new PatientData({
      store,
      audit,
      logger: logger.child({ part: 'studies' }),
      retrieveAeTitle: config.dimse.aeTitle,
      node: config.node.name,
      consent: () => {
        const r = registry;
        return r !== undefined ? { mayRelease: (bsn, toUra) => r.mayRelease(bsn, toUra, 'imaging') } : undefined;
      },
    });
    /**
     * The quarantine: a study store of its own (under `quarantine/`, encrypted like the main one) behind a PatientData of
     * its own, so an upload reaches the hospital's studies only when a person imports it into the PACS.
     */
    const openQuarantine = async (c: NonNullable<typeof config.share>) => {
      const dir = join(config.dataDir, QUARANTINE_SCHEMA);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (embedded) privateDatabaseFile(join(dir, 'index.sqlite'));
      const quarantineStore = await records.store({ dataDir: dir, encryptionKey, schema: QUARANTINE_SCHEMA });
      closers.push(() => quarantineStore.close());
      const uploads = await records.uploads();
      closers.push(() => uploads.close());
      const data = new PatientData({
        store: quarantineStore,
        audit,
        logger: logger.child({ part: 'quarantine' }),
        retrieveAeTitle: config.dimse.aeTitle,
        node: config.node.name,
      });
      await data.recover();
      const quarantine = new Quarantine({
        store: uploads,
        patientData: data,
        incomingDir: join(dir, 'incoming'),
        nodeKey: Buffer.from(hkdfSync('sha256', encryptionKey, Buffer.alloc(0), 'beeldbrug quarantine v1', 32)),
        maxUploadBytes: c.maxUploadBytes,
        logger: logger.child({ part: 'quarantine' }),
        node: config.node.name,
        ...(options.now !== undefined ? { now: options.now } : {}),
      });
      await quarantine.start();
      closers.push(() => quarantine.stop());
      return quarantine;
    };
    const openShares = async (c: NonNullable<typeof config.share>): Promise<Shares> => {
      const shareStore = await records.shares();
      const mailer = smtpMailer(c.smtp);
      closers.push(async () => (mailer.close(), await shareStore.close()));
      return new Shares({
        store: shareStore,
        patientData,
        mailer,
        sms: httpsSmsGateway(c.sms),
        logger: logger.child({ part: 'share' }),
        node: config.node.name,
        hospital: config.node.organization.name,
        organizationUra: config.node.organization.ura,
        publicUrl: c.publicUrl,
        validDays: c.validDays,
        maxOpens: c.maxOpens,
        // Codes are hashed with a key of the node's own, so the share database alone does not give them away.
        codeKey: Buffer.from(hkdfSync('sha256', encryptionKey, Buffer.alloc(0), 'beeldbrug share codes v1', 32)),
        ...(options.now !== undefined ? { now: options.now } : {}),
      });
    };
    // Opened before the first retention pass, which keeps the studies of shares that have not ended.
    const shares = config.share !== undefined ? await openShares(config.share) : undefined;
    const quarantine = config.share !== undefined ? await openQuarantine(config.share) : undefined;
    // Sources the gauges read at scrape time; set as the parts below come up.
    const dimseServers: DimseServer[] = [];
    let forwarding: ReadonlyMap<string, PacsForwarder> = new Map();
    let outboxCounts: () => Promise<Record<string, number>> = async () => ({});
    let inboxCounts: () => Promise<Record<string, number>> = async () => ({});
    const metrics = new NodeMetrics({
      associationsOpen: () => dimseServers.reduce((n, s) => n + s.activeAssociations, 0),
      outgoing: () => outboxCounts(),
      incoming: () => inboxCounts(),
      pacsQueue: () => Object.fromEntries([...forwarding].map(([ae, f]) => [ae, f.pending])),
    });
    patientData.onStored(() => metrics.instanceStored());
    const recovery = await patientData.recover();
    logger.info(
      {
        ...recovery,
        unindexedBlobs: recovery.unindexedBlobs.length,
        missingBlobs: recovery.missingBlobs.length,
        unreadable: recovery.unreadable.length,
      },
      'store recovered',
    );
    if (recovery.missingBlobs.length > 0)
      logger.error({ count: recovery.missingBlobs.length }, 'indexed instances without their file; run a store check');
    let localization: LocalizationPublisher | undefined;
    const retention = new RetentionJob({
      patientData,
      audit,
      retentionDays: config.store.retentionDays,
      auditRetentionYears: config.audit.retentionYears,
      logger: logger.child({ part: 'retention' }),
      onPurged: async (bsns) => localization?.purged(bsns),
      leases: await records.taskLeases(),
      ...(shares !== undefined ? { shares } : {}),
      ...(quarantine !== undefined ? { quarantine } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    closers.push(() => retention.close());
    retention.start();
    const peers = await resolvePeers(config.dimse.peers);
    const resolvedInsecure = insecureResolvedPeers(config, peers);
    if (resolvedInsecure.length > 0) throw new BeeldbrugError('CONFIG_INSECURE', describeInsecure(resolvedInsecure));
    // Set once the exchange part below is up; C-MOVEs to a partner's AE title go through it.
    let sendToPartner:
      | ((
          destination: string,
          studyInstanceUids: readonly string[],
          by: { callingAeTitle: string; remoteAddress: string; associationId: string },
        ) => Promise<void>)
      | undefined;
    const partnerDestinations = (config.exchange?.partners ?? []).flatMap((p) =>
      p.aeTitle !== undefined ? [p.aeTitle.trim()] : [],
    );
    // Set once the exchange part below is up; the virtual PACS asks other hospitals, and watches their studies come in.
    let timeline: TimelineService | undefined;
    let transferWatch: TransferWatch | undefined;
    const externalAe = config.timeline.externalAe;
    const partnerSends = new StableStudySends({
      stableMs: (config.exchange?.studyStableSeconds ?? 3) * 1000,
      queue: async (destination, uids, by) => {
        if (sendToPartner === undefined)
          throw new BeeldbrugError('PARTNER_UNKNOWN', 'node-to-node exchange is not running');
        await sendToPartner(destination, uids, by);
      },
      logger: logger.child({ part: 'dimse' }),
    });
    const handlers = dimseHandlers({
      patientData,
      node: config.node.name,
      partnerDestinations,
      partnerSends,
      ...(externalAe !== undefined
        ? {
            virtualPacs: {
              aeTitle: externalAe.aeTitle.trim(),
              handlers: virtualPacs({
                aeTitle: externalAe.aeTitle.trim(),
                timeline: () => timeline,
                arrivals: {
                  watch: async (transferId, w) => {
                    if (transferWatch === undefined)
                      throw new BeeldbrugError('PARTNER_UNKNOWN', 'node-to-node exchange is not running');
                    return transferWatch.watch(transferId, w);
                  },
                },
                retrieveIdleMs: externalAe.retrieveIdleSeconds * 1000,
                patientData,
                node: config.node.name,
                logger: logger.child({ part: 'virtual-pacs' }),
              }),
            },
          }
        : {}),
      sendToPartner: async (destination, uids, by) => {
        if (sendToPartner === undefined)
          throw new BeeldbrugError('PARTNER_UNKNOWN', 'node-to-node exchange is not running');
        await sendToPartner(destination, uids, by);
      },
      moveDestinations: config.dimse.peers.flatMap((p) =>
        p.port !== undefined
          ? [
              {
                aeTitle: p.aeTitle.trim(),
                host: p.host,
                port: p.port,
                tls: p.tls,
                verifyPeer: peerCertificateCheck(p, config.node.organization.ura),
              },
            ]
          : [],
      ),
      tlsClient: config.dimse.tlsClient !== undefined ? readTlsFiles(config.dimse.tlsClient) : undefined,
      logger: logger.child({ part: 'dimse' }),
    });

    const externalCallers = new Map(
      externalAe !== undefined ? [[externalAe.aeTitle.trim(), externalAe.callers.map((c) => c.trim())]] : [],
    );
    const dimsePorts: number[] = [];
    for (const listener of config.dimse.listeners) {
      const server = new DimseServer({
        aeTitle: config.dimse.aeTitle,
        admit: (req) => {
          const decision = admit(
            req,
            [config.dimse.aeTitle, ...partnerDestinations, ...(externalAe !== undefined ? [externalAe.aeTitle] : [])],
            peers,
            config.node.organization.ura,
            externalCallers,
          );
          return decision.accept
            ? { accept: true }
            : {
                accept: false,
                reason: decision.reason,
                detail: decision.detail,
                ...(decision.code !== undefined ? { code: decision.code } : {}),
              };
        },
        handlers,
        maxPduLength: config.dimse.maxPduLength,
        maxAssociations: config.dimse.maxAssociations,
        timeouts: {
          artimMs: config.dimse.timeouts.artimSeconds * 1000,
          idleMs: config.dimse.timeouts.idleSeconds * 1000,
        },
        ...(listener.tls !== undefined ? { tls: readTlsFiles(listener.tls) } : {}),
        logger: logger.child({ part: 'dimse', port: listener.port }),
        onAssociation: (o) => (o.accepted ? metrics.associationAccepted() : metrics.associationRejected(o.code)),
      });
      dimseServers.push(server);
      const { port } = await listening(`DICOM ${listener.host}:${listener.port}`, () =>
        server.listen(listener.port, listener.host),
      );
      closers.push(() => server.close());
      dimsePorts.push(port);
    }
    let https: RunningNode['https'];
    let outbox: Outbox | undefined;
    let sftpPort: number | undefined;
    let hl7Port: number | undefined;
    // The viewer that goes into each share's zip, from the built web app (read once).
    const offlineViewer = config.share !== undefined ? offlineViewerPage(WORKSPACE_ROOT) : undefined;
    // Read (or made) before the workspace's routes, which tell partners the key's fingerprint.
    const partnerSftp =
      config.share?.sftp !== undefined ? await openPartnerSftp(config.share.sftp, config.dataDir) : undefined;
    /** Enabled partner accounts, read when asked: an admin may add one at any time. */
    const partnerAccounts = async (): Promise<{ id: string; username: string; organization: string }[]> =>
      (await accounts.list()).flatMap((a) =>
        a.role === 'partner' && !a.disabled && a.organization !== undefined
          ? [{ id: a.id, username: a.username, organization: a.organization }]
          : [],
      );
    if (config.exchange !== undefined) {
      const exchange = config.exchange;
      const nodeTls = readTlsFiles(exchange.tls);
      if (config.registry !== undefined) {
        registry = new HttpsRegistryClient({
          baseUrl: config.registry.baseUrl,
          tls: nodeTls,
          networkKey: readNetworkKeyFile(config.registry.networkKeyFile),
          ourUra: config.node.organization.ura,
          timeoutMs: config.registry.timeoutSeconds * 1000,
        });
        const theRegistry = registry;
        closers.push(async () => theRegistry.close());
        const localizing = patientData.openForTask(
          'localization',
          'localization publisher',
          'localization',
          'registry localization',
        );
        localization = new LocalizationPublisher({
          registry,
          studies: {
            onStored: (listener) => patientData.onStored(listener),
            patientBsns: () => localizing.patientBsns(),
            holds: async (bsn) => (await localizing.patientStudies(bsn)).length > 0,
          },
          logger: logger.child({ part: 'localization' }),
          archive: config.exchange?.fetchFrom !== undefined,
        });
        const publisher = localization;
        closers.push(() => publisher.close());
        await publisher.start();
      }
      timeline = new TimelineService({
        registry,
        regionalSources: config.timeline.regionalSources,
        partners: exchange.partners,
        us: config.node.organization,
        tls: nodeTls,
        patientData,
        node: config.node.name,
        sourceTimeoutMs: config.timeline.sourceTimeoutMs,
        onSource: (o) => metrics.timelineSource(o),
        communities: xcaCommunities(config, nodeTls, logger),
        intoPacs: async ({ community, studyInstanceUid, destination }) => {
          const route: Route =
            destination !== undefined
              ? { action: 'forward', destination }
              : routeFor(exchange.routing, { senderUra: community.id, purpose: 'retrieval' });
          const forwarder = route.action === 'forward' ? forwarderFor(route.destination) : undefined;
          if (route.action !== 'forward' || forwarder === undefined) return undefined;
          const access = patientData.openForTask(
            'xca-import',
            `studies retrieved from ${community.name}`,
            'import',
            'a retrieval from the timeline',
          );
          const released = await access.releaseStudy(studyInstanceUid, undefined);
          for (const i of released) forwarder.enqueue(i);
          await forwarder.settled();
          const uids = new Set(released.map((i) => i.stored.instance.sopInstanceUid));
          const failed = forwarder.failed.filter((uid) => uids.has(uid)).length;
          const bsn = released[0]?.stored.patient.bsn;
          await access.record({
            action: 'import',
            outcome: failed === 0 ? 'success' : 'failure',
            description: `study from ${community.name} (XCA) into ${route.destination}: ${released.length - failed} of ${released.length} instances`,
            ...(bsn !== null && bsn !== undefined ? { patient: { bsn } } : {}),
            objects: { studyInstanceUid },
          });
          return { destination: route.destination, failed };
        },
      });
      const theTimeline = timeline;
      closers.push(async () => theTimeline.close());
      const inbox = await records.inbox();
      const watching = patientData.openForTask(
        'transfer-watch',
        'retrievals the node asked for',
        'retrieve',
        'a C-MOVE through the external AE title, or a prefetch',
      );
      const watch = new TransferWatch(inbox, (m) => watching.heldWithDigest(m.instances));
      transferWatch = watch;
      closers.push(async () => watch.close());
      /** Where an arriving transfer goes: by the routing rules, unless a C-MOVE or prefetch that asked for it delivers it. */
      const routeOf = (transfer: IncomingTransfer): Route =>
        watch.claimed(transfer)
          ? { action: 'hold' }
          : routeFor(exchange.routing, { senderUra: transfer.senderUra, purpose: transfer.manifest.purpose });
      closers.push(async () => inbox.close());
      inboxCounts = () => inbox.countByState();
      outbox = await records.outbox();
      const theOutbox = outbox;
      outboxCounts = () => theOutbox.countByState();
      closers.push(async () => theOutbox.close());
      const source = pacsSourceFor(config, patientData, logger);
      const worker = new OutboxWorker({
        outbox,
        source,
        patientData,
        node: config.node.name,
        partners: exchange.partners,
        tls: nodeTls,
        logger: logger.child({ part: 'outbox' }),
        retry: {
          firstDelayMs: exchange.outbox.firstRetrySeconds * 1000,
          maxDelayMs: exchange.outbox.maxRetrySeconds * 1000,
          giveUpAfterMs: exchange.outbox.giveUpAfterHours * 3600_000,
        },
      });
      closers.push(() => worker.close());
      sendToPartner = async (destination, uids, by) => {
        const partner = exchange.partners.find((p) => p.aeTitle?.trim() === destination);
        if (partner === undefined)
          throw new BeeldbrugError('PARTNER_UNKNOWN', `no partner has AE title ${destination}`);
        // The PACS does not say who pressed "send"; the calling AE and address are what the audit trail can name.
        const user = { id: `dicom:${by.callingAeTitle}@${by.remoteAddress}`, name: by.callingAeTitle };
        for (const studyInstanceUid of uids) {
          await queueSend(
            {
              outbox: theOutbox,
              patientData,
              partners: exchange.partners,
              ourUra: config.node.organization.ura,
              source,
            },
            'dicom-peer',
            { node: config.node.name, ip: by.remoteAddress, aeTitle: by.callingAeTitle },
            {
              studyInstanceUid,
              partnerUra: partner.ura,
              purpose: 'transfer',
              urgency: 'routine',
              reason: `sent from the PACS (${by.callingAeTitle})`,
              user,
            },
          );
        }
        worker.wake();
      };
      const notifier =
        exchange.notify !== undefined
          ? new ArrivalNotifier(exchange.notify.url, logger.child({ part: 'notify' }))
          : undefined;
      closers.push(async () => notifier?.settled());
      const forwarders = new Map<string, PacsForwarder>();
      closers.push(async () => {
        for (const f of forwarders.values()) await f.close();
      });
      const forwarderFor = (aeTitle: string): PacsForwarder | undefined => {
        const peer = config.dimse.peers.find((p) => p.aeTitle.trim() === aeTitle && p.port !== undefined);
        if (peer?.port === undefined) return undefined;
        let f = forwarders.get(aeTitle);
        if (f === undefined) {
          if (peer.tls && config.dimse.tlsClient === undefined) {
            logger.error(
              { destination: aeTitle },
              'the PACS is reached with DICOM TLS but dimse.tlsClient is not configured; nothing is forwarded to it',
            );
            return undefined;
          }
          const tls =
            peer.tls && config.dimse.tlsClient !== undefined
              ? {
                  ...readTlsFiles(config.dimse.tlsClient),
                  verifyPeer: peerCertificateCheck(peer, config.node.organization.ura),
                }
              : undefined;
          f = new PacsForwarder(
            { aeTitle, host: peer.host, port: peer.port, ...(tls !== undefined ? { tls } : {}) },
            {
              ourAeTitle: config.dimse.aeTitle,
              identity: exchange.patientIdentity,
              logger: logger.child({ part: 'forward', destination: aeTitle }),
            },
          );
          forwarders.set(aeTitle, f);
        }
        return f;
      };
      /** The PACS a person's import goes to: the one named, or the routing rules' forward destination. */
      const importTarget = (
        wanted: string | undefined,
      ): { destination: string; forwarder: PacsForwarder } | undefined => {
        const destination = wanted ?? exchange.routing.find((r) => r.action === 'forward')?.destination;
        const forwarder = destination !== undefined ? forwarderFor(destination) : undefined;
        return destination !== undefined && forwarder !== undefined ? { destination, forwarder } : undefined;
      };
      forwarding = forwarders;
      /** The access a received study goes into the PACS through: the routing rule's, or the person's who accepted it. */
      const importAccess = (
        transfer: IncomingTransfer,
        destination: string,
        by: (Pick<AccessGrounds, 'kind' | 'user' | 'responsibleUser'> & { ip: string }) | undefined,
      ): PatientDataAccess =>
        patientData.open(
          importGrounds({
            at: { node: config.node.name, ...(by !== undefined ? { ip: by.ip } : {}) },
            destination,
            manifest: transfer.manifest,
            kind: by?.kind ?? 'node-task',
            ...(by !== undefined ? { acceptedBy: by.user, acceptedFor: by.responsibleUser } : {}),
          }),
        );
      /** Records the import once the forwarder has settled: the study counts as imported when every instance is in. */
      const recordImport = (
        transfer: IncomingTransfer,
        destination: string,
        forwarder: PacsForwarder,
        access: PatientDataAccess,
      ): void => {
        void forwarder.settled().then(async () => {
          const uids = new Set(transfer.manifest.instances.map((i) => i.sopInstanceUid));
          const failed = forwarder.failed.filter((uid) => uids.has(uid)).length;
          try {
            await access.record(
              importAbout({
                destination,
                transferId: transfer.transferId,
                manifest: transfer.manifest,
                outcome: failed === 0 ? 'success' : 'failure',
                failed,
              }),
            );
            if (failed === 0) await inbox.markImported(transfer.transferId);
          } catch (err) {
            logger.error({ transferId: transfer.transferId, err }, 'recording the import failed');
          }
        });
      };
      const server = await listening(`HTTPS ${exchange.listen.host}:${exchange.listen.port}`, () =>
        startHttpsServer({
          host: exchange.listen.host,
          port: exchange.listen.port,
          tls: nodeTls,
          partners: exchange.partners,
          ownUra: config.node.organization.ura,
          ownName: config.node.organization.name,
          ...(assertions !== undefined ? { assertions } : {}),
          logger: logger.child({ part: 'https' }),
          sessions: (token) => accounts.session(token),
          ...(shares !== undefined ? { recipientSessions: (token: string) => shares.recipientSession(token) } : {}),
          onProblem: (code) => metrics.error(code, 'http'),
          openApi: {
            path: '/api/v1/openapi.json',
            title: `Beeldbrug node ${config.node.name}`,
            version: BEELDBRUG_VERSION,
            description:
              "The HTTP API of a Beeldbrug node: the staff workspace's and the CLI's API (/api/v1), DICOMweb (/dicomweb, PS3.18), node-to-node exchange (/exchange/v1, docs/exchange-protocol.md) and the timeline between hospitals (/timeline/v1). Errors are RFC 9457 problem details with a stable `code`.",
          },
          routes: (app) => {
            app.get(
              '/health',
              { config: { access: 'public', doc: { tag: 'node', summary: 'Liveness: answers while the node runs' } } },
              async () => ({ status: 'ok' }),
            );
            registerMetricsRoute(app, metrics);
            const signInLimit = new SignInRateLimit(config.auth.signInRateLimit, options.now);
            registerAccountRoutes(app, {
              accounts,
              audit,
              node: config.node.name,
              logger: logger.child({ part: 'sign-in' }),
              signInLimit,
              ...(oidcSignIn !== undefined ? { oidc: oidcSignIn } : {}),
            });
            registerAccountAdminRoutes(app, { accounts, audit, node: config.node.name });
            const pacsDescription = config.dimse.peers.find((p) => p.aeTitle === source?.aeTitle)?.description;
            registerPacsRoutes(app, { source, description: pacsDescription, patientData, node: config.node.name });
            registerNodeAdminRoutes(app, config);
            registerHelloRoute(app, config.node.organization);
            registerWorkspaceRoutes(app, {
              organization: config.node.organization,
              partners: exchange.partners,
              pacs: config.dimse.peers,
              oidc: oidcSignIn !== undefined,
              sftp:
                partnerSftp !== undefined
                  ? { port: partnerSftp.settings.port, hostKeyFingerprint: partnerSftp.fingerprint }
                  : undefined,
              partnerAccounts: async () =>
                (await partnerAccounts()).map((a) => ({ username: a.username, organization: a.organization })),
              pacsSearch:
                source !== undefined
                  ? {
                      aeTitle: source.aeTitle,
                      ...(pacsDescription !== undefined ? { description: pacsDescription } : {}),
                    }
                  : undefined,
            });
            registerDicomwebRoutes(app, {
              patientData,
              node: config.node.name,
              maxUploadBytes: exchange.maxUploadBytes,
            });
            if (shares !== undefined && config.share !== undefined)
              registerShareRoutes(app, {
                shares,
                patientData,
                node: config.node.name,
                hospital: config.node.organization.name,
                disclaimer: config.share.disclaimer,
                offlineViewer,
                partnerNamed: async (username) => {
                  const a = (await partnerAccounts()).find((x) => x.username === username.toLowerCase());
                  return a !== undefined ? { id: a.id, organization: a.organization } : undefined;
                },
              });
            if (shares !== undefined && quarantine !== undefined)
              registerUploadRoutes(app, {
                shares,
                quarantine,
                node: config.node.name,
                pacsFor: (wanted) => {
                  const target = importTarget(wanted);
                  if (target === undefined) return undefined;
                  const { destination, forwarder } = target;
                  return {
                    destination,
                    send: async (instances, fileAs) => {
                      const uids = new Set(instances.map((i) => i.stored.instance.sopInstanceUid));
                      for (const i of instances)
                        forwarder.enqueue(i, { patientId: fileAs.bsn, issuer: BSN_ISSUER_OID });
                      await forwarder.settled();
                      return { failed: forwarder.failed.filter((uid) => uids.has(uid)).length };
                    },
                  };
                },
              });
            registerTimelineRoutes(app, theTimeline);
            registerTimelineSourceRoutes(app, {
              patientData,
              node: config.node.name,
              us: config.node.organization,
              caPem: nodeTls.ca,
              logger: logger.child({ part: 'timeline-source' }),
              ...(source !== undefined ? { archive: source } : {}),
              queueRetrieval: async (r) => {
                const queued = await queueSend(
                  {
                    outbox: theOutbox,
                    patientData,
                    partners: exchange.partners,
                    ourUra: config.node.organization.ura,
                    source,
                  },
                  'partner-node',
                  { node: config.node.name, ip: r.ip },
                  {
                    studyInstanceUid: r.studyInstanceUid,
                    partnerUra: r.requesterUra,
                    purpose: 'retrieval',
                    urgency: 'routine',
                    reason: `retrieved from the timeline by ${requesterUser(r.claims).name}`,
                    user: requesterUser(r.claims),
                    consentReference: r.consentReference,
                  },
                );
                worker.wake();
                return { transferId: queued.transferId };
              },
            });
            if (config.xca?.identityProviders !== undefined)
              registerRespondingGateway(app, {
                patientData,
                node: config.node.name,
                identity: {
                  homeCommunityId: config.xca.homeCommunityId,
                  repositoryUniqueId: config.xca.repositoryUniqueId,
                  organization: config.node.organization,
                },
                xua: {
                  identityProviders: config.xca.identityProviders.map((p) => ({
                    issuer: p.issuer,
                    certPem: identityProviderCertificate(p.certificateFile, p.issuer),
                  })),
                  audiences: config.xca.audiences ?? [config.xca.homeCommunityId],
                  clockSkewSeconds: config.xca.clockSkewSeconds,
                },
                logger: logger.child({ part: 'xca' }),
                ...(source !== undefined ? { archive: source, fetchFromPacs: (uid: string) => source.fetch(uid) } : {}),
              });
            registerOutboxRoutes(app, {
              outbox: theOutbox,
              patientData,
              node: config.node.name,
              partners: exchange.partners,
              ourUra: config.node.organization.ura,
              source,
              queued: () => worker.wake(),
              cancelled: (transferId) => worker.cancelled(transferId),
            });
            registerTransferRoutes(app, {
              inbox,
              patientData,
              node: config.node.name,
              us: config.node.organization,
              signer: { keyPem: nodeTls.key, certPem: nodeTls.cert },
              onOpened: (transfer) => watch.opened(transfer),
              onDelivered: (transfer) => {
                watch.ended(transfer);
                const route = routeOf(transfer);
                const senderName =
                  exchange.partners.find((p) => p.ura === transfer.senderUra)?.name ?? transfer.senderUra;
                notifier?.notify(arrivalNotice(transfer, senderName, route.action));
                const forwarder = route.action === 'forward' ? forwarderFor(route.destination) : undefined;
                // Instances went into the PACS as they arrived; the study counts as imported once the last one is in.
                if (route.action === 'forward' && forwarder !== undefined)
                  recordImport(
                    transfer,
                    route.destination,
                    forwarder,
                    importAccess(transfer, route.destination, undefined),
                  );
              },
            });
            registerInboxRoutes(app, {
              inbox,
              patientData,
              node: config.node.name,
              identity: exchange.patientIdentity,
              importInto: async (transfer, wanted, by, recordAcceptance) => {
                const target = importTarget(wanted);
                if (target === undefined) return undefined;
                const { destination, forwarder } = target;
                const access = importAccess(transfer, destination, by);
                await recordAcceptance(access, destination);
                const uids = transfer.manifest.instances.map((i) => i.sopInstanceUid);
                for (const released of await access.releaseInstances(uids, undefined)) forwarder.enqueue(released);
                recordImport(transfer, destination, forwarder, access);
                return destination;
              },
            });
            registerUploadRoute(app, {
              inbox,
              patientData,
              node: config.node.name,
              maxUploadBytes: exchange.maxUploadBytes,
              onReceived: (form) => metrics.exchangeInstanceReceived(form),
              onStored: async (transfer, uid) => {
                watch.stored(transfer, uid);
                const route = routeOf(transfer);
                if (route.action !== 'forward') return;
                const forwarder = forwarderFor(route.destination);
                if (forwarder === undefined) return;
                // Each instance goes into the PACS as it arrives; the import is recorded once the study is in.
                const access = importAccess(transfer, route.destination, undefined);
                for (const released of await access.releaseInstances([uid], undefined)) forwarder.enqueue(released);
              },
            });
          },
        }),
      );
      closers.push(() => server.close());
      https = { port: server.port, routes: server.routes };
      await worker.start();
      // Closed first (closers run in reverse): what a PACS sent whole is queued while the outbox is still open.
      closers.push(() => partnerSends.close());
      const hl7 = config.hl7;
      if (hl7 !== undefined) {
        const destination = hl7.prefetch.destination;
        const pacs = pacsAt(
          config,
          { aeTitle: destination, method: 'c-move', setting: 'hl7.prefetch.destination' },
          patientData,
          logger,
        );
        const stopping = new AbortController();
        closers.push(async () => stopping.abort());
        const deliveries = await records.prefetchDeliveries();
        closers.push(() => deliveries.close());
        /**
         * A prior asked for goes into the PACS instance by instance as it arrives (in whatever order the parallel
         * uploads bring them), as a forwarding routing rule does. Done (or failed) unless the node stops meanwhile: then
         * it is taken up again at the next start.
         */
        const deliver = async (
          transferId: string,
          into: string = destination,
        ): Promise<{ instances: number; failed: number }> => {
          const incoming = await watch.watch(transferId, {
            idleMs: hl7.prefetch.retrieveIdleSeconds * 1000,
            signal: stopping.signal,
          });
          try {
            const manifest = await incoming.manifest;
            const transfer = await inbox.find(transferId);
            const forwarder = forwarderFor(into);
            if (transfer === undefined || forwarder === undefined)
              throw new BeeldbrugError('PARTNER_UNKNOWN', `the prior cannot go into ${into}`);
            const access = importAccess(transfer, into, undefined);
            let instances = 0;
            try {
              await Promise.all(
                manifest.instances.map(async (i) => {
                  await incoming.arrived(i.sopInstanceUid);
                  for (const released of await access.releaseInstances([i.sopInstanceUid], undefined))
                    forwarder.enqueue(released);
                  instances++;
                }),
              );
            } finally {
              recordImport(transfer, into, forwarder, access);
            }
            await forwarder.settled();
            const uids = new Set(manifest.instances.map((i) => i.sopInstanceUid));
            return { instances, failed: forwarder.failed.filter((u) => uids.has(u)).length };
          } finally {
            incoming.close();
            if (!stopping.signal.aborted) await deliveries.finish(transferId);
          }
        };
        for (const pending of await deliveries.pending()) {
          logger.info(
            { transferId: pending.transferId },
            'prefetch: a prior asked for before the restart goes on into the PACS',
          );
          void deliver(pending.transferId, pending.destination).catch((err: unknown) =>
            logger.warn({ transferId: pending.transferId, err }, 'prefetch: the prior could not be put into the PACS'),
          );
        }
        const prefetcher = new Prefetcher({
          rules: hl7.prefetch.rules,
          timeline: () => timeline,
          pacsHolds: async (uid) => (await pacs.locate(uid)) !== undefined,
          retrieveIntoPacs: async (prior, asker) => {
            const community = theTimeline.community(prior.sourceUra);
            if (community !== undefined) {
              // From an XCA community the study comes whole into the node first, then goes into the PACS.
              const got = await theTimeline.retrieveFromCommunity({ ...prior, community, asker }, {}, { destination });
              const failed = got.failed + (got.pacs?.failed ?? got.retrieved);
              return { instances: got.retrieved + got.failed - failed, failed };
            }
            const asked = await theTimeline.retrieve({ ...prior, asker });
            await deliveries.add({ transferId: asked.transferId, destination });
            return deliver(asked.transferId);
          },
          logger: logger.child({ part: 'prefetch' }),
        });
        const senders = await resolveHosts(hl7.senders.map((s) => s.host));
        const listener = hl7Listener({
          allowed: (address) => senders.has(normalizeAddress(address)),
          // Like an unbound DICOM peer on a TLS port: the RIS shows a certificate of our own organization.
          ...(hl7.tls !== undefined
            ? {
                tls: {
                  ...readTlsFiles(hl7.tls),
                  clientProblem: (cert: X509Certificate) => notOurOrganization(cert, config.node.organization.ura),
                },
              }
            : {}),
          prefetcher,
          logger: logger.child({ part: 'hl7' }),
        });
        hl7Port = await listening(`HL7 ${hl7.listen.host}:${hl7.listen.port}`, () =>
          listener.listen(hl7.listen.port, hl7.listen.host),
        );
        closers.push(() => listener.close());
        logger.info({ host: hl7.listen.host, port: hl7Port, tls: hl7.tls !== undefined }, 'HL7 listening (orders)');
      }
      logger.info(
        { host: exchange.listen.host, port: server.port, partners: exchange.partners.length },
        'HTTPS listening',
      );
      // Studies to and from partners go through the reader and packing threads: started now, not by the first transfer.
      Promise.all([startBlobReaders(), startPackingThreads()]).then(
        () => logger.debug('reader and packing threads ready'),
        (err: unknown) => logger.warn({ err }, 'the reader and packing threads did not start; the first transfer will'),
      );
      if (partnerSftp !== undefined && shares !== undefined && quarantine !== undefined && config.share !== undefined) {
        const { settings } = partnerSftp;
        const sftp = new partnerSftp.side.SftpServer({
          hostKey: partnerSftp.hostKey,
          accounts,
          shares,
          quarantine,
          audit,
          signInLimit: new SignInRateLimit(config.auth.signInRateLimit, options.now),
          node: config.node.name,
          zipTexts: {
            hospital: config.node.organization.name,
            disclaimer: config.share.disclaimer,
            viewer: offlineViewer,
          },
          logger: logger.child({ part: 'sftp' }),
        });
        sftpPort = await listening(`SFTP ${settings.host}:${settings.port}`, () =>
          sftp.listen(settings.port, settings.host),
        );
        closers.push(() => sftp.close());
        logger.info(
          { host: settings.host, port: sftpPort, hostKey: partnerSftp.fingerprint },
          'SFTP listening (partner accounts)',
        );
      }
    }
    return {
      patientData,
      store,
      audit,
      dimsePorts,
      https,
      sftpPort,
      hl7Port,
      forwarding: () => forwarding,
      outbox,
      timeline,
      localization,
      retention,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Opens a listener; a port in use or not permitted stops the start with the address named. */
async function listening<T>(what: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new BeeldbrugError(
        'LISTEN_FAILED',
        `cannot listen on ${what}: ${code === 'EADDRINUSE' ? 'the port is in use' : code}`,
        { cause },
      );
    }
    throw cause;
  }
}

/** The XCA communities the timeline asks, each with the node's mutual TLS and its assertion key. */
function xcaCommunities(
  config: Config,
  tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer },
  logger: Logger,
): XcaCommunity[] {
  const x = config.xca;
  if (x === undefined || x.assertionSigner === undefined) return [];
  const keyPem = readConfiguredFile('XUA assertion key', x.assertionSigner.keyFile).toString('utf8');
  // XML signatures are RSA in the XCA networks (and in xml-crypto): another key would fail at the first question.
  if (createPrivateKey(keyPem).asymmetricKeyType !== 'rsa')
    throw new BeeldbrugError('KEY_FILE_PROBLEM', `${x.assertionSigner.keyFile} is not an RSA private key`);
  const signer = {
    issuer: x.assertionSigner.issuer,
    keyPem,
    certPem: identityProviderCertificate(x.assertionSigner.certificateFile, x.assertionSigner.issuer),
  };
  return x.communities.map(
    (community) =>
      new XcaCommunity({
        community,
        tls,
        signer,
        us: config.node.organization,
        logger: logger.child({ part: 'xca', community: community.name }),
      }),
  );
}
