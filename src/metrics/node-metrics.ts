import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What a gauge reads at scrape time: counts kept elsewhere (the outbox, the inbox, the DICOM listeners). */
export interface MetricSources {
  /** Associations open now, over all DICOM listeners. */
  associationsOpen: () => number;
  /** Outgoing transfers by state. */
  outgoing: () => Promise<Record<string, number>>;
  /** Incoming transfers by state. */
  incoming: () => Promise<Record<string, number>>;
  /** Instances waiting to go into each PACS (routing rules and accepted studies), by AE title. */
  pacsQueue: () => Record<string, number>;
}

/**
 * The node's Prometheus metrics, in a registry of its own (several nodes in one process, as in the tests, do not mix).
 * Counters are told as things happen; gauges read their sources when scraped. No label carries patient data: sources
 * are named by URA, errors by catalog code, associations by outcome.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly #associations: Counter<'outcome' | 'code'>;
  readonly #instances: Counter;
  readonly #timeline: Histogram<'source' | 'status'>;
  readonly #errors: Counter<'code' | 'interface'>;
  readonly #received: Counter<'form'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'beeldbrug_' });
    this.#associations = new Counter({
      name: 'beeldbrug_dimse_associations_total',
      help: 'DICOM associations asked for, by outcome (accepted, rejected) and the rejection code',
      labelNames: ['outcome', 'code'],
      registers,
    });
    this.#instances = new Counter({
      name: 'beeldbrug_instances_stored_total',
      help: 'instances stored (new ones; a duplicate is not counted), from any source',
      registers,
    });
    this.#timeline = new Histogram({
      name: 'beeldbrug_timeline_source_seconds',
      help: 'how long each timeline source took to answer, by source URA and outcome',
      labelNames: ['source', 'status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.#errors = new Counter({
      name: 'beeldbrug_errors_total',
      help: 'errors answered, by catalog code and interface (http)',
      labelNames: ['code', 'interface'],
      registers,
    });
    this.#received = new Counter({
      name: 'beeldbrug_exchange_instances_received_total',
      help: 'instances a partner node sent and this node stored, by how they travelled: packed (uncompressed pixels as JPEG-LS lossless, restored here) or as-stored',
      labelNames: ['form'],
      registers,
    });
    new Gauge({
      name: 'beeldbrug_dimse_associations_open',
      help: 'DICOM associations open now',
      registers,
      collect() {
        this.set(sources.associationsOpen());
      },
    });
    const byState = (name: string, help: string, read: () => Promise<Record<string, number>>) =>
      new Gauge({
        name,
        help,
        labelNames: ['state'],
        registers,
        async collect() {
          const counts = await read();
          this.reset();
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      });
    byState('beeldbrug_transfers_outgoing', 'outgoing transfers by state', sources.outgoing);
    byState('beeldbrug_transfers_incoming', 'incoming transfers by state', sources.incoming);
    new Gauge({
      name: 'beeldbrug_outbox_queue_depth',
      help: 'outgoing transfers waiting or being sent',
      registers,
      async collect() {
        const o = await sources.outgoing();
        this.set((o['queued'] ?? 0) + (o['sending'] ?? 0));
      },
    });
    new Gauge({
      name: 'beeldbrug_pacs_queue_depth',
      help: 'instances waiting to go into a PACS, by AE title',
      labelNames: ['pacs'],
      registers,
      collect() {
        this.reset();
        for (const [pacs, n] of Object.entries(sources.pacsQueue())) this.set({ pacs }, n);
      },
    });
  }

  associationAccepted(): void {
    this.#associations.inc({ outcome: 'accepted', code: '' });
  }

  associationRejected(code: string): void {
    this.#associations.inc({ outcome: 'rejected', code });
  }

  instanceStored(): void {
    this.#instances.inc();
  }

  exchangeInstanceReceived(form: 'packed' | 'as-stored'): void {
    this.#received.inc({ form });
  }

  timelineSource(o: { ura: string; status: string; ms: number }): void {
    this.#timeline.observe({ source: o.ura, status: o.status }, o.ms / 1000);
  }

  error(code: string, iface: 'http'): void {
    this.#errors.inc({ code, interface: iface });
  }

  /** The exposition text and its content type, for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
