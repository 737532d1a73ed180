import { join } from 'node:path';
import { onBothDatabases, type OpenStore, type StoreCase } from '../../test/support/postgres.ts';
import { openPostgresPool } from '../database/index.ts';
import { PostgresStudyIndex } from './postgres-study-index.ts';
import { SqliteStudyIndex } from './sqlite-study-index.ts';
import type { StudyIndex } from './types.ts';

export type OpenIndex = OpenStore<StudyIndex>;
export type IndexCase = StoreCase<StudyIndex>;

/** Test-only: the same cases on every kind of study index (identity, conflicts, C-FIND matching as a PACS relies on). */
export function onEveryIndex(what: string, cases: readonly IndexCase[]): void {
  onBothDatabases<StudyIndex>(
    what,
    {
      sqlite: (dir) => new SqliteStudyIndex(join(dir, 'index.sqlite')),
      postgres: (settings) => PostgresStudyIndex.open(openPostgresPool(settings), { ownsPool: true }),
    },
    cases,
  );
}
