import { createHmac } from 'node:crypto';
import type { AuditReader, AuditTable, AuditWriter } from './audit-table.ts';
import { chainHash, firstFormChainHash, GENESIS, isRow, type Row } from './chain-form.ts';
import { readWitness, writeWitness, type HeadWitness, type WitnessRead } from './head-witness.ts';
import type { AuditEvent, AuditFilter, AuditRecord, AuditTrail, AuditVerification } from './types.ts';

export interface AuditTrailOptions {
  /**
   * The node's audit key (32 bytes). The chain is keyed (HMAC-SHA-256): whoever can write the database but does not
   * hold the key cannot recompute the chain after an edit.
   */
  key: Buffer;
  /** This node's organization (URA): the organization of a user recorded without one, i.e. our own staff and systems. */
  organizationUra?: string;
  /**
   * Where the keyed witness of the trail's head is kept, apart from the database (see head-witness.ts). Without it,
   * records cut off the end together with the head anchor, or a swapped database, go unseen.
   */
  witnessFile?: string;
  /**
   * A missing witness is written rather than refused even when the trail already has records of the current form: a
   * node that joins a database other nodes already record into has no witness of its own yet. Its witness then
   * catches a database rolled back behind what this node appended, but cannot tell its own witness removed from new.
   */
  witnessMayBeNew?: boolean;
  now?: () => Date;
}

type Failure = Extract<AuditVerification, { ok: false }>;

/**
 * The audit trail: append-only rows, each chained to the one before by HMAC-SHA-256, committed durably before
 * record() returns. A keyed anchor of the newest record (the head) catches records removed from the end, and a keyed
 * anchor of the last pruned record lets retention remove the oldest records without breaking verification. BSN,
 * user and action are columns of their own so an auditor (or the patient) can filter without reading the whole log;
 * the chain hashes the stored text of every column, so what is hashed is what list() returns and what its filters
 * compare. A witness of the head outside the database (witnessFile) catches records cut off the end and a swapped or
 * emptied database; a trail that does not reach its witness refuses to record. Where the rows are kept (SQLite or
 * PostgreSQL) is the AuditTable's; everything above is written once, here.
 */
export class ChainedAuditTrail implements AuditTrail {
  readonly #table: AuditTable;
  readonly #key: Buffer;
  readonly #now: () => Date;
  readonly #organizationUra: string | undefined;
  readonly #witnessFile: string | undefined;
  readonly #witnessMayBeNew: boolean;
  /** Why this trail must not record (it does not reach its witness), found when it was opened. */
  #witnessProblem: string | undefined;

  private constructor(table: AuditTable, o: AuditTrailOptions) {
    this.#table = table;
    this.#key = o.key;
    this.#now = o.now ?? (() => new Date());
    this.#organizationUra = o.organizationUra;
    this.#witnessFile = o.witnessFile;
    this.#witnessMayBeNew = o.witnessMayBeNew === true;
  }

  /** Opens a trail on its table and compares it with its witness; the table is closed again when that throws. */
  static async open(table: AuditTable, o: AuditTrailOptions): Promise<ChainedAuditTrail> {
    if (o.key.length < 32) {
      await table.close();
      throw new RangeError('the audit key must be at least 32 bytes');
    }
    const trail = new ChainedAuditTrail(table, o);
    try {
      trail.#witnessProblem = await trail.#checkWitnessAtOpen();
    } catch (err) {
      await table.close();
      throw err;
    }
    return trail;
  }

  /**
   * Why this trail does not reach its witness (records cut off its end, an emptied or swapped database, a changed or
   * missing witness), or undefined. A cheap check (the witness and two rows), made when the trail is opened; the
   * node refuses to start on it, and record() refuses while it holds. `verify()` checks the whole chain.
   */
  get witnessProblem(): string | undefined {
    return this.#witnessProblem;
  }

  /**
   * The chain's head is read inside the write transaction, not cached: the CLI (and other nodes on a shared database)
   * record into the same trail while the node runs, and all must extend the one chain.
   */
  async record(event: AuditEvent): Promise<AuditRecord> {
    this.#refuseIfBroken();
    return this.#appending((append) => append(this.#complete(event)));
  }

  async recordAll(events: readonly AuditEvent[]): Promise<AuditRecord[]> {
    if (events.length === 0) return [];
    this.#refuseIfBroken();
    return this.#appending(async (append) => {
      const records: AuditRecord[] = [];
      for (const e of events) records.push(await append(this.#complete(e)));
      return records;
    });
  }

  /** A user without an organization is one of ours (our own staff and systems), unless an outsider. */
  #complete(event: AuditEvent): AuditEvent {
    const ours = this.#organizationUra;
    return event.user.organizationUra === undefined && event.user.outsider !== true && ours !== undefined
      ? { ...event, user: { ...event.user, organizationUra: ours } }
      : event;
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000);
    const rows = await this.#table.list(filter, limit);
    return rows.map((r) => ({
      ...(JSON.parse(r.event_json) as AuditEvent),
      sequence: r.sequence,
      time: r.time,
      hash: r.hash,
    }));
  }

  /**
   * Checks every row of the table (a row a reader can list is a row verify checks): sequences contiguous from 1, or
   * from the last pruned record + 1; each row's stored columns chained under the key; the search columns equal to the
   * content; the head anchor in the database; and the witness outside it, so a trail cut short or emptied is not intact.
   */
  async verify(): Promise<AuditVerification> {
    return this.#verify(true);
  }

  /** The newest record's sequence and chain hash, to compare with the audit repository's newest (ATNA export). */
  async newest(): Promise<{ sequence: number; hash: string }> {
    return this.#table.read((r) => chainEnd(r));
  }

  /**
   * For an administrator who has established why the trail no longer reaches its witness (a restore from an older
   * backup): if the chain is intact up to its present end, records `event` (which says so) and moves the witness to it.
   */
  async acceptHead(event: AuditEvent): Promise<{ ok: true; sequence: number } | Failure> {
    const v = await this.#verify(false);
    if (!v.ok) return v;
    const r = await this.#appending((append) => append(this.#complete(event)));
    this.#witnessProblem = undefined;
    return { ok: true, sequence: r.sequence };
  }

  async prune(before: Date, description: string): Promise<number> {
    this.#refuseIfBroken();
    return this.#appending(async (append, w) => {
      const firstKept = await w.firstSequenceFrom(before.toISOString());
      const through = firstKept !== undefined ? firstKept - 1 : ((await w.newest())?.sequence ?? 0);
      const already = (await w.lastPruned())?.sequence ?? 0;
      if (through <= already) return 0;
      const [row] = await w.rowsAt([through]);
      if (row === undefined || typeof row.hash !== 'string')
        throw new Error(`audit record ${through} is missing; run \`beeldbrug audit verify\``);
      const anchor = { sequence: through, hash: row.hash };
      await w.prune({ ...anchor, mac: this.#mac('pruned', anchor), time: this.#now().toISOString() });
      await append({
        action: 'purge',
        outcome: 'success',
        description: `${description}: audit records ${already + 1} to ${through}, older than ${before.toISOString()}`,
        user: { id: 'system:retention', name: 'retention job' },
        accessPoint: { node: 'audit' },
        objects: {},
        grounds: { purpose: 'retention' },
      });
      return through - already;
    });
  }

  close(): Promise<void> {
    return this.#table.close();
  }

  /**
   * Runs `work` as one write transaction with an `append` that extends the chain, then moves the witness to the
   * newest record appended. The witness is written after the commit so that it is never ahead of the trail; if
   * writing it fails the records stand and the caller is told.
   */
  async #appending<T>(
    work: (append: (event: AuditEvent) => Promise<AuditRecord>, w: AuditWriter) => Promise<T>,
  ): Promise<T> {
    let appended: HeadWitness | undefined;
    const result = await this.#table.write((w) =>
      work(async (event) => {
        const r = await this.#append(w, event);
        appended = { sequence: r.sequence, hash: r.hash, time: r.time };
        return r;
      }, w),
    );
    if (appended !== undefined && this.#witnessFile !== undefined) writeWitness(this.#witnessFile, this.#key, appended);
    return result;
  }

  async #append(w: AuditWriter, event: AuditEvent): Promise<AuditRecord> {
    const before = await chainEnd(w);
    const sequence = before.sequence + 1;
    const time = this.#now().toISOString();
    const row: Row = {
      sequence,
      time,
      action: event.action,
      bsn: event.patient?.bsn ?? null,
      user_id: event.user.id,
      event_json: JSON.stringify(event),
      hash: '',
    };
    row.hash = chainHash(this.#key, before.hash, row);
    await w.append(row);
    const head = { sequence, hash: row.hash };
    await w.setHead({ ...head, mac: this.#mac('head', head) });
    return { ...event, sequence, time, hash: row.hash };
  }

  /**
   * The witness is read first and the table in one read snapshot after it: the witness is written after each commit,
   * so a node or CLI command appending meanwhile makes the trail longer than the witness, never shorter.
   */
  async #verify(withWitness: boolean): Promise<AuditVerification> {
    const witness =
      withWitness && this.#witnessFile !== undefined ? readWitness(this.#witnessFile, this.#key) : undefined;
    return this.#table.read((r) => this.#verifyIn(r, witness));
  }

  async #verifyIn(r: AuditReader, witness: WitnessRead | undefined): Promise<AuditVerification> {
    const structure = await r.structureProblem();
    if (structure !== undefined) return { ok: false, records: 0, firstBadSequence: 1, problem: structure };
    const pruned = await r.lastPruned();
    let previous = GENESIS;
    let expected = 1;
    let records = 0;
    if (pruned !== undefined) {
      if (this.#mac('pruned', pruned) !== pruned.mac)
        return { ok: false, records, firstBadSequence: 1, problem: 'the record of what retention pruned was changed' };
      previous = pruned.hash;
      expected = pruned.sequence + 1;
    }
    const witnessed = witness?.state === 'present' ? witness.witness : undefined;
    let witnessedHash =
      witnessed === undefined
        ? undefined
        : witnessed.sequence === 0
          ? GENESIS
          : witnessed.sequence === pruned?.sequence
            ? pruned.hash
            : undefined;
    // Records written before the stored bytes were hashed verify in the older form, but only before the first record
    // of the current form: an attacker cannot turn the chain back to the weaker check.
    let current = false;
    for await (const row of r.rows()) {
      records += 1;
      if (!isRow(row))
        return {
          ok: false,
          records,
          firstBadSequence: typeof row.sequence === 'number' ? row.sequence : expected,
          problem: 'the record is not readable (a column holds the wrong type)',
        };
      if (row.sequence < expected)
        return {
          ok: false,
          records,
          firstBadSequence: row.sequence,
          problem: `a record numbered ${row.sequence} was added before the first record of the chain (${expected})`,
        };
      if (row.sequence > expected)
        return { ok: false, records, firstBadSequence: expected, problem: `record ${expected} is missing` };
      let event: AuditEvent;
      try {
        event = JSON.parse(row.event_json) as AuditEvent;
      } catch {
        return { ok: false, records, firstBadSequence: row.sequence, problem: 'the record is not readable' };
      }
      if (chainHash(this.#key, previous, row) === row.hash) {
        current = true;
      } else if (
        current ||
        JSON.stringify(event) !== row.event_json ||
        firstFormChainHash(this.#key, previous, row.sequence, row.time, event) !== row.hash
      ) {
        return {
          ok: false,
          records,
          firstBadSequence: row.sequence,
          problem: 'the record was changed, or the one before it was',
        };
      }
      if (
        typeof event !== 'object' ||
        event === null ||
        row.action !== event.action ||
        row.bsn !== (event.patient?.bsn ?? null) ||
        row.user_id !== event.user?.id
      ) {
        return {
          ok: false,
          records,
          firstBadSequence: row.sequence,
          problem: "the record's search columns (action, BSN, user) differ from its content",
        };
      }
      if (row.sequence === witnessed?.sequence) witnessedHash = row.hash;
      previous = row.hash;
      expected += 1;
    }
    const last = expected - 1;
    const fail = (firstBadSequence: number, problem: string): Failure => ({
      ok: false,
      records,
      firstBadSequence,
      problem,
    });
    if (witness !== undefined && witness.state !== 'present' && (witness.state === 'unreadable' || current)) {
      return fail(
        last + 1,
        `the witness of the newest record (${this.#witnessFile}) ${witness.state === 'missing' ? 'is missing' : witness.problem}; records after ${last} may have been removed`,
      );
    }
    if (witnessed !== undefined) {
      if (witnessed.sequence > last)
        return fail(
          last + 1,
          `records ${last + 1} to ${witnessed.sequence} are missing: the witness written ${witnessed.time} names record ${witnessed.sequence}, the trail ends at ${last}`,
        );
      if (witnessedHash !== undefined && witnessedHash !== witnessed.hash)
        return fail(
          witnessed.sequence,
          `record ${witnessed.sequence} is not the one the witness written ${witnessed.time} names (the database was swapped or its end replaced)`,
        );
    }
    const head = await r.head();
    if (head === undefined)
      return last === 0 && pruned === undefined
        ? { ok: true, records }
        : fail(expected, "the chain's head anchor is missing");
    if (this.#mac('head', head) !== head.mac)
      return fail(
        expected,
        "the chain's head anchor was changed (records after the last one present may have been removed)",
      );
    if (head.sequence > last)
      return fail(last + 1, `record ${last + 1} is missing (the head anchor names ${head.sequence})`);
    if (head.sequence < last) return fail(head.sequence + 1, 'records were added after the head anchor');
    if (head.hash !== previous) return fail(last, 'the newest record is not the one the head anchor names');
    return { ok: true, records };
  }

  /**
   * Compares the witness with the trail's head. A missing witness is written (a new node, or a trail from before
   * witnesses) unless the newest record is of the current chain form, which is only ever written with a witness.
   * First, that the head anchor is under our key: a node given another audit key than the trail was written with
   * (one of several nodes on a shared database, configured apart) would extend the chain with links nobody can verify.
   */
  async #checkWitnessAtOpen(): Promise<string | undefined> {
    const witnessFile = this.#witnessFile;
    const read = witnessFile !== undefined ? readWitness(witnessFile, this.#key) : undefined;
    return this.#table.read(async (r) => {
      const anchor = await r.head();
      if (anchor !== undefined && this.#mac('head', anchor) !== anchor.mac)
        return "the audit trail's head was written with another audit key (or changed): every node recording into one trail needs the same audit.keyFile";
      if (witnessFile === undefined || read === undefined) return undefined;
      if (read.state === 'unreadable') return `the witness of the newest audit record (${witnessFile}) ${read.problem}`;
      const head = await chainEnd(r);
      if (read.state === 'missing') {
        if (!this.#witnessMayBeNew && (await this.#headIsCurrentForm(r, head)))
          return `the witness of the newest audit record (${witnessFile}) is missing; records after ${head.sequence} may have been removed`;
        writeWitness(witnessFile, this.#key, { ...head, time: this.#now().toISOString() });
        return undefined;
      }
      const w = read.witness;
      if (w.sequence > head.sequence)
        return `the audit trail ends at record ${head.sequence}, but its witness written ${w.time} names record ${w.sequence}: records were removed or the database was replaced`;
      const at = w.sequence === head.sequence ? head : (await r.rowsAt([w.sequence]))[0];
      if (at !== undefined && at.hash !== w.hash)
        return `audit record ${w.sequence} is not the one its witness written ${w.time} names: the database was replaced`;
      return undefined;
    });
  }

  async #headIsCurrentForm(r: AuditReader, head: { sequence: number; hash: string }): Promise<boolean> {
    if (head.sequence === 0) return false;
    const rows = await r.rowsAt([head.sequence - 1, head.sequence]);
    const newest = rows.find((row) => row.sequence === head.sequence);
    if (newest === undefined || !isRow(newest)) return false;
    const before = rows.find((row) => row.sequence === head.sequence - 1);
    const pruned = await r.lastPruned();
    const previous =
      before !== undefined && isRow(before)
        ? before.hash
        : pruned?.sequence === head.sequence - 1
          ? pruned.hash
          : GENESIS;
    return chainHash(this.#key, previous, newest) === newest.hash;
  }

  #refuseIfBroken(): void {
    if (this.#witnessProblem !== undefined)
      throw new Error(`the audit trail cannot record: ${this.#witnessProblem}; run \`beeldbrug audit verify\``);
  }

  #mac(kind: 'head' | 'pruned', a: { sequence: number; hash: string }): string {
    return createHmac('sha256', this.#key).update(`${kind}\u0000${a.sequence}\u0000${a.hash}`).digest('hex');
  }
}

/** The newest record, or the last pruned one when retention removed all, or the genesis (sequence 0). */
async function chainEnd(r: AuditReader): Promise<{ sequence: number; hash: string }> {
  const newest = await r.newest();
  if (newest !== undefined) return newest;
  const pruned = await r.lastPruned();
  return pruned !== undefined ? { sequence: pruned.sequence, hash: pruned.hash } : { sequence: 0, hash: GENESIS };
}
