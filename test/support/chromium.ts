// Debian's Chromium, driven by playwright-core, as the staff's browser. TLS stays on: Chromium is told to accept the
// test nodes' own public keys (by SPKI hash) and nothing else, so a wrong certificate still fails the page.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import sharp from 'sharp';
import { requireTool } from './tools.ts';
import { totpCode, totpStep } from '../../src/auth/index.ts';
import { PERSON_PASSWORD } from './sign-in.ts';

/** A browser test's own budget, below the file's (scripts/test.ts): a hang fails the test that hangs, with its step. */
export const BROWSER_TEST_BUDGET = { timeout: 600_000 };

/** Where screenshots of each screen go (kept by CI as artifacts; a few are copied into docs/ for the README). */
export const SCREENSHOTS = new URL('../../test-artifacts/screenshots/', import.meta.url).pathname;

function spkiHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** A headless Chromium that trusts the given node certificates; undefined when Chromium is missing (skips, or fails in CI). */
export async function startChromium(t: TestContext, nodeCerts: readonly string[]): Promise<Browser | undefined> {
  const executablePath = requireTool(t, 'chromium');
  if (executablePath === undefined) return undefined;
  const browser = await launchChromium(executablePath, nodeCerts);
  t.after(() => browser.close());
  return browser;
}

/** Debian's Chromium, headless, trusting exactly the given certificates' keys (also for benchmarks). */
export function launchChromium(executablePath: string, nodeCerts: readonly string[]): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${nodeCerts.map(spkiHash).join(',')}`,
    ],
  });
}

/**
 * A fresh browser profile (its own cookies) in Dutch, at a desktop size, failing the test on any page error. Its waits
 * have no deadline of their own (Playwright's default is 30 s, which a busy CI machine overran): each browser test has a
 * budget below its file's, so a wait that never ends fails that test, naming the step.
 */
export async function freshContext(browser: Browser, locale: 'nl-NL' | 'en-GB' = 'nl-NL'): Promise<BrowserContext> {
  const context = await browser.newContext({ locale, viewport: { width: 1360, height: 860 } });
  context.setDefaultTimeout(0);
  context.on('page', (p) => watchPage(p));
  return context;
}

const pageErrors = new WeakMap<Page, string[]>();

function watchPage(p: Page): void {
  const errors: string[] = [];
  pageErrors.set(p, errors);
  p.on('pageerror', (e) => errors.push(e.message));
  if (process.env['BEELDBRUG_BROWSER_LOG'] !== undefined)
    p.on('console', (m) => process.stderr.write(`[browser ${m.type()}] ${m.text()}\n`));
}

/** Uncaught errors of a page's scripts so far: a screen that throws is a failing screen even if it looks right. */
export function scriptErrors(p: Page): readonly string[] {
  return pageErrors.get(p) ?? [];
}

export async function screenshot(p: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await p.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs a local account in on the workspace's sign-in page: user name, password and the current TOTP code. */
export async function signInOnPage(
  page: Page,
  username: string,
  totpSecret: string,
  o: { password?: string; code?: string } = {},
): Promise<void> {
  await page.getByLabel('Gebruikersnaam').fill(username);
  await page.getByLabel('Wachtwoord', { exact: true }).fill(o.password ?? PERSON_PASSWORD);
  await page.getByLabel('Code uit de authenticator-app').fill(o.code ?? totpCode(totpSecret, totpStep(new Date())));
  await page.getByRole('button', { name: 'Inloggen', exact: true }).click();
}

/** The viewport's pixels in grey, and how many are lit above the black background. */
export async function viewportPixels(viewport: Locator): Promise<{ lit: number; data: Buffer }> {
  const { data } = await sharp(await viewport.screenshot())
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  let lit = 0;
  for (const v of data) if (v > 24) lit++;
  return { lit, data };
}
