/**
 * Opening, migrating and transactions, once for each kind of database the node keeps its records in: the embedded
 * SQLite files (the default) and a PostgreSQL server shared by several nodes. Every store uses these, not its own.
 */
export { BatchedLookup } from './batched-lookup.ts';
export { Serial } from './serial.ts';
export { addMissingColumns, inTransaction, openSqliteDatabase, type SqliteOptions } from './sqlite.ts';
export {
  inPostgresTransaction,
  listenPostgres,
  migratePostgres,
  openPostgresPool,
  type Isolation,
  type PostgresClient,
  type PostgresListener,
  type PostgresPool,
  type PostgresSettings,
} from './postgres.ts';
export {
  numbered,
  PostgresDatabase,
  postgresStatements,
  SqliteQueue,
  type SqlDatabase,
  type SqlRow,
  type SqlValue,
  type Statements,
} from './statements.ts';
export { openPostgresStore, openSqliteStore } from './stores.ts';
export { copyTable, rowsInWords, rowsLeftBehind, type TableCopyReport, type TableToCopy } from './copy-table.ts';
export { openPostgresTaskLeases, SOLE_NODE, SqlTaskLeases, type TaskLeases } from './task-lease.ts';
