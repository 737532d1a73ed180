// The priors a prefetch waits for, kept where the node keeps its records: the embedded file and PostgreSQL.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { onBothDatabases } from '../../test/support/postgres.ts';
import { openPostgresPool } from '../database/index.ts';
import {
  openPostgresPrefetchDeliveries,
  openSqlitePrefetchDeliveries,
  type PrefetchDeliveries,
} from './prefetch-deliveries.ts';

onBothDatabases<PrefetchDeliveries>(
  'the prefetch deliveries',
  {
    sqlite: (dir) => openSqlitePrefetchDeliveries(join(dir, 'prefetch.sqlite')),
    postgres: (settings) => openPostgresPrefetchDeliveries(openPostgresPool(settings), { ownsPool: true }),
  },
  [
    [
      'a prior asked for is pending, once, in the order asked, until it is delivered',
      async (t, open) => {
        const deliveries = await open(t);
        await deliveries.add({ transferId: 't-1', destination: 'PACS_NOORD' });
        await deliveries.add({ transferId: 't-2', destination: 'PACS_ZUID' });
        await deliveries.add({ transferId: 't-1', destination: 'PACS_ZUID' });
        assert.deepEqual(await deliveries.pending(), [
          { transferId: 't-1', destination: 'PACS_NOORD' },
          { transferId: 't-2', destination: 'PACS_ZUID' },
        ]);
        await deliveries.finish('t-1');
        assert.deepEqual(await deliveries.pending(), [{ transferId: 't-2', destination: 'PACS_ZUID' }]);
      },
    ],
  ],
);
