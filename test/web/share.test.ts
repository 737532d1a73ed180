// Sharing in a real browser (Debian's Chromium): a secretary shares a study from the workspace, the link arrives at a
// real SMTP server, the recipient follows it in another browser, asks for the SMS code, types it, reads the disclaimer
// views the study in the browser and downloads the zip; the secretary revokes the share and the link says so.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BROWSER_TEST_BUDGET,
  freshContext,
  screenshot,
  scriptErrors,
  signInOnPage,
  startChromium,
  viewportPixels,
} from '../support/chromium.ts';
import { waitFor } from '../support/net.ts';
import { importSynthPatient } from '../support/patient-data.ts';
import { run } from '../support/processes.ts';
import { startShareNode } from '../support/share-services.ts';
import { addAccount } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

test(
  'sharing in Chromium: share from the workspace, open with e-mail link and SMS code, download, revoke',
  BROWSER_TEST_BUDGET,
  async (t) => {
    const unzip = requireTool(t, 'unzip');
    if (unzip === undefined) return;
    const { node: n, mail, sms, port } = await startShareNode(t);
    const study = await importSynthPatient(t, n.n.node, 33);
    const totpSecret = await addAccount(t, n, { username: 's.smit', name: 'S. Smit', role: 'staff' });
    const browser = await startChromium(t, [n.own.certPem]);
    if (browser === undefined) return;

    // The secretary finds the study and shares it.
    const staff = await (await freshContext(browser)).newPage();
    await staff.goto(`https://127.0.0.1:${port}/`);
    await signInOnPage(staff, 's.smit', totpSecret);
    await staff.getByRole('button', { name: 'Zoeken' }).click();
    await staff.getByTestId('studies').getByRole('button', { name: 'Delen' }).first().click();
    await staff.getByRole('heading', { name: 'Delen met patiënt of arts' }).waitFor();
    await staff.getByLabel('Naam ontvanger').fill('Jan Ontvanger');
    await staff.getByLabel('E-mailadres').fill('jan@example.test');
    await staff.getByLabel('Mobiel nummer').fill('06 1234 5678');
    await staff.getByLabel(/De ontvanger is de patiënt zelf/).check();
    await screenshot(staff, 'share-form');
    await staff.getByRole('button', { name: 'Delen', exact: true }).click();
    const row = staff.getByTestId('shares').locator('tbody tr').first();
    await row.getByText('actief').waitFor();
    assert.match(await row.innerText(), /Jan Ontvanger/);
    await screenshot(staff, 'shares');

    // The recipient follows the link from the e-mail in a browser of their own.
    const link = /https:\/\/\S+\/share#[\w-]{43}/.exec((await mail.next()).text)?.[0];
    assert.ok(link !== undefined);
    const recipient = await (await freshContext(browser)).newPage();
    await recipient.goto(link);
    await recipient.getByText('eindigt op 78').waitFor();
    assert.equal(sms.all.length, 0, 'opening the link sends nothing by itself');
    await screenshot(recipient, 'share-recipient-link');
    await recipient.getByRole('button', { name: 'Stuur mij een code' }).click();
    const code = /\d{6}/.exec((await sms.next()).text)?.[0] ?? '';
    await recipient.getByLabel('Code uit de sms').fill(code === '000000' ? '111111' : '000000');
    await recipient.getByRole('button', { name: 'Openen' }).click();
    await recipient.getByText('U kunt het nog 4 keer proberen').waitFor();
    await recipient.getByLabel('Code uit de sms').fill(code);
    await recipient.getByRole('button', { name: 'Openen' }).click();
    const studies = recipient.getByTestId('shared-studies');
    await studies.waitFor();
    assert.match(await studies.innerText(), new RegExp(study.description));
    // The download waits for the disclaimer to be read.
    assert.equal(await recipient.getByRole('button', { name: 'Download alle beelden (zip)' }).isDisabled(), true);
    await recipient.getByLabel('Ik heb dit gelezen').check();
    await screenshot(recipient, 'share-recipient-studies');
    const [download] = await Promise.all([
      recipient.waitForEvent('download'),
      recipient.getByRole('link', { name: 'Download alle beelden (zip)' }).click(),
    ]);
    const saved = join(tempDir(t), 'beelden.zip');
    await download.saveAs(saved);
    const listed = await run(unzip, ['-l', saved], 60_000);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /DICOMDIR/);
    assert.match(listed.stdout, /DICOM\/ST001\/SE001\/IM00001/);
    assert.ok(readFileSync(saved).length > study.bytes, 'the whole study is in it');

    // Or without download: the study in the web app's viewer, read from the share, drawn on the canvas.
    await studies.getByRole('button', { name: 'Bekijken' }).click();
    await recipient.locator('[data-testid="viewport"][data-ready="true"]').waitFor();
    await waitFor('the image drawn', async () => {
      const { lit, data } = await viewportPixels(recipient.getByTestId('viewport'));
      return lit > data.length / 50;
    });
    assert.match(await recipient.locator('#viewer-title').innerText(), new RegExp(study.description));
    assert.equal(
      await recipient.getByRole('button', { name: 'Vergelijken' }).count(),
      0,
      'a share holds nothing to compare',
    );
    await screenshot(recipient, 'share-recipient-viewer');
    await recipient.getByRole('button', { name: '← Terug naar de lijst' }).click();
    await studies.waitFor();

    // Without a DICOM viewer: the zip's own viewer, opened from disk with no server, shows the unpacked folder.
    const unpacked = join(tempDir(t), 'uitgepakt');
    assert.equal((await run(unzip, ['-q', saved, '-d', unpacked], 60_000)).code, 0);
    const offline = await (await freshContext(browser)).newPage();
    await offline.goto(`file://${join(unpacked, 'BEKIJK-BEELDEN.html')}`);
    await offline.locator('#folder').setInputFiles(unpacked);
    await offline.getByText(/^Beeld 1 van \d+ · W \d+ L -?\d+$/).waitFor();
    assert.match(await offline.locator('nav').innerText(), new RegExp(study.description));
    const lit = await offline.locator('#image').evaluate((element) => {
      const canvas = element as unknown as {
        width: number;
        height: number;
        getContext(kind: '2d'): {
          getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
        };
      };
      const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if ((d[i] ?? 0) > 0) n++;
      return { n, width: canvas.width };
    });
    assert.ok(lit.width > 1 && lit.n > 0, 'the image is drawn');
    await screenshot(offline, 'share-offline-viewer');
    await offline.getByRole('button', { name: '▶' }).click();
    await offline.getByText(/^Beeld 2 van \d+ · W \d+ L -?\d+$/).waitFor();
    assert.deepEqual(scriptErrors(offline), []);

    // The recipient is the patient: they may see who accessed their data, asked for on purpose.
    await recipient.getByRole('button', { name: 'Toon het overzicht' }).click();
    const history = recipient.getByTestId('access-history');
    await history.waitFor();
    const historyText = await history.innerText();
    assert.match(historyText, /S\. Smit\s+medewerker, Ziekenhuis Noord\s+Beelden gedeeld via een link/);
    assert.match(historyText, /Jan Ontvanger\s+ontvanger van een link\s+Beelden gedownload/);
    await screenshot(recipient, 'share-recipient-history');

    // Revoked by the secretary: the recipient's page says so at the next look, and shows nothing of the patient.
    staff.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Intrekken' }).click();
    await row.getByText('ingetrokken').waitFor();
    await recipient.reload();
    await recipient.getByTestId('link-closed').waitFor();
    assert.match(await recipient.getByTestId('link-closed').innerText(), /ingetrokken/);
    assert.doesNotMatch(await recipient.content(), new RegExp(study.description));
    await screenshot(recipient, 'share-recipient-revoked');

    // A de-identified share: the options appear once it is ticked; its recipient sees no name and no birth date.
    await staff.goto(`https://127.0.0.1:${port}/#/share/${study.studyInstanceUid}`);
    await staff.getByRole('heading', { name: 'Delen met patiënt of arts' }).waitFor();
    await staff.getByLabel('Naam ontvanger').fill('Dr. A. Onderzoeker');
    await staff.getByLabel('E-mailadres').fill('onderzoek@example.test');
    await staff.getByLabel('Mobiel nummer').fill('06 8765 4321');
    await staff.getByLabel(/Beelden de-identificeren/).check();
    await staff.getByLabel('datums en tijden').check();
    await screenshot(staff, 'share-form-deidentify');
    await staff.getByRole('button', { name: 'Delen', exact: true }).click();
    const deidRow = staff.getByTestId('shares').locator('tbody tr').first();
    await deidRow.getByText('gede-identificeerd').waitFor();
    await screenshot(staff, 'shares-deidentified');
    const deidLink = /https:\/\/\S+\/share#[\w-]{43}/.exec((await mail.next()).text)?.[0];
    assert.ok(deidLink !== undefined);
    const researcher = await (await freshContext(browser)).newPage();
    await researcher.goto(deidLink);
    await researcher.getByRole('button', { name: 'Stuur mij een code' }).click();
    await researcher.getByLabel('Code uit de sms').fill(/\d{6}/.exec((await sms.next()).text)?.[0] ?? '');
    await researcher.getByRole('button', { name: 'Openen' }).click();
    await researcher.getByTestId('deidentified').waitFor();
    const shown = await researcher.getByTestId('shared-studies').innerText();
    assert.doesNotMatch(shown, /Geboortedatum|Patiënt/);
    assert.doesNotMatch(await researcher.content(), new RegExp(study.description));
    await screenshot(researcher, 'share-recipient-deidentified');
    // Its viewer shows the images under the pseudonym, never the patient's name.
    await researcher.getByLabel('Ik heb dit gelezen').check();
    await researcher.getByTestId('shared-studies').getByRole('button', { name: 'Bekijken' }).click();
    await researcher.locator('[data-testid="viewport"][data-ready="true"]').waitFor();
    assert.match(await researcher.locator('#viewer-title').innerText(), /^ANONIEM · /);
    assert.doesNotMatch(await researcher.content(), new RegExp(study.description));
    assert.deepEqual([...scriptErrors(staff), ...scriptErrors(recipient), ...scriptErrors(researcher)], []);
  },
);
