// Uploads in a real browser (Debian's Chromium): a secretary asks a patient for images; the patient follows the e-mailed
// link, types the SMS code and uploads a CD's content as a zip and a letter that is not DICOM; the secretary sees the
// study in quarantine and imports it into the PACS (a real Orthanc) under the BSN she checked.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AuditRecord } from '../../src/audit/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import {
  BROWSER_TEST_BUDGET,
  freshContext,
  screenshot,
  scriptErrors,
  signInOnPage,
  startChromium,
} from '../support/chromium.ts';
import { waitFor } from '../support/net.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { startShareNode, zipOf } from '../support/share-services.ts';
import { addAccount } from '../support/sign-in.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

test(
  'uploads in Chromium: ask a patient for images, upload a zip on their page, import it into the PACS from quarantine',
  BROWSER_TEST_BUDGET,
  async (t) => {
    if (requireTool(t, 'Orthanc') === undefined) return;
    const pacs = await startOrthanc({
      dir: tempDir(t),
      aeTitle: 'PACS_NOORD',
      modalities: { beeldbrug: { aeTitle: 'BB_0001', host: '127.0.0.1', port: 1 } },
    });
    t.after(() => pacs.stop());
    const {
      node: n,
      mail,
      sms,
      port,
    } = await startShareNode(t, {
      node: {
        dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'Noord PACS' }],
        routing: [{ action: 'forward', destination: 'PACS_NOORD' }],
      },
    });
    const totpSecret = await addAccount(t, n, { username: 's.smit', name: 'S. Smit', role: 'staff' });
    const synth = await synthesize({ outDir: join(tempDir(t), 'synth'), patients: 1, seed: 71 });
    const patient = synth.patients[0]!;
    const study = patient.studies[0]!;
    const dir = tempDir(t);
    writeFileSync(
      join(dir, 'cd-van-ziekenhuis-oost.zip'),
      await zipOf(
        study.files.map((f, i) => ({ name: `DICOM/IM${String(i + 1).padStart(5, '0')}`, data: readFileSync(f) })),
      ),
    );
    writeFileSync(join(dir, 'verwijsbrief.pdf'), '%PDF-1.4 geen beeld');
    const browser = await startChromium(t, [n.own.certPem]);
    if (browser === undefined) return;

    // The secretary asks the patient for the images of an examination elsewhere.
    const staff = await (await freshContext(browser)).newPage();
    await staff.goto(`https://127.0.0.1:${port}/`);
    await signInOnPage(staff, 's.smit', totpSecret);
    await staff.getByRole('link', { name: 'Uploads' }).click();
    await staff.getByText('Er wacht niets in quarantaine.').waitFor();
    await staff.getByRole('button', { name: 'Beelden opvragen' }).click();
    await staff.getByRole('heading', { name: 'Beelden opvragen bij patiënt of arts' }).waitFor();
    await staff.getByLabel('Naam ontvanger').fill('Els de Boer');
    await staff.getByLabel('E-mailadres').fill('els@example.test');
    await staff.getByLabel('Mobiel nummer').fill('06 2222 3333');
    await screenshot(staff, 'upload-request');
    await staff.getByRole('button', { name: 'Opvragen', exact: true }).click();
    await staff.getByTestId('shares').locator('tbody tr').first().getByText('Uploadverzoek').waitFor();

    // The patient opens the link, types the code, and sends the zip and a letter.
    const message = await mail.next();
    assert.match(message.subject, /vraagt u beelden te sturen/);
    const link = /https:\/\/\S+\/share#[\w-]{43}/.exec(message.text)?.[0];
    assert.ok(link !== undefined);
    const recipient = await (await freshContext(browser)).newPage();
    await recipient.goto(link);
    await recipient.getByRole('button', { name: 'Stuur mij een code' }).click();
    await recipient.getByLabel('Code uit de sms').fill(/\d{6}/.exec((await sms.next()).text)?.[0] ?? '');
    await recipient.getByRole('button', { name: 'Openen' }).click();
    await recipient.getByRole('heading', { name: 'Beelden naar Ziekenhuis Noord sturen' }).waitFor();
    assert.equal(await recipient.getByTestId('shared-studies').count(), 0, 'an upload request shows no studies');
    await recipient
      .getByTestId('upload-files')
      .setInputFiles([join(dir, 'cd-van-ziekenhuis-oost.zip'), join(dir, 'verwijsbrief.pdf')]);
    const uploads = recipient.getByTestId('uploads');
    await uploads.getByText(`${study.files.length} beelden ontvangen`).waitFor();
    await uploads.getByText(/Geweigerd: dit is geen DICOM-bestand en geen zip/).waitFor();
    await screenshot(recipient, 'share-recipient-upload');

    // The secretary finds the study in quarantine, as uploaded, and imports it under the patient's BSN.
    await staff.getByRole('link', { name: 'Uploads' }).click();
    const row = staff.getByTestId('quarantine').locator(`tr[data-study="${study.studyInstanceUid}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /Els de Boer/);
    assert.equal(await row.getByLabel('BSN om onder te importeren').inputValue(), patient.bsn, 'the uploaded BSN');
    await screenshot(staff, 'uploads');
    await row.getByRole('button', { name: 'Importeren in PACS' }).click();
    // Settled: recorded as imported (all instances in) or not; then the PACS holds it under that BSN.
    const settled = async (): Promise<AuditRecord | undefined> =>
      (await n.n.node.audit.list({ action: 'import' })).find(
        (r) => r.objects.studyInstanceUid === study.studyInstanceUid && !r.description.includes('accepted'),
      );
    await waitFor('the import settled', async () => (await settled()) !== undefined, t.signal);
    const outcome = await settled();
    assert.equal(outcome?.outcome, 'success', outcome?.description);
    const found = await pacs.rest<string[]>('POST', '/tools/find', {
      Level: 'Study',
      Query: { StudyInstanceUID: study.studyInstanceUid, PatientID: patient.bsn },
    });
    assert.equal(found.length, 1, 'the PACS holds the study under the BSN');
    assert.deepEqual([...scriptErrors(staff), ...scriptErrors(recipient)], []);
  },
);
