import { DatabaseSync } from 'node:sqlite';

/**
 * The node's exchange database (`<dataDir>/exchange.sqlite`): the inbox and the outbox, each change committed durably
 * before it is acted on. The CLI writes into it while the node runs, hence the busy timeout.
 */
export function openExchangeDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA busy_timeout = 5000');
  return db;
}
