import { existsSync } from 'node:fs';
import type { AuditTable } from './audit-table.ts';
import { ChainedAuditTrail } from './chained-audit-trail.ts';
import { isRow, type Row } from './chain-form.ts';
import { SqliteAuditTable } from './sqlite-audit-table.ts';
import type { AuditVerification } from './types.ts';

export interface AuditMigrationReport {
  /** Records copied in this run. */
  copied: number;
  /** Records the database already held from an earlier, interrupted run. */
  already: number;
  /** The chain on the database, verified under the key once everything is there. */
  verification: AuditVerification;
  newest: { sequence: number; hash: string };
}

/** Rows per transaction: an interrupted run keeps what it committed, and the next starts after it. */
const BATCH = 1000;

/**
 * Copies an embedded trail (its SQLite file) into another table row for row, exactly as stored, so every hash, the
 * prune anchor and the head stay valid and the node's witness still names the newest record. Resumable: a run starts
 * after the newest record the target holds, once it has checked that record is this trail's. A target that holds
 * another trail is refused, untouched. Finally the chain is verified on the target under the key.
 */
export async function migrateAuditTrail(
  sqlitePath: string,
  target: AuditTable,
  key: Buffer,
  onProgress: (copied: number) => void = () => undefined,
): Promise<AuditMigrationReport> {
  if (!existsSync(sqlitePath)) return { copied: 0, already: 0, ...(await checked(target, key)) };
  const source = new SqliteAuditTable(sqlitePath);
  try {
    const start = await source.read(async (r) => ({
      pruned: await r.lastPruned(),
      head: await r.head(),
      newest: await r.newest(),
    }));
    const base = start.pruned?.sequence ?? 0;
    // One look at the server's newest record, in the transaction that may place the prune anchor.
    const already = await target.write(async (w) => {
      const held = await w.newest();
      if (held === undefined) {
        // A run that stopped right after this left the anchor there already.
        if (start.pruned !== undefined && (await w.lastPruned())?.sequence !== start.pruned.sequence)
          await w.prune({ ...start.pruned, time: new Date().toISOString() });
        return 0;
      }
      // Records appended on the server after this trail (the node ran there, a run recorded itself): all of this trail
      // is there when its newest record is, and the server's head stays the server's.
      if (start.newest !== undefined && held.sequence > start.newest.sequence) {
        const [there] = await w.rowsAt([start.newest.sequence]);
        sameTrail(start.newest.sequence, there?.hash, start.newest.hash);
        return 'all' as const;
      }
      const [ours] = await source.read((r) => r.rowsAt([held.sequence]));
      sameTrail(held.sequence, held.hash, ours?.hash);
      return held.sequence - base;
    });
    if (already === 'all')
      return { copied: 0, already: (start.newest?.sequence ?? base) - base, ...(await checked(target, key)) };
    const from = base + already;
    let copied = 0;
    let batch: Row[] = [];
    const flush = async (): Promise<void> => {
      const rows = batch;
      batch = [];
      await target.write(async (w) => {
        for (const row of rows) await w.append(row);
      });
      copied += rows.length;
      onProgress(copied);
    };
    await source.read(async (r) => {
      for await (const row of r.rows()) {
        if (!isRow(row))
          throw new Error(`audit record ${String(row.sequence)} is not readable; run beeldbrug audit verify`);
        if (row.sequence <= from) continue;
        batch.push(row);
        if (batch.length >= BATCH) await flush();
      }
    });
    if (batch.length > 0) await flush();
    if (start.head !== undefined) await target.write((w) => w.setHead(start.head!));
    return { copied, already, ...(await checked(target, key)) };
  } finally {
    await source.close();
  }
}

/** The chain on the target, verified under the key, and its newest record. */
async function checked(
  target: AuditTable,
  key: Buffer,
): Promise<Pick<AuditMigrationReport, 'verification' | 'newest'>> {
  const trail = await ChainedAuditTrail.open(target, { key });
  return { verification: await trail.verify(), newest: await trail.newest() };
}

/**
 * Whether an embedded trail holds records the target does not: a node switched to a database server before its trail
 * was moved would otherwise start a new, empty trail there and leave years of records behind unseen.
 */
export async function embeddedTrailLeftBehind(sqlitePath: string, target: AuditTable): Promise<number | undefined> {
  if (!existsSync(sqlitePath)) return undefined;
  const source = new SqliteAuditTable(sqlitePath);
  try {
    const newest = await source.read((r) => r.newest());
    if (newest === undefined) return undefined;
    const [there] = await target.read((r) => r.rowsAt([newest.sequence]));
    return there?.hash === newest.hash ? undefined : newest.sequence;
  } finally {
    await source.close();
  }
}

function sameTrail(sequence: number, theirs: unknown, ours: unknown): void {
  if (theirs !== ours)
    throw new Error(
      `the database already holds another audit trail (its record ${sequence} is not this node's); nothing was copied`,
    );
}
