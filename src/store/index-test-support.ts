import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startPostgres } from '../../test/support/postgres.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { openPostgresPool } from '../database/index.ts';
import { PostgresStudyIndex } from './postgres-study-index.ts';
import { SqliteStudyIndex } from './sqlite-study-index.ts';
import type { StudyIndex } from './types.ts';

/** A fresh, empty index of the kind under test, closed when `t` ends. */
export type OpenIndex = (t: TestContext) => Promise<StudyIndex>;
export type IndexCase = readonly [name: string, body: (t: TestContext, open: OpenIndex) => Promise<void>];

/**
 * Test-only: the same cases on every kind of study index, so the rules a PACS relies on (identity, conflicts, C-FIND
 * matching) are proven where they run. PostgreSQL is one real server for all the cases, a database of its own for each.
 */
export function onEveryIndex(what: string, cases: readonly IndexCase[]): void {
  test(`${what}, on the embedded SQLite index`, async (t) => {
    const open: OpenIndex = async (tt) => {
      const index = new SqliteStudyIndex(join(tempDir(tt), 'index.sqlite'));
      tt.after(() => index.close());
      return index;
    };
    for (const [name, body] of cases) await t.test(name, (tt) => body(tt, open));
  });
  test(`${what}, on PostgreSQL`, async (t) => {
    const server = await startPostgres(t);
    if (server === undefined) return;
    let databases = 0;
    const open: OpenIndex = async (tt) => {
      databases += 1;
      const settings = await server.database(`index_${databases}`);
      const index = await PostgresStudyIndex.open(openPostgresPool(settings), { ownsPool: true });
      tt.after(() => index.close());
      return index;
    };
    for (const [name, body] of cases) await t.test(name, (tt) => body(tt, open));
  });
}
