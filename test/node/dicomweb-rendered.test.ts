// Rendered images and thumbnails (PS3.18 8.3.5): what a browser shows of a study without a DICOM decoder. The node's
// rendering of a CT slice in a given window is compared pixel by pixel with DCMTK's dcm2pnm in the same window, a
// renderer nobody here wrote; a thumbnail is small and records only the one instance it drew.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { readPart10, Tag } from '../../src/dicom/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import { run } from '../support/processes.ts';
import { startExchangeNode } from '../support/exchange.ts';
import { importFiles } from '../support/patient-data.ts';
import { signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

interface Got {
  status: number;
  type: string;
  body: Buffer;
}

function get(port: number, path: string, ca: string, headers: Record<string, string>): Promise<Got> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, ca, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

async function grayPixels(image: Buffer | string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(image).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

test('rendered: a CT slice in a window is drawn as DCMTK draws it; a thumbnail is small and records one instance', async (t) => {
  const dcm2pnm = requireTool(t, 'dcm2pnm');
  if (dcm2pnm === undefined) return;
  const n = await startExchangeNode(t);
  const dir = tempDir(t);
  const synth = await synthesize({ outDir: join(dir, 'synth'), patients: 1, seed: 91, modalities: ['CT'] });
  const study = synth.patients[0]?.studies[0];
  assert.ok(study !== undefined);
  await importFiles(n.n.node, study.files);
  const rad = await signedIn(t, n, {
    username: 'c.bakker',
    name: 'Dr. C. Bakker',
    role: 'radiologist',
    uziRoleCode: '01.015',
  });
  const auth = { authorization: `Bearer ${rad.token}` };

  const ct = study.files
    .map((f) => ({ f, p: readPart10(readFileSync(f)) }))
    .find((x) => x.p.dataset.string(Tag.Modality) === 'CT' && x.p.dataset.get(Tag.PixelData) !== undefined);
  assert.ok(ct !== undefined, 'the study has a CT image');
  const ds = ct.p.dataset;
  const path = `/dicomweb/studies/${ds.string(Tag.StudyInstanceUID)}/series/${ds.string(Tag.SeriesInstanceUID)}/instances/${ds.string(Tag.SOPInstanceUID)}`;

  await t.test('a window given by the request: the same pixels as dcm2pnm in that window', async () => {
    const got = await get(n.port, `${path}/rendered?window=40,400`, n.ca.certPem, { ...auth, accept: 'image/png' });
    assert.equal(got.status, 200, got.body.toString());
    assert.equal(got.type, 'image/png');
    const ours = await grayPixels(got.body);
    const theirsFile = join(dir, 'dcmtk.png');
    const r = await run(dcm2pnm, ['--write-png', '+Ww', '40', '400', ct.f, theirsFile]);
    assert.equal(r.code, 0, r.stderr);
    const theirs = await grayPixels(theirsFile);
    assert.deepEqual([ours.width, ours.height], [ds.number(Tag.Columns), ds.number(Tag.Rows)]);
    assert.deepEqual([theirs.width, theirs.height], [ours.width, ours.height]);
    let worst = 0;
    let differing = 0;
    for (let i = 0; i < ours.data.length; i++) {
      const diff = Math.abs(ours.data[i]! - theirs.data[i]!);
      worst = Math.max(worst, diff);
      if (diff > 0) differing++;
    }
    assert.ok(worst <= 1, `at most one grey level apart (rounding), found ${worst} (${differing} pixels differ)`);
    const distinct = new Set(ours.data).size;
    assert.ok(distinct > 16, `the window shows the anatomy, not a flat image (${distinct} grey levels)`);
  });

  await t.test('a narrower window gives a different image: the window is applied, not ignored', async () => {
    const wide = await get(n.port, `${path}/rendered?window=40,4000`, n.ca.certPem, { ...auth, accept: 'image/png' });
    const narrow = await get(n.port, `${path}/rendered?window=40,80`, n.ca.certPem, { ...auth, accept: 'image/png' });
    const a = await grayPixels(wide.body);
    const b = await grayPixels(narrow.body);
    assert.notDeepEqual(a.data, b.data);
  });

  await t.test("the study's thumbnail: a JPEG within 128 pixels, recorded as one instance read", async () => {
    const before = (await n.n.node.audit.list({ action: 'retrieve' })).length;
    const got = await get(n.port, `/dicomweb/studies/${ds.string(Tag.StudyInstanceUID)}/thumbnail`, n.ca.certPem, {
      ...auth,
      accept: 'image/*',
    });
    assert.equal(got.status, 200, got.body.toString());
    assert.equal(got.type, 'image/jpeg');
    const meta = await sharp(got.body).metadata();
    assert.ok(
      (meta.width ?? 0) <= 128 && (meta.height ?? 0) <= 128 && Math.max(meta.width ?? 0, meta.height ?? 0) === 128,
    );
    const records = (await n.n.node.audit.list({ action: 'retrieve' })).slice(before);
    assert.equal(records.length, 1);
    assert.equal(records[0]?.objects.sopInstanceUids?.length, 1, 'only the instance drawn');
    assert.equal(records[0]?.user.name, 'Dr. C. Bakker');
    assert.equal(records[0]?.patient?.bsn, synth.patients[0]?.bsn);
  });

  await t.test('a JPEG-LS copy of the slice (DCMTK compressed it) is decoded and drawn the same', async (tt) => {
    const dcmcjpls = requireTool(tt, 'dcmcjpls');
    if (dcmcjpls === undefined) return;
    const compressed = join(dir, 'jpegls.dcm');
    assert.equal((await run(dcmcjpls, [ct.f, compressed])).code, 0);
    const uid = `${ds.string(Tag.SOPInstanceUID)}.9`;
    assert.equal((await run('dcmodify', ['-nb', '-m', `(0008,0018)=${uid}`, compressed])).code, 0);
    await importFiles(n.n.node, [compressed]);
    const at = path.replace(/instances\/[^/]+$/, `instances/${uid}`);
    const [plain, decoded] = await Promise.all(
      [path, at].map((p) => get(n.port, `${p}/rendered?window=40,400`, n.ca.certPem, { ...auth, accept: 'image/png' })),
    );
    assert.equal(decoded?.status, 200, decoded?.body.toString());
    assert.deepEqual((await grayPixels(decoded!.body)).data, (await grayPixels(plain!.body)).data);
  });

  await t.test('mistakes: a malformed window, a frame that is not there, and no session', async () => {
    const bad = await get(n.port, `${path}/rendered?window=40`, n.ca.certPem, auth);
    assert.equal(bad.status, 400);
    assert.match(bad.type, /application\/problem\+json/);
    assert.match(bad.body.toString(), /REQUEST_INVALID/);
    const frame = await get(n.port, `${path}/frames/9/rendered`, n.ca.certPem, auth);
    assert.equal(frame.status, 404, frame.body.toString());
    const anonymous = await get(n.port, `${path}/rendered`, n.ca.certPem, {});
    assert.equal(anonymous.status, 401);
  });
});
