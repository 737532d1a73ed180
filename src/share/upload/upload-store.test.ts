// The quarantine's bookkeeping where it runs: the embedded file and PostgreSQL (in the quarantine's schema), the same
// cases on each.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { onBothDatabases } from '../../../test/support/postgres.ts';
import { openPostgresPool } from '../../database/index.ts';
import type { AccessGrounds } from '../../studies/index.ts';
import { openPostgresUploadStore, openSqliteUploadStore, type Upload, type UploadStore } from './upload-store.ts';

const PATIENT = { id: 'share:s-1', name: 'J. de Vries', shareId: 's-1' };
const PARTNER = { id: 'partner-noord', name: 'Kliniek Noord' };
const GROUNDS: AccessGrounds = {
  kind: 'share-recipient',
  user: { id: PATIENT.id, name: PATIENT.name },
  accessPoint: { node: 'noord', ip: '192.0.2.7' },
  purpose: 'upload',
  authorization: 'share link and SMS code',
};

function upload(id: string, o: Partial<Upload> = {}): Upload {
  return {
    uploadId: id,
    uploader: PATIENT,
    fileName: 'cd.zip',
    // Past 2^32: a CD's worth of DVDs in one zip.
    size: 5_000_000_000,
    state: 'receiving',
    createdAt: '2026-12-01T09:00:00.000Z',
    result: null,
    problem: null,
    ...o,
  };
}

onBothDatabases<UploadStore>(
  'the upload store',
  {
    sqlite: (dir) => openSqliteUploadStore(join(dir, 'uploads.sqlite')),
    postgres: async (settings) =>
      openPostgresUploadStore(openPostgresPool(settings, { schema: 'quarantine' }), {
        ownsPool: true,
        schema: 'quarantine',
      }),
  },
  [
    [
      'an upload is kept as it arrives, taken in with its grounds after a restart, and ends done or refused',
      async (t, open) => {
        const store = await open(t);
        await store.insertUpload(upload('u-1'));
        await store.insertUpload(upload('u-2', { createdAt: '2026-12-01T10:00:00.000Z', state: 'checking' }), GROUNDS);
        await store.insertUpload(upload('u-3', { uploader: PARTNER }));
        assert.deepEqual(await store.getUpload('u-1'), upload('u-1'));
        assert.deepEqual(
          (await store.uploadsOf(PATIENT.id)).map((u) => u.uploadId),
          ['u-2', 'u-1'],
          'newest first',
        );
        assert.deepEqual(
          (await store.uploadsOf(PARTNER.id)).map((u) => u.uploadId),
          ['u-3'],
        );
        await store.checkUpload('u-1', GROUNDS);
        assert.deepEqual(
          (await store.uploadsChecking()).map((c) => [c.upload.uploadId, c.grounds]),
          [
            ['u-1', GROUNDS],
            ['u-2', GROUNDS],
          ],
        );
        const result = { stored: 3, duplicates: 1, studies: ['1.2.3'], skipped: [], skippedCount: 0 };
        await store.finishUpload('u-1', { result });
        await store.finishUpload('u-2', { problem: { kind: 'not-dicom', detail: 'no DICOM file in it' } });
        assert.deepEqual(await store.uploadsChecking(), []);
        assert.deepEqual(await store.getUpload('u-1'), upload('u-1', { state: 'done', result }));
        assert.equal((await store.getUpload('u-2'))?.state, 'refused');
      },
    ],
    [
      'a study is held once, decided by the first of two people at once, held anew when uploaded again, and purged',
      async (t, open) => {
        const store = await open(t);
        const held = { studyInstanceUid: '1.2.3', uploader: PATIENT, receivedAt: '2026-12-01T09:00:00.000Z' };
        await store.holdStudy(held);
        await store.holdStudy({ ...held, uploader: PARTNER, receivedAt: '2026-12-01T09:05:00.000Z' });
        assert.deepEqual(
          await store.getStudy('1.2.3'),
          { ...held, state: 'held', decision: null },
          'the first sender stays',
        );
        const decision = (name: string) => ({
          by: { id: name, name },
          at: '2026-12-01T11:00:00.000Z',
          bsn: '999990019',
        });
        const both = await Promise.all(
          ['anna', 'bram'].map((who) => store.decide('1.2.3', ['held'], 'importing', decision(who))),
        );
        assert.deepEqual(both.sort(), [false, true], 'one of two deciding at once decides');
        assert.equal(await store.decide('1.2.3', ['importing'], 'imported', decision('anna')), true);
        assert.deepEqual(
          (await store.studies({ states: ['held'] })).map((s) => s.studyInstanceUid),
          [],
        );
        await store.holdStudy({ ...held, receivedAt: '2026-12-02T09:00:00.000Z' });
        const again = await store.getStudy('1.2.3');
        assert.deepEqual(
          [again?.state, again?.decision, again?.receivedAt],
          ['held', null, '2026-12-02T09:00:00.000Z'],
        );
        await store.holdStudy({ ...held, studyInstanceUid: '1.2.4', receivedAt: '2026-11-10T09:00:00.000Z' });
        await store.decide('1.2.4', ['held'], 'rejected', decision('anna'));
        await store.insertUpload(upload('old', { createdAt: '2026-11-01T09:00:00.000Z' }));
        await store.insertUpload(upload('new'));
        assert.deepEqual(await store.removeBefore('2026-11-15T00:00:00.000Z'), ['old']);
        assert.deepEqual(await store.getUpload('old'), undefined);
        assert.equal((await store.getUpload('new'))?.uploadId, 'new');
        assert.deepEqual(
          (await store.studies()).map((s) => [s.studyInstanceUid, s.state]),
          [['1.2.3', 'held']],
          'a rejected study goes; a held one stays for a person',
        );
      },
    ],
  ],
);
