// DICOMweb on the node, driven by a client nobody here wrote: the `dicomweb-client` package (the one OHIF uses), with
// XMLHttpRequest from `xhr2` as Node has none. QIDO-RS finds the study, its series and instances; WADO-RS returns
// each file byte for byte as it was stored, and its metadata as DICOM JSON. Every search and retrieval is recorded in
// the signed-in person's name; without a session, or with the wrong role, nothing is answered.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { globalAgent, request as httpsRequest } from 'node:https';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { api } from 'dicomweb-client';
import XMLHttpRequest from 'xhr2';
import { Dataset, encodePart10, newUid, readPart10, Tag, TransferSyntax } from '../../src/dicom/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { call, type ExchangeNode, multipartOf, send, startExchangeNode } from '../support/exchange.ts';
import { importFiles, importSynthPatient } from '../support/patient-data.ts';
import { run } from '../support/processes.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { requireTool } from '../support/tools.ts';
import { ORTHANC_DICOMWEB_PLUGIN } from '../../src/cli/orthanc-pacs.ts';
import { signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { waitFor } from '../support/net.ts';

type Json = Record<string, { vr: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string }>;

interface DicomwebClient {
  searchForStudies(o: { queryParams?: Record<string, string> }): Promise<Json[]>;
  searchForSeries(o: { studyInstanceUID: string }): Promise<Json[]>;
  searchForInstances(o: { studyInstanceUID: string }): Promise<Json[]>;
  retrieveInstance(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
  }): Promise<ArrayBuffer>;
  retrieveStudy(o: { studyInstanceUID: string }): Promise<ArrayBuffer[]>;
  retrieveInstanceFrames(o: {
    studyInstanceUID: string;
    seriesInstanceUID: string;
    sopInstanceUID: string;
    frameNumbers: number[];
  }): Promise<ArrayBuffer[]>;
  retrieveStudyMetadata(o: { studyInstanceUID: string }): Promise<Json[]>;
  retrieveSeriesMetadata(o: { studyInstanceUID: string; seriesInstanceUID: string }): Promise<Json[]>;
  retrieveBulkData(o: { BulkDataURI: string }): Promise<ArrayBuffer[]>;
  storeInstances(o: { datasets: ArrayBuffer[] }): Promise<unknown>;
}

const sha256 = (b: Buffer | ArrayBuffer): string =>
  createHash('sha256')
    .update(Buffer.isBuffer(b) ? b : Buffer.from(b))
    .digest('hex');
/**
 * The client runs in this process: XMLHttpRequest over Node's https, trusting the node's test CA, with the bearer
 * token of a signed-in session.
 */
function dicomwebClient(t: TestContext, n: ExchangeNode, token: string): DicomwebClient {
  (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = XMLHttpRequest;
  const previousCa = globalAgent.options.ca;
  globalAgent.options.ca = n.ca.certPem;
  t.after(() => {
    globalAgent.options.ca = previousCa;
    delete (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest;
  });
  // The package's generated typings make optional arguments required; these are the calls as its docs show them.
  return new api.DICOMwebClient({
    url: `https://127.0.0.1:${n.port}/dicomweb`,
    headers: { Authorization: `Bearer ${token}` },
  } as never) as unknown as DicomwebClient;
}

const value = (j: Json, tag: number): unknown => j[tag.toString(16).toUpperCase().padStart(8, '0')]?.Value?.[0];

test('DICOMweb: dicomweb-client finds a study with QIDO-RS and retrieves it with WADO-RS, byte for byte, each access recorded', async (t) => {
  const n = await startExchangeNode(t);
  const dir = tempDir(t);
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 2, studiesPerPatient: [1, 1], seed: 81 });
  const [patient, other] = synth.patients;
  const study = patient?.studies[0];
  assert.ok(patient?.bsn !== undefined && study !== undefined && other !== undefined);
  await importFiles(n.n.node, [...study.files, ...other.studies.flatMap((s) => s.files)]);
  const byUid = new Map(
    study.files.map((f) => {
      const bytes = readFileSync(f);
      return [readPart10(bytes).dataset.string(Tag.SOPInstanceUID) ?? '', { file: f, sha256: sha256(bytes) }];
    }),
  );

  const rad = await signedIn(t, n, {
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const client = dicomwebClient(t, n, rad.token);

  const studies = await client.searchForStudies({ queryParams: { PatientID: patient.bsn } });
  assert.equal(studies.length, 1, 'one study of this patient, none of the other');
  assert.equal(value(studies[0]!, Tag.StudyInstanceUID), study.studyInstanceUid);
  assert.equal(value(studies[0]!, Tag.NumberOfStudyRelatedInstances), study.instances);
  assert.match(String(value(studies[0]!, Tag.RetrieveURL)), new RegExp(`/dicomweb/studies/${study.studyInstanceUid}$`));
  const all = await client.searchForStudies({ queryParams: { limit: '1', offset: '1' } });
  assert.equal(all.length, 1, 'paging: the second of two studies');

  const series = await client.searchForSeries({ studyInstanceUID: study.studyInstanceUid });
  assert.ok(series.length >= 1);
  const instances = await client.searchForInstances({ studyInstanceUID: study.studyInstanceUid });
  assert.equal(instances.length, study.instances);

  // One instance, then the whole study: the files exactly as they were stored.
  const first = instances[0]!;
  const one = await client.retrieveInstance({
    studyInstanceUID: study.studyInstanceUid,
    seriesInstanceUID: String(value(first, Tag.SeriesInstanceUID)),
    sopInstanceUID: String(value(first, Tag.SOPInstanceUID)),
  });
  assert.equal(sha256(one), byUid.get(String(value(first, Tag.SOPInstanceUID)))?.sha256);
  // The pixels of its first frame, as a viewer asks for them.
  const firstFile = readPart10(readFileSync(byUid.get(String(value(first, Tag.SOPInstanceUID)))!.file));
  const [frame] = await client.retrieveInstanceFrames({
    studyInstanceUID: study.studyInstanceUid,
    seriesInstanceUID: String(value(first, Tag.SeriesInstanceUID)),
    sopInstanceUID: String(value(first, Tag.SOPInstanceUID)),
    frameNumbers: [1],
  });
  const expectedPixels = firstFile.dataset.get(Tag.PixelData)?.bytes;
  assert.ok(frame !== undefined && expectedPixels !== undefined);
  const rows = firstFile.dataset.number(Tag.Rows) ?? 0;
  const columns = firstFile.dataset.number(Tag.Columns) ?? 0;
  assert.equal(frame.byteLength, rows * columns * 2, 'one frame of 16-bit pixels');
  assert.ok(Buffer.from(frame).equals(expectedPixels.subarray(0, frame.byteLength)), 'the frame is the stored pixels');
  const whole = await client.retrieveStudy({ studyInstanceUID: study.studyInstanceUid });
  assert.equal(whole.length, study.instances);
  // The answer's length is known up front (a client can show its progress), and it is the length sent.
  const sized = await new Promise<{ declared: string | undefined; received: number }>((resolve, reject) => {
    const req = httpsRequest(
      `https://127.0.0.1:${n.port}/dicomweb/studies/${study.studyInstanceUid}`,
      { ca: n.ca.certPem, headers: { authorization: `Bearer ${rad.token}` } },
      (res) => {
        let received = 0;
        res.on('data', (c: Buffer) => (received += c.length));
        res.on('end', () => resolve({ declared: res.headers['content-length'], received }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(sized.declared, String(sized.received));
  assert.deepEqual(whole.map((b) => sha256(b)).sort(), [...byUid.values()].map((f) => f.sha256).sort());

  const metadata = await client.retrieveStudyMetadata({ studyInstanceUID: study.studyInstanceUid });
  assert.equal(metadata.length, study.instances);
  assert.ok(metadata.every((m) => value(m, Tag.StudyInstanceUID) === study.studyInstanceUid));
  assert.ok(metadata.every((m) => value(m, Tag.PatientID) === patient.bsn));

  // Each search and retrieval is in the trail, in the radiologist's name.
  const records = await n.n.node.audit.list({ userId: rad.id });
  assert.ok(records.some((r) => r.action === 'query' && r.description.startsWith('QIDO-RS study search: 1 matches')));
  assert.ok(
    records.some(
      (r) =>
        r.action === 'retrieve' &&
        r.objects.studyInstanceUid === study.studyInstanceUid &&
        r.objects.sopInstanceUids?.length === study.instances &&
        r.patient?.bsn === patient.bsn,
    ),
  );

  // STOW-RS: a study from elsewhere (a CD, say) stored by the radiologist, found afterwards, recorded in her name.
  const cd = await synthesize({ outDir: join(dir, 'cd'), patients: 1, studiesPerPatient: [3, 3], seed: 83 });
  const cdStudy = cd.patients[0]?.studies[0];
  assert.ok(cdStudy !== undefined);
  await client.storeInstances({
    datasets: cdStudy.files.map((f) => {
      const b = readFileSync(f);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
    }),
  });
  const afterStow = await client.searchForInstances({ studyInstanceUID: cdStudy.studyInstanceUid });
  assert.equal(afterStow.length, cdStudy.instances, 'every stored instance is found');
  assert.ok(
    (await n.n.node.audit.list({ userId: rad.id, action: 'receive' })).some(
      (r) => r.objects.studyInstanceUid === cdStudy.studyInstanceUid && r.description === 'STOW-RS: study stored',
    ),
  );
  // STOW-RS to one study (dicomweb-client posts to /studies/{uid} when given one): its instances are stored.
  const [, second, third] = cd.patients[0]?.studies ?? [];
  assert.ok(second !== undefined && third !== undefined);
  const buffers = (files: readonly string[]): ArrayBuffer[] =>
    files.map((f) => {
      const b = readFileSync(f);
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
    });
  // Its type declarations leave the option out; its code takes it.
  const toStudy = { studyInstanceUID: second.studyInstanceUid, datasets: buffers(second.files) };
  await client.storeInstances(toStudy);
  assert.equal(
    (await client.searchForInstances({ studyInstanceUID: second.studyInstanceUid })).length,
    second.instances,
  );
  // Instances of other studies posted to this one are not stored, each named with Failure Reason A900 (also one the
  // node already holds under its own study); the one that belongs is stored (again: idempotent), so the answer is 202.
  const strayFile = third.files[0] ?? '';
  const stray = readPart10(readFileSync(strayFile)).dataset.string(Tag.SOPInstanceUID);
  const mixed = multipartOf(
    [second.files[0] ?? '', ...third.files.slice(1), strayFile, cdStudy.files[0] ?? ''].map((f) => readFileSync(f)),
  );
  const wrongStudy = await send(
    n.port,
    'POST',
    `/dicomweb/studies/${second.studyInstanceUid}`,
    n.ca.certPem,
    undefined,
    mixed.body,
    { authorization: `Bearer ${rad.token}`, 'content-type': mixed.contentType },
  );
  assert.equal(wrongStudy.status, 202, wrongStudy.body);
  const mixedAnswer = JSON.parse(wrongStudy.body) as Json;
  const failures = mixedAnswer['00081198']?.Value as Json[] | undefined;
  assert.equal(failures?.length, third.files.length + 1);
  assert.ok(failures.every((f) => value(f, Tag.FailureReason) === 0xa900));
  assert.ok(failures.some((f) => value(f, Tag.ReferencedSOPInstanceUID) === stray));
  assert.equal((mixedAnswer['00081199']?.Value as Json[] | undefined)?.length, 1);
  assert.equal((await rad.call('GET', `/dicomweb/instances?StudyInstanceUID=${third.studyInstanceUid}`)).status, 204);
  assert.equal((await rad.call('POST', '/dicomweb/studies/not-a-uid', {})).status, 400);

  // A part that is not DICOM stores nothing and is named in the answer: 409 when nothing was stored.
  const boundary = 'not-dicom-boundary';
  const notDicom = await send(
    n.port,
    'POST',
    '/dicomweb/studies',
    n.ca.certPem,
    undefined,
    Buffer.from(`--${boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`),
    {
      authorization: `Bearer ${rad.token}`,
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
    },
  );
  assert.equal(notDicom.status, 409, notDicom.body);
  const failedSeq = (JSON.parse(notDicom.body) as Json)['00081198']?.Value as Json[] | undefined;
  assert.equal(failedSeq?.length, 1);
  assert.equal(value(failedSeq[0]!, Tag.FailureReason), 0xc000);

  // Nothing without a session; an auditor's session does not open images.
  const anonymous = await call(n.port, 'GET', '/dicomweb/studies', n.ca.certPem);
  assert.equal(anonymous.status, 401);
  assert.doesNotMatch(anonymous.body, new RegExp(patient.bsn));
  const auditor = await signedIn(t, n, { username: 'a.devries', name: 'A. de Vries', role: 'auditor' });
  const refused = await auditor.call('GET', `/dicomweb/studies/${study.studyInstanceUid}`);
  assert.equal(refused.status, 403);
  const unknown = await rad.call('GET', '/dicomweb/studies?NoSuchKeyword=1');
  assert.equal(unknown.status, 400);
  assert.match(unknown.body, /NoSuchKeyword is not an attribute keyword/);
});

test('DICOMweb bulk data: the metadata names Pixel Data and large binary values by BulkDataURI; dicomweb-client retrieves each value as stored', async (t) => {
  const n = await startExchangeNode(t);
  const dir = tempDir(t);
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, studiesPerPatient: [1, 1], seed: 84 });
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined && study.files.length >= 2);
  const [firstFile = '', secondFile = '', ...rest] = study.files;

  // An instance with a private block: a large and a small binary value, and a large one inside a sequence.
  const source = readPart10(readFileSync(firstFile));
  const large = randomBytes(3000);
  const small = Buffer.from([1, 2, 3, 4]);
  const nested = randomBytes(2000);
  const withBinary = source.dataset
    .set(0x00290010, 'LO', 'BEELDBRUG TEST')
    .set(0x00291001, 'OB', large)
    .set(0x00291002, 'OB', small)
    .set(0x00291010, 'SQ', [new Dataset().set(0x00290010, 'LO', 'BEELDBRUG TEST').set(0x00291001, 'OB', nested)]);
  const binaryFile = join(dir, 'binary.dcm');
  writeFileSync(binaryFile, Buffer.concat(encodePart10(withBinary, source.transferSyntaxUid)));
  const pixels = withBinary.get(Tag.PixelData)?.bytes;
  assert.ok(pixels !== undefined);

  // A compressed instance of two frames (RLE, one fragment each): its frames come as stored, never decoded.
  const frames = [randomBytes(700), randomBytes(900)];
  const compressedUid = newUid();
  const compressed = readPart10(readFileSync(secondFile))
    .dataset.set(Tag.SOPInstanceUID, 'UI', compressedUid)
    .set(Tag.NumberOfFrames, 'IS', 2)
    .setElement({ tag: Tag.PixelData, vr: 'OB', fragments: [Buffer.alloc(0), ...frames] });
  const compressedFile = join(dir, 'rle.dcm');
  writeFileSync(compressedFile, Buffer.concat(encodePart10(compressed, TransferSyntax.RLELossless)));
  await importFiles(n.n.node, [binaryFile, compressedFile, ...rest]);

  const rad = await signedIn(t, n, { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist' });
  const client = dicomwebClient(t, n, rad.token);
  const series = withBinary.string(Tag.SeriesInstanceUID) ?? '';
  const metadata = await client.retrieveSeriesMetadata({
    studyInstanceUID: study.studyInstanceUid,
    seriesInstanceUID: series,
  });
  const of = (uid: string | undefined): Json => {
    const found = metadata.find((m) => value(m, Tag.SOPInstanceUID) === uid);
    assert.ok(found !== undefined, `metadata of ${uid}`);
    return found;
  };
  const bulk = async (uri: string | undefined): Promise<Buffer[]> => {
    assert.ok(uri !== undefined, 'a BulkDataURI');
    return (await client.retrieveBulkData({ BulkDataURI: uri })).map((b) => Buffer.from(b));
  };

  const binaryMeta = of(withBinary.string(Tag.SOPInstanceUID));
  const instanceUrl = `https://127.0.0.1:${n.port}/dicomweb/studies/${study.studyInstanceUid}/series/${series}/instances/${withBinary.string(Tag.SOPInstanceUID)}`;
  assert.deepEqual(binaryMeta['7FE00010'], { vr: 'OW', BulkDataURI: `${instanceUrl}/bulk/7FE00010` });
  assert.deepEqual(await bulk(binaryMeta['7FE00010']?.BulkDataURI), [pixels], 'the stored pixels, one part');
  assert.deepEqual(await bulk(binaryMeta['00291001']?.BulkDataURI), [large]);
  assert.equal(binaryMeta['00291002']?.InlineBinary, small.toString('base64'), 'a small value stays inline');
  const item = (binaryMeta['00291010']?.Value as Json[] | undefined)?.[0];
  assert.equal(item?.['00291001']?.BulkDataURI, `${instanceUrl}/bulk/00291010/0/00291001`);
  assert.deepEqual(await bulk(item['00291001']?.BulkDataURI), [nested], 'a value inside a sequence item');

  const compressedMeta = of(compressedUid);
  assert.equal(compressedMeta['7FE00010']?.vr, 'OB');
  assert.deepEqual(await bulk(compressedMeta['7FE00010']?.BulkDataURI), frames, 'one part per frame, as stored');
  const raw = await rad.call('GET', new URL(compressedMeta['7FE00010']?.BulkDataURI ?? '').pathname);
  assert.match(raw.body, /Content-Type: application\/octet-stream; transfer-syntax=1\.2\.840\.10008\.1\.2\.5/);

  // Mistakes get a clear answer; nothing is answered from a value that is not bulk data.
  const at = new URL(instanceUrl).pathname;
  assert.equal((await rad.call('GET', `${at}/bulk/pixeldata`)).status, 400);
  assert.equal((await rad.call('GET', `${at}/bulk/00291010/0`)).status, 400);
  assert.equal((await rad.call('GET', `${at}/bulk/00291003`)).status, 404, 'no such value');
  const text = await rad.call('GET', `${at}/bulk/00100010`);
  assert.equal(text.status, 404, 'Patient Name is not bulk data');
  assert.doesNotMatch(text.body, new RegExp(withBinary.string(Tag.PatientName) ?? '-'));
  const auditor = await signedIn(t, n, { username: 'a.devries', name: 'A. de Vries', role: 'auditor' });
  assert.equal((await auditor.call('GET', `${at}/bulk/7FE00010`)).status, 403);

  // Each retrieval is in the trail, in the radiologist's name.
  assert.ok(
    (await n.n.node.audit.list({ userId: rad.id, action: 'retrieve' })).some(
      (r) => r.description.startsWith('WADO-RS bulk data 7FE00010') && r.patient?.bsn === synth.patients[0]?.bsn,
    ),
  );
});

test('DICOMweb: a client that hangs up during a retrieval leaves no file open, and the next retrieval is whole', async (t) => {
  const n = await startExchangeNode(t);
  const study = await importSynthPatient(t, n.n.node, 85, { studiesPerPatient: [1, 1] });
  const rad = await signedIn(t, n, { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist' });
  const client = dicomwebClient(t, n, rad.token);
  const url = `https://127.0.0.1:${n.port}/dicomweb/studies/${study.studyInstanceUid}`;
  const openBlobFiles = (): number =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return /\/blobs\/[0-9a-f]{2}\/[0-9a-f]{32}$/.test(readlinkSync(`/proc/self/fd/${fd}`));
      } catch {
        return false; // closed meanwhile
      }
    }).length;

  // The client takes the first bytes and hangs up.
  await new Promise<void>((resolve, reject) => {
    const req = httpsRequest(url, { ca: n.ca.certPem, headers: { authorization: `Bearer ${rad.token}` } }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
  await waitFor('the node to close the files of the retrieval that was cut off', async () => openBlobFiles() === 0);

  // The pieces handed back meanwhile serve the next retrieval, which is whole and exact.
  const whole = await client.retrieveStudy({ studyInstanceUID: study.studyInstanceUid });
  assert.deepEqual(whole.map((b) => sha256(b)).sort(), study.files.map((f) => sha256(readFileSync(f))).sort());
});

test("DICOMweb: Orthanc's DICOMweb plugin searches the node and retrieves a study from it; the files arrive byte for byte", async (t) => {
  if (requireTool(t, 'Orthanc') === undefined) return;
  if (!existsSync(ORTHANC_DICOMWEB_PLUGIN)) {
    const why = `the Orthanc DICOMweb plugin is not installed (${ORTHANC_DICOMWEB_PLUGIN}; Debian orthanc-dicomweb)`;
    if (process.env['CI'] === 'true') throw new Error(`${why}; CI must install it`);
    return t.skip(why);
  }
  const n = await startExchangeNode(t);
  const dir = tempDir(t);
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, studiesPerPatient: [1, 1], seed: 82 });
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);
  await importFiles(n.n.node, study.files);
  const expected = study.files.map((f) => sha256(readFileSync(f))).sort();
  const rad = await signedIn(t, n, {
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, n.ca.certPem);
  const orthanc = await startOrthanc({
    dir: join(dir, 'orthanc'),
    dicomwebClient: {
      caFile,
      servers: {
        beeldbrug: {
          url: `https://127.0.0.1:${n.port}/dicomweb/`,
          headers: { Authorization: `Bearer ${rad.token}` },
        },
      },
    },
  });
  t.after(() => orthanc.stop());

  // The plugin answers in Orthanc's own simplified JSON: each attribute with its value as one string.
  const found = await orthanc.rest<Record<string, { Value?: string }>[]>('POST', '/dicom-web/servers/beeldbrug/qido', {
    Uri: '/studies',
    Arguments: { PatientID: synth.patients[0]!.bsn },
  });
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]?.['0020000D']?.Value, study.studyInstanceUid);
  assert.equal(found[0]?.['00100020']?.Value, synth.patients[0]!.bsn);

  await orthanc.rest('POST', '/dicom-web/servers/beeldbrug/retrieve', {
    Resources: [{ Study: study.studyInstanceUid }],
  });
  const ids = await orthanc.rest<string[]>('GET', '/instances');
  assert.equal(ids.length, study.instances, 'every instance of the study is in Orthanc');
  const got: string[] = [];
  for (const id of ids) got.push(sha256(await orthanc.instanceFile(id)));
  assert.deepEqual(got.sort(), expected, 'each file as the node stored it');
  assert.ok(
    (await n.n.node.audit.list({ userId: rad.id, action: 'retrieve' })).some(
      (r) => r.objects.studyInstanceUid === study.studyInstanceUid && r.description.startsWith('WADO-RS'),
    ),
    "Orthanc's retrieval is recorded in the name of the radiologist whose session it used",
  );
});

test('DICOMweb: a JPEG-LS instance asked for in explicit VR little endian comes decoded, its frame too; a syntax the node cannot give is 406', async (t) => {
  const dcmcjpls = requireTool(t, 'dcmcjpls');
  if (dcmcjpls === undefined) return;
  const n = await startExchangeNode(t);
  const dir = tempDir(t);
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, seed: 93, modalities: ['CT'] });
  const ct = (synth.patients[0]?.studies[0]?.files ?? [])
    .map((f) => ({ f, p: readPart10(readFileSync(f)) }))
    .find((x) => x.p.dataset.string(Tag.Modality) === 'CT' && x.p.dataset.get(Tag.PixelData) !== undefined);
  assert.ok(ct !== undefined);
  const compressed = join(dir, 'jpegls.dcm');
  assert.equal((await run(dcmcjpls, [ct.f, compressed])).code, 0);
  await importFiles(n.n.node, [compressed]);
  const original = ct.p.dataset.get(Tag.PixelData)?.bytes ?? Buffer.alloc(0);
  const ids = {
    studyInstanceUID: ct.p.dataset.string(Tag.StudyInstanceUID) ?? '',
    seriesInstanceUID: ct.p.dataset.string(Tag.SeriesInstanceUID) ?? '',
    sopInstanceUID: ct.p.dataset.string(Tag.SOPInstanceUID) ?? '',
  };
  const rad = await signedIn(t, n, { username: 'c.bakker', name: 'Dr. C. Bakker', role: 'radiologist' });
  const client = dicomwebClient(t, n, rad.token);
  const ELE = TransferSyntax.ExplicitVRLittleEndian;

  // As stored by default: JPEG-LS.
  const stored = readPart10(Buffer.from(await client.retrieveInstance(ids)));
  assert.equal(stored.transferSyntaxUid, TransferSyntax.JPEGLSLossless);
  // Asked for in explicit VR little endian: decoded, pixel for pixel. (dicomweb-client 0.10 cannot ask for a transfer
  // syntax of an instance: it compares "application/" with "application/dicom"; the request is made as it would.)
  const path = `/dicomweb/studies/${ids.studyInstanceUID}/series/${ids.seriesInstanceUID}/instances/${ids.sopInstanceUID}`;
  const [file] = await parts(n, rad.token, path, `multipart/related; type="application/dicom"; transfer-syntax=${ELE}`);
  const decoded = readPart10(file!);
  assert.equal(decoded.transferSyntaxUid, ELE);
  assert.ok(decoded.dataset.get(Tag.PixelData)?.bytes?.equals(original), 'the original pixels');
  assert.equal(decoded.dataset.string(Tag.SOPInstanceUID), ids.sopInstanceUID);
  const [frame] = await (client.retrieveInstanceFrames as (o: object) => Promise<ArrayBuffer[]>)({
    ...ids,
    frameNumbers: [1],
    mediaTypes: [{ mediaType: 'application/octet-stream', transferSyntaxUID: ELE }],
  });
  assert.ok(Buffer.from(frame!).equals(original), 'the frame decoded');

  // HTJ2K is not made here: refused before anything is sent, with the catalog's code.
  const refused = await send(n.port, 'GET', path, n.ca.certPem, undefined, undefined, {
    authorization: `Bearer ${rad.token}`,
    accept: `multipart/related; type="application/dicom"; transfer-syntax=${TransferSyntax.HTJ2KLossless}`,
  });
  assert.equal(refused.status, 406, refused.body);
  assert.match(refused.body, /TRANSFER_SYNTAX_UNSUPPORTED/);
});

/** The parts of a multipart/related answer to a GET with this Accept header, as bytes. */
function parts(n: ExchangeNode, token: string, path: string, accept: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    httpsRequest(
      `https://127.0.0.1:${n.port}${path}`,
      { ca: n.ca.certPem, headers: { authorization: `Bearer ${token}`, accept } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const boundary = /boundary=([^;\s]+)/.exec(String(res.headers['content-type']))?.[1];
          if (res.statusCode !== 200 || boundary === undefined)
            return reject(new Error(`${res.statusCode}: ${body.toString().slice(0, 300)}`));
          const out: Buffer[] = [];
          let at = body.indexOf(`--${boundary}`);
          for (
            let next = body.indexOf(`--${boundary}`, at + 2);
            next > 0;
            next = body.indexOf(`--${boundary}`, at + 2)
          ) {
            const part = body.subarray(at, next - 2);
            out.push(part.subarray(part.indexOf('\r\n\r\n') + 4));
            at = next;
          }
          resolve(out);
        });
      },
    )
      .on('error', reject)
      .end();
  });
}
