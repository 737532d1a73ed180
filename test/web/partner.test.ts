// Partner accounts in a real browser (Debian's Chromium): a secretary shares a study with a partner organization; the
// partner signs in with password and TOTP, is warned that its password expires soon, finds the share in its download
// folder and downloads the zip, registers an SSH key for SFTP, and sends an image into the hospital's quarantine. A
// partner whose password has expired chooses a new one at sign-in, with the same code.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/index.ts';
import {
  BROWSER_TEST_BUDGET,
  freshContext,
  screenshot,
  viewportPixels,
  scriptErrors,
  signInOnPage,
  startChromium,
} from '../support/chromium.ts';
import { freePort, waitFor } from '../support/net.ts';
import { importSynthPatient } from '../support/patient-data.ts';
import { run } from '../support/processes.ts';
import { zipEntryNames, startShareNode } from '../support/share-services.ts';
import { addAccount } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

test(
  'partner folders in Chromium: a share to a partner, its download and upload folders, SSH keys, an expired password',
  BROWSER_TEST_BUDGET,
  async (t) => {
    if (requireTool(t, 'ssh-keygen') === undefined) return;
    const { node: n, port } = await startShareNode(t, {
      share: { sftp: { host: '127.0.0.1', port: await freePort() } },
    });
    const staffSecret = await addAccount(t, n, { username: 's.smit', name: 'S. Smit', role: 'staff' });
    const partnerSecret = await addAccount(t, n, {
      username: 'noord',
      name: 'Servicedesk',
      role: 'partner',
      organization: 'Kliniek Noord',
    });
    const expiredSecret = await addAccount(t, n, {
      username: 'zuid',
      name: 'PACS-beheer',
      role: 'partner',
      organization: 'Kliniek Zuid',
    });
    // Noord changed its password 80 days ago (10 days left), Zuid 91 days ago (expired).
    const config = parseConfig(
      parseYaml(readFileSync(n.n.configPath, 'utf8')) as Record<string, unknown>,
      n.n.configPath,
    );
    const db = new DatabaseSync(join(config.dataDir, 'accounts.sqlite'));
    t.after(() => db.close());
    const changed = db.prepare('UPDATE account SET password_changed_at = ? WHERE username = ?');
    changed.run(Date.now() - 80 * 86_400_000, 'noord');
    changed.run(Date.now() - 91 * 86_400_000, 'zuid');
    const study = await importSynthPatient(t, n.n.node, 77);
    const dir = tempDir(t);
    const key = join(dir, 'noord_ed25519');
    assert.equal((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pacs@noord', '-f', key])).code, 0);
    const browser = await startChromium(t, [n.own.certPem]);
    if (browser === undefined) return;

    // The secretary shares the study with Kliniek Noord: no e-mail, no SMS; it goes to the partner's folder.
    const staff = await (await freshContext(browser)).newPage();
    await staff.goto(`https://127.0.0.1:${port}/#/share/${study.studyInstanceUid}`);
    await signInOnPage(staff, 's.smit', staffSecret);
    await staff.locator('select[name="partner"]').selectOption({ label: 'Partner: Kliniek Noord (downloadmap)' });
    await staff.getByText('er gaat geen e-mail of sms').waitFor();
    assert.equal(await staff.getByLabel('E-mailadres').count(), 0, 'no e-mail address is asked for');
    await screenshot(staff, 'share-to-partner');
    await staff.getByRole('button', { name: 'Delen', exact: true }).click();
    await staff
      .getByTestId('shares')
      .locator('tbody tr')
      .first()
      .getByText('in de downloadmap van de partner')
      .waitFor();

    // The partner signs in, is warned about its password, and finds the share in its download folder.
    const partner = await (await freshContext(browser)).newPage();
    await partner.goto(`https://127.0.0.1:${port}/`);
    await signInOnPage(partner, 'noord', partnerSecret);
    await partner.getByRole('heading', { name: 'Mappen van Kliniek Noord' }).waitFor();
    assert.match(await partner.getByTestId('password-warning').innerText(), /verloopt over 10 dagen/);
    const row = partner.getByTestId('partner-shares').locator('tbody tr');
    await row.getByText(study.description).waitFor();
    assert.match(await partner.getByTestId('sftp-command').innerText(), /^sftp -P \d+ noord@127\.0\.0\.1$/);
    assert.deepEqual(
      await partner.getByRole('link').allInnerTexts(),
      ['Mappen', 'Download (zip)'],
      'a partner sees its folders and nothing of the workspace',
    );
    const [download] = await Promise.all([
      partner.waitForEvent('download'),
      row.getByRole('link', { name: 'Download (zip)' }).click(),
    ]);
    const saved = join(dir, 'noord.zip');
    await download.saveAs(saved);
    const names = await zipEntryNames(saved);
    assert.ok(names.includes('DICOMDIR'));
    assert.equal(names.filter((x) => x.startsWith('DICOM/')).length, study.instances);

    // Or it looks at the study in the browser, read from its folder's share, and goes back to the folders.
    await row.getByRole('button', { name: 'Bekijken' }).click();
    await partner.locator('[data-testid="viewport"][data-ready="true"]').waitFor();
    await waitFor('the image drawn', async () => {
      const { lit, data } = await viewportPixels(partner.getByTestId('viewport'));
      return lit > data.length / 50;
    });
    assert.match(await partner.locator('#viewer-title').innerText(), new RegExp(study.description));
    await screenshot(partner, 'partner-viewer');
    await partner.getByRole('button', { name: '← Terug naar de lijst' }).click();
    await row.getByText(study.description).waitFor();

    // It registers its SSH key, and sends an image to the hospital.
    await partner.getByLabel('SSH-sleutel registreren').fill(readFileSync(`${key}.pub`, 'utf8'));
    await partner.getByRole('button', { name: 'Registreren' }).click();
    await partner.getByTestId('ssh-keys').getByText('pacs@noord').waitFor();
    await partner.getByTestId('upload-files').setInputFiles([study.files[0]!]);
    await partner.getByTestId('uploads').getByText('1 beelden ontvangen').waitFor();
    await screenshot(partner, 'partner-folders');

    // The secretary sees it in quarantine, sent by the partner.
    await staff.getByRole('link', { name: 'Uploads' }).click();
    const held = staff.getByTestId('quarantine').locator(`tr[data-study="${study.studyInstanceUid}"]`);
    await held.getByText('Servicedesk (Kliniek Noord)').waitFor();

    // Zuid's password has expired: it sets a new one at sign-in, with the same code, and is in.
    const expired = await (await freshContext(browser)).newPage();
    await expired.goto(`https://127.0.0.1:${port}/`);
    await signInOnPage(expired, 'zuid', expiredSecret);
    await expired.getByTestId('password-expired').waitFor();
    await expired.locator('input[name="newPassword"]').fill('een vers wachtwoord voor de kliniek');
    await expired.locator('input[name="repeatPassword"]').fill('een vers wachtwoord voor de kliniek');
    await screenshot(expired, 'sign-in-password-expired');
    await expired.getByRole('button', { name: 'Inloggen', exact: true }).click();
    await expired.getByRole('heading', { name: 'Mappen van Kliniek Zuid' }).waitFor();
    assert.equal(await expired.getByTestId('password-warning').count(), 0, 'a fresh password warns of nothing');
    assert.deepEqual([...scriptErrors(staff), ...scriptErrors(partner), ...scriptErrors(expired)], []);
  },
);
