import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { ALL_LEVELS_FROM, int, STORED_INSTANCE_COLUMNS, storedInstanceOf, text } from './index-rows.ts';
import { StoreError } from './store-error.ts';
import type { StoredInstance, StudyIndex } from './types.ts';

/** Instances copied per step; a step is also where a stopped migration resumes. */
const BATCH = 1000;

export interface IndexMigrationReport {
  /** Instances the embedded index holds. */
  instances: number;
  /** Of those, copied by this run (the rest were there from an earlier, interrupted run). */
  copied: number;
  /** SHA-256 over every instance's SOP Instance UID, blob and blob digest as read back from the target, in copy order. */
  digest: string;
}

/**
 * Copies an embedded study index (its SQLite file) into another index, instance by instance in the order they were
 * received, each with its patient, study and series attributes, blob, digest and provenance as stored. Resumable: an
 * instance already in the target is a duplicate and skipped. Verified: every instance read back from the target
 * must equal its source, and the target must hold no instance besides them. Run while the node is stopped, after the
 * embedded store's recovery (its start) has settled removals, since a removed instance's blob must not come back.
 */
export async function migrateStudyIndex(
  sqlitePath: string,
  target: StudyIndex,
  onProgress: (copied: number) => void = () => undefined,
): Promise<IndexMigrationReport> {
  const db = new DatabaseSync(sqlitePath, { readOnly: true });
  try {
    const unsettled = db.prepare('SELECT count(*) AS n FROM removed_blobs').get();
    const awaiting = db.prepare('SELECT count(*) AS n FROM patients WHERE reread_from_study IS NOT NULL').get();
    if ((int(unsettled?.n) ?? 0) > 0 || (int(awaiting?.n) ?? 0) > 0)
      throw new StoreError(
        'INDEX_NOT_SETTLED',
        `the index ${sqlitePath} has work its start-up recovery has not done yet (removed files to delete, patients to read again): start the node once on it, stop it, then migrate`,
      );
    const page = db.prepare(
      `SELECT ${STORED_INSTANCE_COLUMNS}, i.pk AS ipk ${ALL_LEVELS_FROM} WHERE i.pk > ? ORDER BY i.pk LIMIT ${BATCH}`,
    );
    let after = 0;
    let instances = 0;
    let copied = 0;
    const digest = createHash('sha256');
    for (;;) {
      const rows = page.all(after);
      if (rows.length === 0) break;
      const batch = rows.map(storedInstanceOf);
      for (const x of batch) {
        const { outcome, existing } = await target.recordInstance(x, x.blob, x.datasetOffset);
        if (outcome === 'created') copied += 1;
        else if (!sameInstance(existing, x))
          throw new StoreError(
            'INDEX_MIGRATION_MISMATCH',
            `instance ${x.instance.sopInstanceUid} is in the target already, with another blob or other attributes`,
          );
      }
      const back = await target.instancesMatching('IMAGE', [
        { key: 'sopInstanceUid', kind: 'list', values: batch.map((x) => x.instance.sopInstanceUid) },
      ]);
      const bySop = new Map(back.map((x) => [x.instance.sopInstanceUid, x]));
      for (const x of batch) {
        digest.update(`${x.instance.sopInstanceUid}\t${x.blob.blobId}\t${x.blob.sha256}\n`);
        if (!sameInstance(bySop.get(x.instance.sopInstanceUid), x))
          throw new StoreError(
            'INDEX_MIGRATION_MISMATCH',
            `instance ${x.instance.sopInstanceUid} reads back from the target otherwise than it was copied`,
          );
      }
      instances += batch.length;
      after = int(rows[rows.length - 1]?.ipk) ?? after;
      onProgress(instances);
    }
    const counted = (await target.stats()).instances;
    if (counted !== instances)
      throw new StoreError(
        'INDEX_MIGRATION_MISMATCH',
        `the target holds ${counted} instances against ${instances} in ${sqlitePath}: it is not this node's index alone`,
      );
    return { instances, copied, digest: digest.digest('hex') };
  } finally {
    db.close();
  }
}

/**
 * Whether an embedded index holds instances the target does not: a node switched to a database server before its
 * index was migrated. Undefined when there is nothing left behind (no file, no instances, or the newest is there).
 */
export async function studyIndexLeftBehind(sqlitePath: string, target: StudyIndex): Promise<number | undefined> {
  if (!existsSync(sqlitePath)) return undefined;
  const db = new DatabaseSync(sqlitePath, { readOnly: true });
  try {
    const has = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'instances'").get();
    if (has === undefined) return undefined;
    const newest = db
      .prepare(
        'SELECT sop_instance_uid AS sop, (SELECT count(*) FROM instances) AS n FROM instances ORDER BY pk DESC LIMIT 1',
      )
      .get();
    const sop = text(newest?.sop);
    if (sop === null) return undefined;
    return (await target.getInstance(sop)) === undefined ? (int(newest?.n) ?? 0) : undefined;
  } finally {
    db.close();
  }
}

function sameInstance(a: StoredInstance | undefined, b: StoredInstance): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
