// npm run bench:viewer — the workspace's viewer in Debian's Chromium (headless, driven by playwright-core) on a
// 500-slice CT held by our node, as a radiologist uses it: signed in with password and TOTP, the study list open, she
// clicks "View". Measured in the page: (1) from that click to the first image drawn (Cornerstone's IMAGE_RENDERED
// after its first STACK_NEW_IMAGE), (2) scrolling with the arrow key through the whole stack as fast as the viewer
// draws (the next key press when the previous image is on screen: down from the middle slice to the last, then up to
// the first), images drawn per second. Each run reloads the page, so nothing is in the viewer's image cache. Medians of
// three runs. Chromium renders without a GPU here (software WebGL), as on a hospital's virtual desktop.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { totpCode, totpStep } from '../src/auth/index.ts';
import { writeCtStudy } from '../src/synth/index.ts';
import { launchChromium } from '../test/support/chromium.ts';
import { run } from '../test/support/processes.ts';
import { which } from '../test/support/tools.ts';
import { benchFolder } from './peers.ts';
import { median } from './stats.ts';
import { spawnWebNode, storescu } from './web-node.ts';

// The page's globals, as far as the functions run in the page use them (this project's Node typings have no DOM).
interface PageElement extends EventTarget {
  textContent: string | null;
  click(): void;
}
declare const document: {
  addEventListener(type: string, listener: (e: Event) => void, capture: boolean): void;
  removeEventListener(type: string, listener: (e: Event) => void, capture: boolean): void;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};
declare const KeyboardEvent: new (type: string, init: { key: string; bubbles: boolean }) => Event;

const INSTANCES = Number(process.env['BENCH_INSTANCES'] ?? 500);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);

const root = new URL('..', import.meta.url).pathname;
if (!existsSync(join(root, 'ui/dist/index.html'))) throw new Error('the workspace is not built: npm run build:ui');
const chromium = which('chromium');
if (chromium === undefined) throw new Error('Chromium is not installed (Debian package chromium; see .ci/run)');

const work = benchFolder('beeldbrug-bench-viewer-');
const stops: (() => Promise<unknown>)[] = [];
try {
  const study = await writeCtStudy({ outDir: join(work, 'study'), instances: INSTANCES, seed: 1 });
  console.log(`study: ${study.files.length} CT slices, ${(study.bytes / 1e6).toFixed(1)} MB`);
  const web = await spawnWebNode(work);
  stops.push(() => web.node.stop());
  await storescu(web.dimsePort, 'BEELDBRUG', study.files);

  const browser = await launchChromium(chromium, [readFileSync(web.certPath, 'utf8')]);
  stops.push(() => browser.close());
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1600, height: 1000 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`https://127.0.0.1:${web.httpsPort}/`);
  await page.getByLabel('User name').fill(web.account.username);
  await page.getByLabel('Password').fill(web.account.password);
  await page.getByLabel('Code from the authenticator app').fill(totpCode(web.account.totpSecret, totpStep(new Date())));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByTestId('signed-in-as').waitFor();

  const first: number[] = [];
  const fps: number[] = [];
  for (let r = 1; r <= RUNS; r++) {
    await page.goto(`https://127.0.0.1:${web.httpsPort}/#/studies`);
    await page.reload();
    await page.getByTestId('studies').getByRole('button', { name: 'View' }).first().waitFor();
    // She looks at the list before she opens a study: the page has loaded what it loads while idle (the viewer's code).
    await page.waitForLoadState('networkidle');
    const opened = await openViewer(page);
    // Scrolling starts once the whole series is in the viewer (the first image may come before it, on its own).
    await page.locator('[data-testid="viewport"][data-ready="true"]').waitFor();
    const at = Number(((await page.getByTestId('slice').textContent()) ?? '').split(' / ')[0]) - 1;
    const scrolled = await scrollThrough(page, at, INSTANCES);
    first.push(opened.ms);
    fps.push(scrolled.images / (scrolled.ms / 1000));
    console.log(
      `run ${r}: first image ${opened.ms.toFixed(0)} ms, ${scrolled.images} images scrolled in ${(scrolled.ms / 1000).toFixed(2)} s = ${fps.at(-1)?.toFixed(1)} images/s`,
    );
  }
  console.log(`viewer_first_image_ms=${median(first).toFixed(0)} scroll_fps=${median(fps).toFixed(1)}`);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await run('rm', ['-rf', work], 120_000);
}

/**
 * Clicks "View" and waits in the page for the first image drawn. Cornerstone's events do not bubble, so the page
 * listens in the capture phase on the document, which sees them before the viewport element exists.
 */
async function openViewer(page: Page): Promise<{ ms: number }> {
  return page.evaluate(
    () =>
      new Promise<{ ms: number }>((resolve) => {
        let index = -1;
        const onNew = (e: Event): void => {
          index = (e as CustomEvent<{ imageIdIndex: number }>).detail.imageIdIndex;
        };
        const onRendered = (): void => {
          if (index < 0) return;
          const ms = performance.now() - started;
          document.removeEventListener('CORNERSTONE_STACK_NEW_IMAGE', onNew, true);
          document.removeEventListener('CORNERSTONE_IMAGE_RENDERED', onRendered, true);
          resolve({ ms });
        };
        document.addEventListener('CORNERSTONE_STACK_NEW_IMAGE', onNew, true);
        document.addEventListener('CORNERSTONE_IMAGE_RENDERED', onRendered, true);
        const view = [...document.querySelectorAll('[data-testid="studies"] button')].find(
          (b) => b.textContent === 'View',
        );
        if (view === undefined) throw new Error('no View button');
        const started = performance.now();
        view.click();
      }),
  );
}

/** From slice `from` down to the last and up to the first, one key press per image drawn. */
async function scrollThrough(page: Page, from: number, count: number): Promise<{ images: number; ms: number }> {
  return page.evaluate(
    ({ from, count }) =>
      new Promise<{ images: number; ms: number }>((resolve, reject) => {
        const viewport = document.querySelector('[data-testid="viewport"]');
        if (viewport === null) return reject(new Error('no viewport'));
        const targets = [
          ...Array.from({ length: count - 1 - from }, (_, k) => ({ key: 'ArrowDown', index: from + 1 + k })),
          ...Array.from({ length: count - 1 }, (_, k) => ({ key: 'ArrowUp', index: count - 2 - k })),
        ];
        let step = 0;
        let shown = -1;
        const press = (): void => {
          const target = targets[step];
          if (target === undefined) {
            viewport.removeEventListener('CORNERSTONE_STACK_NEW_IMAGE', onNew);
            viewport.removeEventListener('CORNERSTONE_IMAGE_RENDERED', onRendered);
            return resolve({ images: targets.length, ms: performance.now() - started });
          }
          viewport.dispatchEvent(new KeyboardEvent('keydown', { key: target.key, bubbles: true }));
        };
        const onNew = (e: Event): void => {
          shown = (e as CustomEvent<{ imageIdIndex: number }>).detail.imageIdIndex;
        };
        const onRendered = (): void => {
          if (shown !== targets[step]?.index) return;
          step += 1;
          press();
        };
        viewport.addEventListener('CORNERSTONE_STACK_NEW_IMAGE', onNew);
        viewport.addEventListener('CORNERSTONE_IMAGE_RENDERED', onRendered);
        const started = performance.now();
        press();
      }),
    { from, count },
  );
}
