// OHIF, the open-source viewer hospitals deploy, with the node as its DICOMweb data source: the prebuilt viewer from npm
// (@ohif/app, scripts/install-ohif.sh) is served from one HTTPS origin together with the node's /dicomweb, as a reverse
// proxy in a hospital would, which adds the signed-in person's bearer token. Chromium opens a CT study in OHIF, and the
// image is drawn; every search and retrieval OHIF made is in the node's audit trail in that person's name.
import assert from 'node:assert/strict';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { issueNodeCertificate } from '../../src/auth/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import {
  BROWSER_TEST_BUDGET,
  freshContext,
  SCREENSHOTS,
  screenshot,
  scriptErrors,
  startChromium,
} from '../support/chromium.ts';
import { filesIn } from '../support/dicom-files.ts';
import { startExchangeNode } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { testAccess } from '../support/patient-data.ts';
import { signedIn } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireUnpacked } from '../support/tools.ts';

const OHIF = new URL('../../.cache/ohif-app-3.13.2/', import.meta.url).pathname;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** OHIF's configuration: one DICOMweb data source, the node behind this same origin. */
function appConfig(origin: string): string {
  const root = `${origin}/dicomweb`;
  const config = {
    routerBasename: null,
    extensions: [],
    modes: [],
    customizationService: {},
    showStudyList: true,
    maxNumberOfWebWorkers: 2,
    showWarningMessageForCrossOrigin: false,
    showCPUFallbackMessage: false,
    showLoadingIndicator: true,
    strictZSpacingForVolumeViewport: true,
    defaultDataSourceName: 'beeldbrug',
    dataSources: [
      {
        namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
        sourceName: 'beeldbrug',
        configuration: {
          friendlyName: 'Beeldbrug',
          name: 'beeldbrug',
          wadoUriRoot: root,
          qidoRoot: root,
          wadoRoot: root,
          qidoSupportsIncludeField: true,
          imageRendering: 'wadors',
          thumbnailRendering: 'wadors',
          enableStudyLazyLoad: true,
          supportsFuzzyMatching: false,
          supportsWildcard: true,
          omitQuotationForMultipartRequest: true,
          bulkDataURI: { enabled: false },
        },
      },
    ],
  };
  return `window.config = ${JSON.stringify(config)};`;
}

// Its own budget, below the file's: when OHIF never draws, this test fails with what the proxy and the page saw,
// instead of the whole file being stopped without a word.
test(
  'OHIF (prebuilt, from npm) opens a CT study from the node through DICOMweb, drawn in Chromium, recorded per person',
  BROWSER_TEST_BUDGET,
  async (t) => {
    if (requireUnpacked(t, join(OHIF, 'index.html'), 'scripts/install-ohif.sh') === undefined) return;
    const n = await startExchangeNode(t);
    const dir = join(tempDir(t), 'synth');
    const synth = await synthesize({ outDir: dir, patients: 1, seed: 71, modalities: ['CT'] });
    for (const f of filesIn(dir)) await testAccess(n.n.node, 'import').importFile(f);
    const study = synth.patients[0]?.studies[0];
    assert.ok(study !== undefined);
    const visser = await signedIn(t, n, { username: 'r.visser', name: 'Dr. R. Visser', role: 'radiologist' });

    // The hospital's reverse proxy: OHIF's files, and /dicomweb passed to the node with the person's session.
    const cert = issueNodeCertificate(n.ca, {
      commonName: 'viewer.test',
      organization: { name: 'Ziekenhuis Noord', ura: '10000001' },
      hosts: ['127.0.0.1'],
    });
    // What went wrong between OHIF and the node, told when the test fails: OHIF does not retry a failed request.
    const troubles: string[] = [];
    const proxy = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://proxy.invalid');
      if (url.pathname.startsWith('/dicomweb/')) {
        const { host: _host, cookie: _cookie, connection: _connection, ...headers } = req.headers;
        const upstream = request(
          {
            host: '127.0.0.1',
            port: n.port,
            method: req.method,
            path: req.url,
            ca: n.ca.certPem,
            // A fresh connection per request: reusing a kept-alive one the node is just closing fails the request (a
            // race a busy machine widens), and a browser would retry it, but a proxy this simple cannot.
            agent: false,
            headers: { ...headers, authorization: `Bearer ${visser.token}` },
          },
          (answer) => {
            if ((answer.statusCode ?? 502) >= 400) troubles.push(`${req.method} ${req.url} -> ${answer.statusCode}`);
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', (e) => {
          troubles.push(`${req.method} ${req.url} -> ${e.message}`);
          if (res.headersSent) res.destroy();
          else res.writeHead(502).end();
        });
        req.pipe(upstream);
        return;
      }
      if (url.pathname === '/app-config.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(appConfig(`https://${req.headers.host}`));
        return;
      }
      const file = normalize(join(OHIF, decodeURIComponent(url.pathname)));
      const served =
        file.startsWith(OHIF) && existsSync(file) && statSync(file).isFile() ? file : join(OHIF, 'index.html');
      res.writeHead(200, { 'content-type': TYPES[extname(served)] ?? 'application/octet-stream' });
      createReadStream(served).pipe(res);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    // OHIF keeps requests going while its page is open; the proxy's connections are cut, not waited for.
    t.after(
      () =>
        new Promise<void>((resolve) => {
          proxy.close(() => resolve());
          proxy.closeAllConnections();
        }),
    );
    const origin = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const browser = await startChromium(t, [cert.certPem]);
    if (browser === undefined) return;
    const context = await freshContext(browser, 'en-GB');
    const page = await context.newPage();
    page.on('crash', () => troubles.push('the page crashed'));
    page.on('requestfailed', (r) => troubles.push(`${r.method()} ${r.url()} failed: ${r.failure()?.errorText}`));
    try {
      await page.goto(`${origin}/viewer?StudyInstanceUIDs=${study.studyInstanceUid}`);
      const canvas = page.locator('canvas.cornerstone-canvas').first();
      await canvas.waitFor();
      await waitFor(
        'the CT drawn by OHIF',
        async () => {
          const { data } = await sharp(await canvas.screenshot())
            .greyscale()
            .raw()
            .toBuffer({ resolveWithObject: true });
          let lit = 0;
          for (const v of data) if (v > 24) lit++;
          return lit > data.length / 50;
        },
        t.signal,
      );
    } catch (e) {
      t.diagnostic(`between OHIF and the node: ${troubles.join('; ') || 'nothing failed'}`);
      t.diagnostic(`page errors: ${scriptErrors(page).join('; ') || 'none'}`);
      // A picture of what OHIF showed, if the page can still take one: only a diagnostic, so it may give up.
      await page.screenshot({ path: join(SCREENSHOTS, 'ohif-failed.png'), timeout: 30_000 }).catch(() => undefined);
      await context.close();
      throw e;
    }
    await screenshot(page, 'ohif');
    // OHIF renders on in software while its page is open (over a core, seen spinning for minutes after the test): closed
    // now, before the other browser tests of the run need the CPU.
    await context.close();

    // What OHIF asked for went through the node's access layer, in the radiologist's name.
    const byVisser = (await n.n.node.audit.list()).filter((r) => r.user.id === visser.id);
    assert.ok(byVisser.some((r) => r.action === 'query' && r.objects.studyInstanceUid === study.studyInstanceUid));
    assert.ok(byVisser.some((r) => r.action === 'retrieve' && r.objects.studyInstanceUid === study.studyInstanceUid));
  },
);
