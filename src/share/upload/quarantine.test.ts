import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type AuditEvent, openSqliteAuditTrail } from '../../audit/index.ts';
import { silentLogger } from '../../log/index.ts';
import { openStudyStore } from '../../store/index.ts';
import { testKey } from '../../store/store-test-support.ts';
import { type AccessGrounds, PatientData } from '../../studies/index.ts';
import { synthesize } from '../../synth/index.ts';
import { zipOf } from '../../../test/support/share-services.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { Quarantine, type UploadActor } from './quarantine.ts';
import { openSqliteUploadStore, type Upload } from './upload-store.ts';

const PARTNER: UploadActor = {
  uploader: { id: 'account-7', name: 'Servicedesk (Kliniek Noord)' },
  grounds: {
    kind: 'share-recipient',
    user: { id: 'account-7', name: 'Servicedesk (Kliniek Noord)', outsider: true },
    accessPoint: { node: 'midden', ip: '192.0.2.7' },
    purpose: 'upload',
    authorization: 'SFTP, registered SSH key',
  } satisfies AccessGrounds,
};

test('a put is answered once its file is durable and looked at; a stop in the middle of taking it in leaves it to the next start, which takes in all of it', async (t) => {
  const dir = tempDir(t);
  const store = await openStudyStore({ dataDir: join(dir, 'quarantine'), encryptionKey: testKey() });
  const trail = await openSqliteAuditTrail(join(dir, 'audit.sqlite'), { key: testKey() });
  const uploads = openSqliteUploadStore(join(dir, 'uploads.sqlite'));
  t.after(async () => {
    await uploads.close();
    await trail.close();
    await store.close();
  });
  // The first instance's record stops the quarantine, as the node's shutdown would, while the zip is being taken in.
  let stopAsked: (stopped: Promise<void>) => void = () => undefined;
  // Resolved with the stop's own promise: settles once the stop has waited for the intake.
  const stopping = new Promise<void>((resolve) => (stopAsked = resolve));
  let asked = false;
  let first: Quarantine | undefined;
  const audit = new Proxy(trail, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (key !== 'record') return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      return (event: AuditEvent) => {
        if (event.action === 'upload' && event.outcome === 'success' && !asked && first !== undefined) {
          asked = true;
          stopAsked(first.stop());
        }
        return target.record(event);
      };
    },
  });
  const nodeKey = testKey();
  const quarantine = (): Quarantine =>
    new Quarantine({
      store: uploads,
      patientData: new PatientData({
        store,
        audit,
        logger: silentLogger(),
        retrieveAeTitle: 'MIDDEN',
        node: 'midden',
      }),
      incomingDir: join(dir, 'incoming'),
      nodeKey,
      maxUploadBytes: 1e9,
      logger: silentLogger(),
      node: 'midden',
    });
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, studiesPerPatient: [1, 1], seed: 11 });
  const study = synth.patients[0]!.studies[0]!;
  assert.ok(study.files.length >= 3, 'a study of several instances');
  const zip = await zipOf(study.files.map((f, i) => ({ name: `DICOM/IM${i + 1}`, data: readFileSync(f) })));

  first = quarantine();
  await first.start();
  const put = async (q: Quarantine, name: string, bytes: Buffer): Promise<Upload> => {
    const incoming = await q.receive(PARTNER, name);
    // Pieces as an SFTP client writes them.
    for (let at = 0; at < bytes.length; at += 32 * 1024) await incoming.write(bytes.subarray(at, at + 32 * 1024));
    return incoming.end();
  };
  const notDicom = await put(first, 'brief.txt', Buffer.from('not an image'));
  assert.equal(notDicom.state, 'refused', 'what is no DICOM file is refused before the put is answered');
  assert.equal(notDicom.problem?.kind, 'not-dicom');
  const cd = await put(first, 'cd.zip', zip);
  assert.equal(cd.state, 'checking', 'answered before its instances are stored');
  await stopping;
  const interrupted = await uploads.getUpload(cd.uploadId);
  assert.equal(interrupted?.state, 'checking', 'a stop is no refusal: the upload waits for the next start');
  assert.deepEqual(readdirSync(join(dir, 'incoming')), [cd.uploadId], 'its file is kept for that');

  const second = quarantine();
  await second.start();
  await second.settled();
  const taken = await uploads.getUpload(cd.uploadId);
  assert.equal(taken?.state, 'done');
  assert.equal(taken.result!.stored + taken.result!.duplicates, study.files.length, 'every instance, once');
  assert.equal(taken.result!.duplicates, 1, 'the one stored before the stop');
  assert.deepEqual(readdirSync(join(dir, 'incoming')), [], 'the file goes once taken in');
  assert.deepEqual(
    (await uploads.studies()).map((s) => [s.studyInstanceUid, s.state]),
    [[study.studyInstanceUid, 'held']],
  );
});
