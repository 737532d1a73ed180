import { rewriteHeader } from '../dicom/index.ts';
import { Association, Status, type TlsOptions } from '../dimse/index.ts';
import { coercePatient, decideIdentity, type IdentityDecision, type PatientIdentityRule } from '../exchange/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { Logger } from '../log/index.ts';
import type { ReleasedInstance } from '../studies/index.ts';

export interface PacsDestination {
  aeTitle: string;
  host: string;
  port: number;
  /** DICOM TLS to the PACS: our certificate, and the check that the server is that PACS. */
  tls?: TlsOptions;
}

const IDLE_MS = 5_000;

/**
 * Forwards arriving instances into a local PACS with C-STORE, in arrival order, over one association that stays open
 * while instances keep coming (the first images are usable in the PACS within seconds of arriving). An instance whose
 * SOP class or transfer syntax the open association lacks triggers a new one proposing everything seen so far.
 */
export class PacsForwarder {
  readonly #dest: PacsDestination;
  readonly #ourAeTitle: string;
  readonly #log: Logger;
  readonly #identity: PatientIdentityRule;
  readonly #queue: { released: ReleasedInstance; fileAs: { patientId: string; issuer: string } | undefined }[] = [];

  /** Instances waiting to go into this PACS. */
  get pending(): number {
    return this.#queue.length;
  }
  readonly #contexts = new Map<string, Set<string>>();
  #association: Association | undefined;
  #running: Promise<void> | undefined;
  #idle: NodeJS.Timeout | undefined;
  readonly forwarded: string[] = [];
  readonly failed: string[] = [];

  constructor(dest: PacsDestination, o: { ourAeTitle: string; logger: Logger; identity?: PatientIdentityRule }) {
    this.#dest = dest;
    this.#identity = o.identity ?? 'keep';
    this.#ourAeTitle = o.ourAeTitle;
    this.#log = o.logger;
  }

  /**
   * Queues an instance released through the patient-data access that records its forwarding; `fileAs` names the local
   * patient a person chose for it (an upload filed under a BSN), instead of the node's patient-identity rule.
   */
  enqueue(instance: ReleasedInstance, fileAs?: { patientId: string; issuer: string }): void {
    this.#queue.push({ released: instance, fileAs });
    this.#kick();
  }

  #kick(): void {
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  /** Resolves when everything queued so far has been forwarded or has failed. */
  async settled(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async close(): Promise<void> {
    await this.settled();
    clearTimeout(this.#idle);
    await this.#association?.release().catch(() => undefined);
    this.#association = undefined;
  }

  async #drain(): Promise<void> {
    clearTimeout(this.#idle);
    for (let queued = this.#queue.shift(); queued !== undefined; queued = this.#queue.shift()) {
      const { released, fileAs } = queued;
      const next = released.stored;
      const uid = next.instance.sopInstanceUid;
      try {
        const data = this.#dataFor(released, fileAs);
        const assoc = await this.#associationFor(next);
        const status = await assoc.store({
          sopClassUid: next.instance.sopClassUid,
          sopInstanceUid: uid,
          transferSyntaxUid: next.instance.transferSyntaxUid,
          data,
        });
        if (status === Status.Success || (status & 0xf000) === 0xb000) this.forwarded.push(uid);
        else throw new Error(`C-STORE status 0x${status.toString(16)}`);
      } catch (err) {
        this.failed.push(uid);
        this.#log.error({ destination: this.#dest.aeTitle, err }, 'forwarding into the PACS failed');
        this.#association?.abort();
        this.#association = undefined;
      }
    }
    this.#idle = setTimeout(() => {
      void this.#association?.release().catch(() => undefined);
      this.#association = undefined;
    }, IDLE_MS);
    this.#idle.unref();
  }

  /** The instance as the PACS gets it: as stored, or with the patient named by the local rule (pixel data untouched). */
  #dataFor(
    released: ReleasedInstance,
    fileAs: { patientId: string; issuer: string } | undefined,
  ): NodeJS.ReadableStream | AsyncIterable<Buffer> {
    const i = released.stored;
    const sender = { patientId: i.patient.patientId, issuer: i.patient.issuerOfPatientId, bsn: i.patient.bsn };
    const decision: IdentityDecision =
      fileAs !== undefined ? { action: 'coerce', ...fileAs } : decideIdentity(this.#identity, sender);
    if (decision.action === 'refuse')
      throw new BeeldbrugError(
        'PATIENT_IDENTITY_UNRESOLVED',
        `${i.instance.sopInstanceUid} not forwarded: ${decision.reason}`,
      );
    const stored = released.openDataset() as AsyncIterable<Buffer>;
    if (decision.action === 'keep') return stored;
    return rewriteHeader(stored, i.instance.transferSyntaxUid, (header) => coercePatient(header, decision, sender));
  }

  async #associationFor(i: ReleasedInstance['stored']): Promise<Association> {
    const known = this.#contexts.get(i.instance.sopClassUid);
    if (this.#association !== undefined && known?.has(i.instance.transferSyntaxUid) === true) return this.#association;
    this.#contexts.set(i.instance.sopClassUid, (known ?? new Set()).add(i.instance.transferSyntaxUid));
    await this.#association?.release().catch(() => undefined);
    this.#association = await Association.connect({
      host: this.#dest.host,
      port: this.#dest.port,
      callingAeTitle: this.#ourAeTitle,
      calledAeTitle: this.#dest.aeTitle,
      ...(this.#dest.tls !== undefined ? { tls: this.#dest.tls } : {}),
      presentationContexts: [...this.#contexts].flatMap(([abstractSyntax, syntaxes]) =>
        [...syntaxes].map((ts) => ({ abstractSyntax, transferSyntaxes: [ts] })),
      ),
      logger: this.#log,
    });
    return this.#association;
  }
}
