import type { IncomingTransfer, Inbox } from './inbox.ts';
import type { Manifest } from './manifest.ts';

/** An incoming transfer someone waits for instance by instance (a C-MOVE through the virtual PACS). */
export interface WatchedTransfer {
  /** The manifest, once the source has opened the transfer: which instances come, with SOP class and syntax. */
  readonly manifest: Promise<Manifest>;
  /** Resolves once the instance is stored and verified here; rejects when the transfer ends or stalls without it. */
  arrived(sopInstanceUid: string): Promise<void>;
  /** Stops watching (the waiter is done or gone). */
  close(): void;
}

/** How many claimed transfer ids are remembered: far more than C-MOVEs run at once, so a claim outlives its watch. */
const CLAIMS_KEPT = 10_000;

/**
 * Tells who waits for an incoming transfer when its manifest is opened, each instance is stored, and when it ends.
 * A watched transfer is claimed: the one waiting delivers it (into the PACS that asked), so the routing rules do not
 * forward it a second time.
 */
export class TransferWatch {
  readonly #inbox: Inbox;
  /** Which of a manifest's instances the node already holds with the same bytes (the sender will not send them). */
  readonly #held: (m: Manifest) => Promise<Set<string>>;
  readonly #watches = new Map<string, Watch>();
  /** Watches whose held instances are still being looked up: their end waits for it, so none is failed too soon. */
  readonly #opening = new Map<string, Promise<void>>();
  readonly #claimed = new Set<string>();
  readonly #unsubscribe: () => void;

  constructor(inbox: Inbox, held: (m: Manifest) => Promise<Set<string>>) {
    this.#inbox = inbox;
    this.#held = held;
    // Another node of the hospital may take the transfer in (one address, several nodes): what it notes in the shared
    // inbox reaches the watch from there, a batch of instances at a time.
    this.#unsubscribe = inbox.onChange((transferId) => {
      for (const id of transferId === undefined ? [...this.#watches.keys()] : [transferId])
        if (this.#watches.has(id)) void this.#lookUp(id);
    });
  }

  /**
   * Watches a transfer, which may already be open (the source can open it before its answer to our retrieval request
   * reaches us). Resolves once the claim is where every node of the hospital sees it. Without an event for `idleMs`,
   * or when `signal` aborts, what has not arrived is given up.
   */
  async watch(transferId: string, o: { idleMs: number; signal: AbortSignal }): Promise<WatchedTransfer> {
    this.#claim(transferId);
    const w = new Watch(o, () => this.#watches.delete(transferId));
    if (o.signal.aborted) return w;
    // Watched before the claim is written, so no change after it goes unheard.
    this.#watches.set(transferId, w);
    try {
      await this.#inbox.claim(transferId);
    } catch (err) {
      w.fail(err);
      return w;
    }
    // Looked up now (the source may have opened it already), waited for by the transfer's end like an opening.
    void this.#pending(transferId, this.#lookUp(transferId));
    return w;
  }

  /** Takes in what the inbox holds of a watched transfer: its manifest, the instances noted, its end. */
  #lookUp(transferId: string): Promise<void> {
    return this.#inbox
      .find(transferId)
      .then((found) => (found !== undefined ? this.opened(found) : undefined))
      .catch((err: unknown) => this.#watches.get(transferId)?.fail(err));
  }

  /** Whether a watcher delivers this transfer itself: claimed on this node just now, or on any node before. */
  claimed(transfer: IncomingTransfer): boolean {
    return transfer.claimed || this.#claimed.has(transfer.transferId);
  }

  opened(transfer: IncomingTransfer): Promise<void> {
    const id = transfer.transferId;
    const w = this.#watches.get(id);
    if (w === undefined) return Promise.resolve();
    return this.#pending(
      id,
      (async () => {
        // What the node held before is looked up once; what the inbox noted since, at every look.
        const already = w.isOpened ? new Set<string>() : await this.#held(transfer.manifest);
        for (const uid of await this.#inbox.received(id)) already.add(uid);
        w.opened(transfer.manifest, already);
        if (transfer.state !== 'open') w.ended(transfer.state);
      })().catch((err: unknown) => w.fail(err)),
    );
  }

  /** Keeps `work` as the watch's opening until it settles: the transfer's end waits for it. */
  #pending(id: string, work: Promise<void>): Promise<void> {
    const settled = work.finally(() => {
      if (this.#opening.get(id) === settled) this.#opening.delete(id);
    });
    this.#opening.set(id, settled);
    return settled;
  }

  stored(transfer: IncomingTransfer, sopInstanceUid: string): void {
    this.#watches.get(transfer.transferId)?.stored(sopInstanceUid);
  }

  ended(transfer: IncomingTransfer): void {
    const w = this.#watches.get(transfer.transferId);
    if (w === undefined) return;
    const state = transfer.state;
    const opening = this.#opening.get(transfer.transferId);
    if (opening === undefined) w.ended(state);
    else void opening.then(() => w.ended(state));
  }

  /** Gives up every wait (the node stops). */
  close(): void {
    this.#unsubscribe();
    for (const w of this.#watches.values()) w.close();
  }

  #claim(transferId: string): void {
    if (this.#claimed.size >= CLAIMS_KEPT) {
      const oldest = this.#claimed.values().next();
      if (oldest.done !== true) this.#claimed.delete(oldest.value);
    }
    this.#claimed.add(transferId);
  }
}

class Watch implements WatchedTransfer {
  readonly manifest: Promise<Manifest>;
  #resolveManifest!: (m: Manifest) => void;
  #rejectManifest!: (e: Error) => void;
  readonly #arrived = new Set<string>();
  #isOpened = false;
  readonly #waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();
  #failure: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #idleMs: number;
  readonly #signal: AbortSignal;
  readonly #onAbort = (): void => this.#fail(new Error('the retrieve was cancelled'));
  readonly #forget: () => void;

  constructor(o: { idleMs: number; signal: AbortSignal }, forget: () => void) {
    this.#idleMs = o.idleMs;
    this.#signal = o.signal;
    this.#forget = forget;
    this.manifest = new Promise<Manifest>((resolve, reject) => {
      this.#resolveManifest = resolve;
      this.#rejectManifest = reject;
    });
    // A waiter that never asks for the manifest must not see an unhandled rejection; the ones that ask still do.
    this.manifest.catch(() => undefined);
    o.signal.addEventListener('abort', this.#onAbort, { once: true });
    if (o.signal.aborted) this.#onAbort();
    this.#touch();
  }

  arrived(sopInstanceUid: string): Promise<void> {
    if (this.#arrived.has(sopInstanceUid)) return Promise.resolve();
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const list = this.#waiting.get(sopInstanceUid) ?? [];
      list.push({ resolve, reject });
      this.#waiting.set(sopInstanceUid, list);
    });
  }

  get isOpened(): boolean {
    return this.#isOpened;
  }

  opened(manifest: Manifest, already: ReadonlySet<string>): void {
    this.#isOpened = true;
    for (const uid of already) this.stored(uid);
    this.#resolveManifest(manifest);
    this.#touch();
  }

  stored(uid: string): void {
    this.#arrived.add(uid);
    for (const w of this.#waiting.get(uid) ?? []) w.resolve();
    this.#waiting.delete(uid);
    this.#touch();
  }

  ended(state: IncomingTransfer['state']): void {
    // Delivered means every instance is here; anything still awaited was never part of it.
    this.#fail(new Error(`the transfer ended (${state}) without this instance`));
  }

  close(): void {
    this.#fail(new Error('no longer watched'));
  }

  /** The held instances or the inbox could not be looked up: what is awaited cannot be told apart, so it all fails. */
  fail(err: unknown): void {
    this.#fail(err instanceof Error ? err : new Error(String(err)));
  }

  #touch(): void {
    if (this.#failure !== undefined) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => this.#fail(new Error(`nothing arrived from the source for ${Math.round(this.#idleMs / 1000)} s`)),
      this.#idleMs,
    );
  }

  #fail(e: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = e;
    clearTimeout(this.#timer);
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#rejectManifest(e);
    for (const list of this.#waiting.values()) for (const w of list) w.reject(e);
    this.#waiting.clear();
    this.#forget();
  }
}
