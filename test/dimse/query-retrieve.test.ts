// C-FIND, C-MOVE and C-GET: DCMTK findscu/movescu/getscu against our server, and our SCU against our server
// (including C-CANCEL). Study root information model.
import assert from 'node:assert/strict';
import { createReadStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Association, DimseFailure, type OutgoingInstance, Status } from '../../src/dimse/index.ts';
import { freePort, waitFor } from '../support/net.ts';
import { storescpDestination } from '../support/dcmtk.ts';
import { requireTool } from '../support/tools.ts';
import { tempDir } from '../support/tmp.ts';
import {
  CT,
  datasetOf,
  decodeIdentifier,
  encodeIdentifier,
  ExplicitLE,
  ImplicitLE,
  makeInstance,
  run,
  startServer,
  StudyRootFind,
  StudyRootGet,
  StudyRootMove,
} from './helpers.ts';

const QueryRetrieveLevel = 0x00080052;
const StudyInstanceUID = 0x0020000d;
const PatientID = 0x00100020;
const PatientName = 0x00100010;

function studyMatch(uid: string, ts: string): Buffer {
  return encodeIdentifier(
    {
      [QueryRetrieveLevel]: ['CS', 'STUDY'],
      [PatientName]: ['PN', 'Jansen^Piet'],
      [PatientID]: ['LO', '123456782'],
      [StudyInstanceUID]: ['UI', uid],
    },
    ts,
  );
}

function instancesOf(files: readonly string[], uids: readonly string[]): OutgoingInstance[] {
  return files.map((f, i) => {
    const ds = datasetOf(f);
    return {
      sopClassUid: CT,
      sopInstanceUid: uids[i] ?? '',
      transferSyntaxUid: ds.transferSyntaxUid,
      open: () => Promise.resolve(createReadStream(f, { start: statSync(f).size - ds.bytes.length })),
    };
  });
}

async function makeStudy(t: TestContext, n: number): Promise<{ files: string[]; uids: string[]; dir: string }> {
  const dir = tempDir(t);
  const uids = Array.from({ length: n }, (_, i) => `1.2.3.4.2.${i + 1}`);
  const files = [];
  for (const [i, uid] of uids.entries())
    files.push(await makeInstance(dir, `s${i}`, { sopInstanceUid: uid, pixelBytes: 40_000 + i * 999, seed: i }));
  return { files, uids, dir };
}

/** Resolves when the request is cancelled (C-CANCEL) or its association ends. */
function abortOf(signal: AbortSignal): Promise<void> {
  return signal.aborted
    ? Promise.resolve()
    : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

test('findscu gets the matches the find handler yields, in the negotiated transfer syntax', async (t) => {
  const findscu = requireTool(t, 'findscu');
  if (findscu === undefined) return;
  const queries: Map<number, string>[] = [];
  const { port } = await startServer(t, {
    handlers: {
      async *find(_a, req) {
        queries.push(decodeIdentifier(req.identifier, req.transferSyntaxUid));
        yield studyMatch('1.2.3.100', req.transferSyntaxUid);
        yield studyMatch('1.2.3.200', req.transferSyntaxUid);
      },
    },
  });
  const dir = tempDir(t);
  const r = await run(findscu, [
    '-S',
    '-aet',
    'FINDSCU',
    '-aec',
    'BEELDBRUG',
    '-X',
    '-od',
    dir,
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    'PatientID=123456782',
    '-k',
    'StudyInstanceUID',
    '-k',
    'PatientName',
    '127.0.0.1',
    String(port),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(queries.length, 1);
  assert.equal(queries[0]?.get(QueryRetrieveLevel), 'STUDY');
  assert.equal(queries[0]?.get(PatientID), '123456782');
  const rsp = readdirSync(dir)
    .filter((f) => f.startsWith('rsp'))
    .sort();
  assert.equal(rsp.length, 2);
  const dumps = await Promise.all(rsp.map((f) => run('dcmdump', [join(dir, f)])));
  assert.match(dumps[0]?.stdout ?? '', /\(0020,000d\) UI \[1\.2\.3\.100\]/);
  assert.match(dumps[1]?.stdout ?? '', /\(0020,000d\) UI \[1\.2\.3\.200\]/);
});

test('a failing find handler gives findscu a failure status, not a hang', async (t) => {
  const findscu = requireTool(t, 'findscu');
  if (findscu === undefined) return;
  const { port } = await startServer(t, {
    handlers: {
      // eslint-disable-next-line require-yield
      async *find() {
        throw new DimseFailure(Status.IdentifierDoesNotMatchSopClass, 'bad level');
      },
    },
  });
  const r = await run(findscu, [
    '-v',
    '-S',
    '-aet',
    'FINDSCU',
    '-aec',
    'BEELDBRUG',
    '-k',
    'QueryRetrieveLevel=STUDY',
    '127.0.0.1',
    String(port),
  ]);
  assert.match(r.stderr + r.stdout, /Received Final Find Response \(Error: DataSetDoesNotMatchSOPClass\)/);
});

test('movescu: our server stores the planned instances to a storescp destination with Move Originator', async (t) => {
  const movescu = requireTool(t, 'movescu');
  const storescp = requireTool(t, 'storescp');
  if (movescu === undefined || storescp === undefined) return;
  const { files, uids, dir } = await makeStudy(t, 3);
  const out = join(dir, 'out');
  mkdirSync(out);
  const destPort = await freePort();
  await storescpDestination(t, { aeTitle: 'STORESCP', port: destPort, dir: out });
  const { port, lines } = await startServer(t, {
    handlers: {
      retrieve: async (_a, req) => {
        assert.equal(req.kind, 'move');
        if (req.moveDestination !== 'STORESCP')
          throw new DimseFailure(Status.MoveDestinationUnknown, 'unknown destination');
        assert.equal(decodeIdentifier(req.identifier, req.transferSyntaxUid).get(StudyInstanceUID), '1.2.3.4');
        return {
          destination: { aeTitle: 'STORESCP', host: '127.0.0.1', port: destPort },
          instances: instancesOf(files, uids),
        };
      },
    },
  });
  const r = await run(movescu, [
    '-v',
    '-S',
    '-aet',
    'MOVESCU',
    '-aec',
    'BEELDBRUG',
    '-aem',
    'STORESCP',
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    'StudyInstanceUID=1.2.3.4',
    '127.0.0.1',
    String(port),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr + r.stdout, /Received Final Move Response \(Success\)/);
  const got = readdirSync(out);
  assert.equal(got.length, 3);
  for (const [i, f] of files.entries()) {
    const name = got.find((g) => g.endsWith(uids[i] ?? '-'));
    assert.ok(name !== undefined);
    assert.ok(datasetOf(join(out, name)).bytes.equals(datasetOf(f).bytes));
  }
  assert.ok(lines.some((l) => l.msg === 'C-MOVE done' && l['completed'] === 3));

  const unknown = await run(movescu, [
    '-v',
    '-S',
    '-aet',
    'MOVESCU',
    '-aec',
    'BEELDBRUG',
    '-aem',
    'NOWHERE',
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    'StudyInstanceUID=1.2.3.4',
    '127.0.0.1',
    String(port),
  ]);
  assert.match(unknown.stderr + unknown.stdout, /Received Final Move Response \(Refused: MoveDestinationUnknown\)/);
});

test('getscu receives the instances over the same association (C-GET with role selection)', async (t) => {
  const getscu = requireTool(t, 'getscu');
  if (getscu === undefined) return;
  const { files, uids, dir } = await makeStudy(t, 3);
  const out = join(dir, 'got');
  mkdirSync(out);
  const { port } = await startServer(t, {
    handlers: { retrieve: async () => ({ instances: instancesOf(files, uids) }) },
  });
  const r = await run(getscu, [
    '-v',
    '-S',
    '-aet',
    'GETSCU',
    '-aec',
    'BEELDBRUG',
    '-od',
    out,
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    'StudyInstanceUID=1.2.3.4',
    '127.0.0.1',
    String(port),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const got = readdirSync(out);
  assert.equal(got.length, 3, r.stderr);
  for (const [i, f] of files.entries()) {
    const name = got.find((g) => g.endsWith(uids[i] ?? '-'));
    assert.ok(name !== undefined, got.join(','));
    assert.ok(datasetOf(join(out, name)).bytes.equals(datasetOf(f).bytes));
  }
});

test('our SCU: find (with C-CANCEL on break), move and get against our server', async (t) => {
  const storescp = requireTool(t, 'storescp');
  if (storescp === undefined) return;
  const { files, uids, dir } = await makeStudy(t, 2);
  let cancelled = false;
  const out = join(dir, 'out');
  mkdirSync(out);
  const destPort = await freePort();
  await storescpDestination(t, { aeTitle: 'STORESCP', port: destPort, dir: out });
  const { port } = await startServer(t, {
    handlers: {
      async *find(_a, req) {
        for (let i = 0; i < 1000; i++) {
          if (req.signal.aborted) {
            cancelled = true;
            return;
          }
          yield studyMatch(`1.2.3.${i + 1}`, req.transferSyntaxUid);
          // The SCU cancels after three matches: the handler waits for that, however long it takes to arrive.
          if (i >= 2) await abortOf(req.signal);
        }
      },
      retrieve: async (_a, req) => ({
        ...(req.kind === 'move' ? { destination: { aeTitle: 'STORESCP', host: '127.0.0.1', port: destPort } } : {}),
        instances: [
          ...instancesOf(files, uids),
          {
            sopClassUid: CT,
            sopInstanceUid: '1.2.3.404',
            transferSyntaxUid: ExplicitLE,
            open: () => Promise.reject(new Error('blob missing')),
          },
        ],
      }),
    },
  });
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port,
    callingAeTitle: 'TESTSCU',
    calledAeTitle: 'BEELDBRUG',
    presentationContexts: [
      { abstractSyntax: StudyRootFind, transferSyntaxes: [ImplicitLE] },
      { abstractSyntax: StudyRootMove, transferSyntaxes: [ExplicitLE] },
      { abstractSyntax: StudyRootGet, transferSyntaxes: [ExplicitLE] },
      { abstractSyntax: CT, transferSyntaxes: [ExplicitLE], scpRole: true },
    ],
  });
  assert.equal(assoc.acceptedTransferSyntax(StudyRootFind), ImplicitLE);
  const seen: string[] = [];
  for await (const m of assoc.find(
    StudyRootFind,
    encodeIdentifier({ [QueryRetrieveLevel]: ['CS', 'STUDY'] }, ImplicitLE),
  )) {
    seen.push(decodeIdentifier(m, ImplicitLE).get(StudyInstanceUID) ?? '');
    if (seen.length === 3) break;
  }
  assert.deepEqual(seen, ['1.2.3.1', '1.2.3.2', '1.2.3.3']);
  await waitFor('cancel seen by handler', () => Promise.resolve(cancelled));

  const pending: number[] = [];
  const moved = await assoc.move(
    StudyRootMove,
    'STORESCP',
    encodeIdentifier({ [QueryRetrieveLevel]: ['CS', 'STUDY'] }, ExplicitLE),
    (p) => pending.push(p.remaining),
  );
  assert.equal(moved.status, Status.WarningSubOpsFailed);
  assert.equal(moved.completed, 2);
  assert.equal(moved.failed, 1);
  assert.deepEqual(moved.failedSopInstanceUids, ['1.2.3.404']);
  assert.deepEqual(pending, [2, 1]);
  assert.equal(readdirSync(out).length, 2);

  const stored = new Map<string, Buffer>();
  const got = await assoc.get(
    StudyRootGet,
    encodeIdentifier({ [QueryRetrieveLevel]: ['CS', 'STUDY'] }, ExplicitLE),
    async (req) => {
      const parts: Buffer[] = [];
      for await (const c of req.data) parts.push(c);
      stored.set(req.sopInstanceUid, Buffer.concat(parts));
    },
  );
  assert.equal(got.completed, 2);
  assert.equal(got.failed, 1);
  for (const [i, f] of files.entries()) assert.ok(stored.get(uids[i] ?? '')?.equals(datasetOf(f).bytes));
  assert.equal(await assoc.echo().catch(() => -1), -1, 'Verification was not proposed on this association');
  await assoc.release();
});

test('C-CANCEL from findscu and movescu stops the handler / the sub-operations with status Cancel', async (t) => {
  const findscu = requireTool(t, 'findscu');
  const movescu = requireTool(t, 'movescu');
  const storescp = requireTool(t, 'storescp');
  if (findscu === undefined || movescu === undefined || storescp === undefined) return;
  let findAborted = false;
  const { files, uids, dir } = await makeStudy(t, 6);
  let opened = 0;
  const out = join(dir, 'got');
  mkdirSync(out);
  const destPort = await freePort();
  await storescpDestination(t, { aeTitle: 'STORESCP', port: destPort, dir: out });
  const { port } = await startServer(t, {
    handlers: {
      async *find(_a, req) {
        for (let i = 0; i < 500; i++) {
          if (req.signal.aborted) {
            findAborted = true;
            return;
          }
          yield studyMatch(`1.2.3.${i + 1}`, req.transferSyntaxUid);
          // findscu --cancel 2 cancels after two matches: wait for it rather than race it with a timer.
          if (i >= 1) await abortOf(req.signal);
        }
      },
      retrieve: async (_a, req) => ({
        destination: { aeTitle: 'STORESCP', host: '127.0.0.1', port: destPort },
        // movescu --cancel 1 cancels after the first pending response: every later sub-operation waits for that
        // C-CANCEL, so the count below proves the cancel stopped them, whatever the machine's speed.
        instances: instancesOf(files, uids).map((x, i) => ({
          ...x,
          open: async () => {
            opened++;
            if (i >= 1) await abortOf(req.signal);
            return x.open();
          },
        })),
      }),
    },
  });
  const f = await run(findscu, [
    '-v',
    '--cancel',
    '2',
    '-S',
    '-aet',
    'FINDSCU',
    '-aec',
    'BEELDBRUG',
    '-k',
    'QueryRetrieveLevel=STUDY',
    '127.0.0.1',
    String(port),
  ]);
  assert.match(f.stderr + f.stdout, /Received Final Find Response \(Cancel/);
  assert.ok(findAborted);
  const m = await run(movescu, [
    '-v',
    '--cancel',
    '1',
    '-S',
    '-aet',
    'MOVESCU',
    '-aec',
    'BEELDBRUG',
    '-aem',
    'STORESCP',
    '-k',
    'QueryRetrieveLevel=STUDY',
    '127.0.0.1',
    String(port),
  ]);
  assert.match(m.stderr + m.stdout, /Received Final Move Response \(Cancel/);
  assert.ok(opened < 6, `sub-operations stopped early (${opened} of 6 started)`);
});
