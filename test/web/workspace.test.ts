// The staff workspace in a real browser (Debian's Chromium through playwright-core) against a live network: a registry,
// Noord with its PACS (a real Orthanc), Midden and Zuid. People sign in with password and TOTP, search, send a study
// and watch it arrive at the other hospital, ask the timeline, retrieve a prior and accept it into the PACS, read the
// audit trail as an auditor; and the refusals: a wrong code, a screen of another role, a session that ended.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { totpCode, totpStep } from '../../src/auth/index.ts';
import { synthesize } from '../../src/synth/index.ts';
import {
  BROWSER_TEST_BUDGET,
  freshContext,
  screenshot,
  scriptErrors,
  signInOnPage,
  startChromium,
  viewportPixels,
} from '../support/chromium.ts';
import { type ExchangeNode, midden, noord, send } from '../support/exchange.ts';
import { waitFor } from '../support/net.ts';
import { startOrthanc } from '../support/orthanc-pacs.ts';
import { addAccount, PERSON_PASSWORD } from '../support/sign-in.ts';
import { byHolder, importStudies, network, recorded } from '../support/timeline-network.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';

const urlOf = (n: ExchangeNode): string => `https://127.0.0.1:${n.port}/`;

/** Signs in through the page as a person at the screen would: user name, password, and the authenticator's code. */
/** A code that is not the account's at this moment, nor at the steps beside it that a verifier may accept. */
function wrongCode(secret: string): string {
  const now = totpStep(new Date());
  const near = new Set([-2, -1, 0, 1, 2].map((d) => totpCode(secret, now + d)));
  for (let i = 0; ; i++) {
    const c = String(i).padStart(6, '0');
    if (!near.has(c)) return c;
  }
}

async function openAt(context: BrowserContext, n: ExchangeNode): Promise<Page> {
  const page = await context.newPage();
  await page.goto(urlOf(n));
  return page;
}

test(
  'the staff workspace in Chromium: sign in, send and see it arrive, timeline, accept into the PACS, audit, refusals',
  BROWSER_TEST_BUDGET,
  async (t) => {
    if (requireTool(t, 'Orthanc') === undefined) return;
    const pacs = await startOrthanc({
      dir: tempDir(t),
      aeTitle: 'PACS_NOORD',
      modalities: { beeldbrug: { aeTitle: 'BB_0001', host: '127.0.0.1', port: 1 } },
    });
    t.after(() => pacs.stop());
    const net = await network(t, {
      noord: {
        dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacs.dicomPort, description: 'PACS Noord' }],
        routing: [{ action: 'hold' }],
        fetchFrom: { aeTitle: 'PACS_NOORD', method: 'c-get' },
      },
    });
    const { nodes, p } = net;
    const browser = await startChromium(t, [net.certs.noord.certPem, net.certs.midden.certPem]);
    if (browser === undefined) return;
    await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });

    // A CT study of another patient that Noord holds and will send.
    const own = await synthesize({ outDir: join(tempDir(t), 'own'), patients: 1, seed: 77, modalities: ['CT'] });
    const patient = own.patients[0];
    assert.ok(patient !== undefined);
    await importStudies(nodes.noord, patient, [0]);
    const study = patient.studies[0];
    assert.ok(study !== undefined);

    const visser = { username: 'r.visser', name: 'Dr. R. Visser', role: 'radiologist' as const, uziRoleCode: '01.015' };
    const visserSecret = await addAccount(t, nodes.noord, visser);
    const noordContext = await freshContext(browser);
    const page = await openAt(noordContext, nodes.noord);

    await t.test('sign-in: a wrong code is refused without saying which factor; the right one signs in', async () => {
      await page.getByRole('heading', { name: 'Beeldbrug' }).waitFor();
      await page.getByText(noord.name).waitFor();
      await screenshot(page, 'sign-in');
      await signInOnPage(page, visser.username, visserSecret, { code: wrongCode(visserSecret) });
      await page.getByRole('alert').getByText('Inloggen mislukt').waitFor();
      const failures = await nodes.noord.n.node.audit.list({ action: 'login-failure' });
      assert.ok(failures.some((r) => r.user.name === visser.name));
      await signInOnPage(page, visser.username, visserSecret);
      await page.getByTestId('signed-in-as').getByText('Dr. R. Visser · radioloog').waitFor();
    });

    await t.test('studies: the node’s studies are listed and searched by patient id', async () => {
      const table = page.getByTestId('studies');
      await table.getByText(patient.patientId).first().waitFor();
      await page.getByLabel('BSN of patiëntnummer').fill(patient.patientId);
      await page.getByRole('button', { name: 'Zoeken' }).click();
      await table.getByRole('row').nth(1).waitFor();
      assert.equal(await table.getByRole('row').count(), 2, 'the header and the one study');
      const thumbnail = table.locator('img.thumb').first();
      await waitFor('the thumbnail drawn', async () =>
        thumbnail.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0),
      );
      await screenshot(page, 'studies');
    });

    await t.test(
      'viewer: the CT opens at its middle slice, scrolls, and a window preset changes the pixels',
      async () => {
        await page.getByTestId('studies').getByRole('button', { name: 'Bekijken' }).first().click();
        const viewport = page.getByTestId('viewport');
        await page.locator('[data-testid="viewport"][data-ready="true"]').waitFor();
        const slice = page.getByTestId('slice');
        const pixels = () => viewportPixels(viewport);
        // The first image is drawn when the canvas shows more than the black background.
        let first = await pixels();
        await waitFor('the first image drawn', async () => {
          first = await pixels();
          return first.lit > first.data.length / 50;
        });
        const startSlice = await slice.textContent();
        assert.match(startSlice ?? '', /^\d+ \/ \d+$/);
        await screenshot(page, 'viewer');
        await viewport.focus();
        await page.keyboard.press('ArrowDown');
        await page.keyboard.press('ArrowDown');
        const [at, of] = (startSlice ?? '').split(' / ').map(Number);
        // Two presses are two slices, however fast they come.
        await waitFor('two slices on', async () => (await slice.textContent()) === `${(at ?? 0) + 2} / ${of}`);
        let scrolled = await pixels();
        await waitFor('the other slice drawn', async () => {
          scrolled = await pixels();
          return !scrolled.data.equals(first.data);
        });
        await page.getByRole('button', { name: 'Long' }).click();
        await waitFor(
          'the lung window',
          async () => (await page.getByTestId('window').textContent()) === 'W 1500 L -600',
        );
        await waitFor('the lung window drawn', async () => !(await pixels()).data.equals(scrolled.data));
        // The tags of the image shown, with their keywords.
        await page.getByRole('button', { name: 'Tags' }).click();
        const modality = page.getByTestId('tags').getByRole('row').filter({ hasText: '(0008,0060)' });
        assert.deepEqual(
          (await modality.getByRole('cell').allTextContents()).map((c) => c.trim()),
          ['(0008,0060)', 'Modality', 'CS', 'CT'],
        );
        await screenshot(page, 'viewer-tags');
        await page.getByRole('link', { name: 'Onderzoeken' }).click();
      },
    );

    const midContext = await freshContext(browser);
    const bos = { username: 'm.bos', name: 'M. Bos', role: 'staff' as const, uziRoleCode: '30.000' };
    const bosSecret = await addAccount(t, nodes.midden, bos);
    const midPage = await openAt(midContext, nodes.midden);

    await t.test(
      'send: to Midden with a purpose, urgency and reason; the progress ends in a signed receipt',
      async () => {
        await page.getByRole('link', { name: 'Onderzoeken' }).click();
        await page.getByTestId('studies').getByRole('button', { name: 'Versturen' }).first().click();
        await page.getByTestId('study-summary').getByText(patient.patientId).waitFor();
        await page.getByLabel('Naar ziekenhuis').selectOption(midden.ura);
        await page.getByLabel('Overdracht van zorg').check();
        await page.getByLabel('Spoed').check();
        await page.getByLabel('Reden / vraagstelling').fill('Overplaatsing naar IC, graag beoordelen');
        await screenshot(page, 'send');
        await page.getByRole('button', { name: 'Versturen' }).click();
        await page.getByRole('heading', { name: `Verzending → ${midden.name}` }).waitFor();
        await page.getByText('afgeleverd').waitFor();
        assert.equal(await page.getByTestId('instances').textContent(), `${study.instances} / ${study.instances}`);
        await page.getByText('Ondertekend ontvangstbewijs').waitFor();
        await screenshot(page, 'send-delivered');
        const sent = (await nodes.noord.n.node.audit.list({ action: 'send' })).filter(
          (r) => r.user.name === visser.name,
        );
        assert.ok(sent.length > 0, 'the send is recorded in the name of the signed-in radiologist');
      },
    );

    await t.test('the other hospital: the study is in Midden’s inbox with the sender’s reason', async () => {
      await signInOnPage(midPage, bos.username, bosSecret);
      await midPage.getByRole('link', { name: 'Verzendingen' }).click();
      const row = midPage.getByTestId('inbox').getByRole('row').filter({ hasText: 'Overplaatsing naar IC' });
      await row.waitFor();
      // The sender by name, not by URA: the table waits for the trust list before it shows a row.
      assert.match((await row.textContent()) ?? '', /Ziekenhuis Noord/);
      assert.match((await row.textContent()) ?? '', /Spoed/);
      await screenshot(midPage, 'inbox-midden');
    });

    await t.test('Midden rejects the held study with a reason: its copy goes, the row says who and why', async () => {
      const row = midPage.getByTestId('inbox').getByRole('row').filter({ hasText: 'Overplaatsing naar IC' });
      await row.getByText('wacht op beoordeling').waitFor();
      const before = (await nodes.midden.n.node.store.index.stats()).instances;
      await row.getByRole('button', { name: 'Weigeren' }).click();
      const confirm = midPage.getByRole('button', { name: 'Weigeren en kopie verwijderen' });
      assert.equal(await confirm.isDisabled(), true, 'no rejection without a reason');
      await midPage.getByLabel('Reden van weigering').fill('Verkeerde patiënt, graag opnieuw sturen');
      await screenshot(midPage, 'inbox-reject');
      await confirm.click();
      await row.getByText('geweigerd').waitFor();
      await row.getByText('M. Bos: Verkeerde patiënt, graag opnieuw sturen').waitFor();
      assert.equal(await row.getByRole('button', { name: 'Accepteren in PACS' }).count(), 0);
      assert.equal(
        (await nodes.midden.n.node.store.index.stats()).instances,
        before - study.instances,
        "Midden's copy of the study is removed, its other studies stay",
      );
    });

    await t.test(
      'timeline: a wrong BSN is caught, a right one shows Midden’s studies, and one is retrieved',
      async () => {
        await page.getByRole('link', { name: 'Tijdlijn' }).click();
        await page.getByLabel('BSN').fill('123456788');
        await page.getByRole('button', { name: 'Tijdlijn tonen' }).click();
        await page.getByRole('alert').getByText('geen geldig BSN').waitFor();
        await page.getByLabel('BSN').fill(p.bsn);
        await page.getByRole('button', { name: 'Tijdlijn tonen' }).click();
        await page.getByTestId('sources').getByText(midden.name).waitFor();
        const events = page.getByTestId('timeline').locator('.event');
        await events.first().waitFor();
        assert.equal(await events.count(), 2, 'the two studies at Midden, the one consent permits');
        await screenshot(page, 'timeline');
        await events.first().getByRole('button', { name: 'Ophalen naar PACS' }).click();
        await events.first().getByText('Wordt opgehaald').waitFor();
      },
    );

    await t.test(
      'inbox: the retrieved study is held; accepted, it goes into Noord’s PACS; the outbox shows Midden’s rejection',
      async () => {
        await page.getByRole('link', { name: 'Verzendingen' }).click();
        const held = page.getByTestId('inbox').getByRole('row').filter({ hasText: 'wacht op beoordeling' });
        // Noord's outbox also says what Midden did with the study sent earlier, and why.
        const rejectedThere = page
          .getByTestId('outbox')
          .getByText('Bij de ontvanger: geweigerd (Verkeerde patiënt, graag opnieuw sturen)');
        await waitFor('the retrieved study delivered and held, and the rejection at Midden heard of', async () => {
          await page.getByRole('button', { name: 'Vernieuwen' }).click();
          return (await held.count()) === 1 && (await rejectedThere.count()) === 1;
        });
        await screenshot(page, 'transfers');
        await held.getByRole('button', { name: 'Accepteren in PACS' }).click();
        const expected = p.studies[1]?.instances ?? p.studies[0]?.instances ?? 0;
        await waitFor(
          'the study in the PACS',
          async () => (await pacs.rest<string[]>('GET', '/instances')).length >= Math.min(expected, 1),
        );
        await waitFor('the inbox says it is in the PACS', async () => {
          await page.getByRole('button', { name: 'Vernieuwen' }).click();
          return (await page.getByTestId('inbox').getByText('in PACS').count()) === 1;
        });
      },
    );

    await t.test(
      'studies: the PACS is searched too; a study only the PACS holds is fetched, then opens here',
      async () => {
        // The PACS now holds the accepted prior; it also gets one of the patient's studies that Beeldbrug never saw.
        const only = p.studies[2];
        assert.ok(only !== undefined);
        for (const f of only.files) await pacs.upload(f);
        await page.getByRole('link', { name: 'Onderzoeken' }).click();
        await page.getByRole('radio', { name: 'PACS (PACS Noord)' }).check();
        await page.getByRole('button', { name: 'Zoeken' }).click();
        await page.getByRole('alert').getByText('Vul minstens één zoekterm in').waitFor();
        await page.getByLabel('BSN of patiëntnummer').fill(p.bsn);
        await page.getByRole('button', { name: 'Zoeken' }).click();
        const results = page.getByTestId('pacs-studies');
        await results.waitFor();
        const row = results.getByRole('row').filter({ hasText: only.accessionNumber });
        await row.getByRole('button', { name: 'Ophalen uit PACS' }).waitFor();
        assert.equal(await results.getByText('in Beeldbrug').count(), 1, 'the accepted prior is in Beeldbrug already');
        await screenshot(page, 'studies-pacs');
        await row.getByRole('button', { name: 'Ophalen uit PACS' }).click();
        await row.getByText('in Beeldbrug').waitFor();
        await row.getByRole('button', { name: 'Bekijken' }).click();
        await page.getByTestId('viewport').waitFor();
        await page.getByRole('link', { name: 'Verzendingen' }).click();
      },
    );

    await t.test(
      'timeline: a prior at Midden opens in the viewer straight from there (sent here, not into the PACS)',
      async () => {
        await page.getByRole('link', { name: 'Tijdlijn' }).click();
        await page.getByLabel('BSN').fill(p.bsn);
        await page.getByRole('button', { name: 'Tijdlijn tonen' }).click();
        const events = page.getByTestId('timeline').locator('.event');
        await events.nth(1).waitFor();
        const before = (await nodes.noord.n.node.store.index.stats()).instances;
        await events.nth(1).getByRole('button', { name: 'Bekijken' }).click();
        await page.locator('[data-testid="viewport"][data-ready="true"]').waitFor();
        assert.ok((await nodes.noord.n.node.store.index.stats()).instances > before, 'the study came from Midden');
        await waitFor('the prior drawn', async () => {
          const { lit, data } = await viewportPixels(page.getByTestId('viewport'));
          return lit > data.length / 50;
        });
        await screenshot(page, 'timeline-viewer');

        // Beside it, another study of the patient this node holds; a preset windows both alike.
        await page.getByRole('button', { name: 'Vergelijken' }).click();
        const priors = page.getByTestId('priors').getByRole('button');
        await priors.first().waitFor();
        assert.ok((await priors.count()) >= 1);
        await priors.first().click();
        const second = page.getByTestId('prior-viewport');
        await page.locator('[data-testid="prior-viewport"][data-ready="true"]').waitFor();
        await waitFor('the comparison drawn', async () => {
          const { lit, data } = await viewportPixels(second);
          return lit > data.length / 50;
        });
        await screenshot(page, 'viewer-compare');
        await page.getByRole('button', { name: 'Long' }).click();
        await waitFor('both panes in the lung window', async () => {
          const windows = [
            await page.getByTestId('window').textContent(),
            await page.getByTestId('prior-viewport-window').textContent(),
          ];
          return windows.every((w) => w === 'W 1500 L -600');
        });
        await page.getByRole('button', { name: 'Vergelijking sluiten' }).click();
        assert.equal(await second.count(), 0);
        await page.getByRole('link', { name: 'Verzendingen' }).click();
      },
    );

    await t.test('refused: a radiologist does not see the audit trail, in the menu or by the API', async () => {
      assert.equal(await page.getByRole('link', { name: 'Logboek' }).count(), 0);
      await page.goto(`${urlOf(nodes.noord)}#/audit`);
      await page.getByRole('alert').getByText('Uw rol geeft geen toegang').waitFor();
      const status = await page.evaluate(async () => (await fetch('/api/v1/audit')).status);
      assert.equal(status, 403);
    });

    await t.test('a session ended elsewhere sends the page back to sign-in, saying why', async () => {
      const cookie = (await noordContext.cookies()).find((c) => c.name === 'beeldbrug_session');
      assert.ok(cookie !== undefined && cookie.httpOnly && cookie.secure && cookie.sameSite === 'Strict');
      await page.goto(`${urlOf(nodes.noord)}#/transfers`);
      await page.getByTestId('inbox').waitFor();
      // Ended from elsewhere (another tab's sign-out, an admin), with the same session: the page learns it at its next call.
      const ended = await send(
        nodes.noord.port,
        'DELETE',
        '/api/v1/session',
        nodes.noord.ca.certPem,
        undefined,
        undefined,
        {
          authorization: `Bearer ${cookie.value}`,
        },
      );
      assert.equal(ended.status, 204, ended.body);
      await page.getByRole('button', { name: 'Vernieuwen' }).click();
      await page.getByText('Uw sessie is verlopen of beëindigd').waitFor();
      await screenshot(page, 'session-ended');
    });

    await t.test(
      'audit: an auditor finds the send by the patient’s BSN and verifies the chain; both are themselves recorded',
      async () => {
        const auditor = { username: 'k.smit', name: 'K. Smit', role: 'auditor' as const };
        const secret = await addAccount(t, nodes.noord, auditor);
        const auditPage = await openAt(await freshContext(browser), nodes.noord);
        await signInOnPage(auditPage, auditor.username, secret);
        await auditPage.getByRole('heading', { name: 'Logboek (NEN 7513)' }).waitFor();
        await auditPage.getByLabel('BSN').fill(patient.bsn);
        await auditPage.getByRole('button', { name: 'Zoeken' }).click();
        const sendRow = auditPage
          .getByTestId('audit')
          .getByRole('row')
          .filter({ hasText: visser.name })
          .filter({ hasText: 'send' });
        await sendRow.first().waitFor();
        // The chain, recomputed by the node: intact, with the number of records it checked.
        await auditPage.getByRole('button', { name: 'Keten controleren' }).click();
        const chain = auditPage.getByTestId('chain');
        await chain.waitFor();
        assert.match((await chain.textContent()) ?? '', /^De keten is intact: \d+ regels nagerekend/);
        await screenshot(auditPage, 'audit');
        const reads = await nodes.noord.n.node.audit.list({ action: 'audit-read' });
        assert.ok(reads.some((r) => r.user.name === auditor.name && r.patient?.bsn === patient.bsn));
        assert.ok(
          reads.some((r) => r.user.name === auditor.name && r.description.startsWith('audit chain verified: intact')),
        );
        assert.deepEqual(scriptErrors(auditPage), []);
      },
    );

    await t.test(
      'admin: adds a user whose QR secret signs in, disables a colleague, reads the configuration and runs the check',
      async () => {
        const beheer = { username: 'i.beheer', name: 'I. Beheer', role: 'admin' as const };
        const secret = await addAccount(t, nodes.noord, beheer);
        const adminPage = await openAt(await freshContext(browser), nodes.noord);
        await signInOnPage(adminPage, beheer.username, secret);
        await adminPage.getByRole('heading', { name: 'Beheer', level: 1 }).waitFor();
        assert.equal(
          await adminPage.getByRole('link', { name: 'Onderzoeken' }).count(),
          0,
          'no patient data for admins',
        );
        const accounts = adminPage.getByTestId('accounts');
        await accounts.getByRole('row').filter({ hasText: visser.username }).waitFor();

        await adminPage.getByRole('button', { name: 'Gebruiker toevoegen' }).click();
        await adminPage.getByLabel('Gebruikersnaam').fill('n.nieuw');
        await adminPage.getByRole('textbox', { name: /^Naam/ }).fill('N. Nieuw');
        await adminPage.getByRole('combobox', { name: /^Rol/ }).selectOption('staff');
        await adminPage.getByLabel('UZI-rolcode (optioneel)').fill('30.000');
        await adminPage.getByLabel('Eerste wachtwoord').fill(PERSON_PASSWORD);
        await adminPage.getByRole('button', { name: 'Gebruiker toevoegen' }).click();
        const handover = adminPage.getByTestId('new-secret');
        await handover.getByRole('img', { name: 'QR-code voor de authenticator-app' }).waitFor();
        assert.ok(
          await handover
            .getByRole('img')
            .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 100),
          'the QR code is drawn',
        );
        await screenshot(adminPage, 'admin-new-user');
        const shown = ((await handover.getByTestId('totp-secret').textContent()) ?? '').replace(/\s/g, '');
        const newcomer = await send(
          nodes.noord.port,
          'POST',
          '/api/v1/session',
          nodes.noord.ca.certPem,
          undefined,
          Buffer.from(
            JSON.stringify({
              username: 'n.nieuw',
              password: PERSON_PASSWORD,
              code: totpCode(shown, totpStep(new Date())),
            }),
          ),
          { 'content-type': 'application/json' },
        );
        assert.equal(newcomer.status, 200, `the secret as shown signs the new user in: ${newcomer.body}`);
        await handover.getByRole('button', { name: 'Gekoppeld, sluiten' }).click();
        await accounts.getByRole('row').filter({ hasText: 'n.nieuw' }).getByText('actief').waitFor();

        const bosRow = accounts.getByRole('row').filter({ hasText: visser.username });
        await bosRow.getByRole('button', { name: 'Uitschakelen' }).click();
        await bosRow.getByText('uitgeschakeld').waitFor();
        assert.equal(
          await accounts
            .getByRole('row')
            .filter({ hasText: beheer.username })
            .getByRole('button', { name: 'Uitschakelen' })
            .count(),
          0,
          'an admin cannot disable their own account',
        );
        assert.ok(
          (await nodes.noord.n.node.audit.list({ action: 'configuration-change' })).some(
            (r) =>
              r.user.name === beheer.name &&
              r.description === `account ${visser.username} (${visser.name}) disabled; its sessions ended`,
          ),
        );

        const configuration = adminPage.getByTestId('configuration');
        await configuration.getByTestId('dicom-peers').getByText('PACS_NOORD').waitFor();
        assert.match((await configuration.getByTestId('routing').textContent()) ?? '', /vasthouden ter beoordeling/);
        await adminPage.getByRole('button', { name: 'Controle uitvoeren' }).click();
        const doctor = adminPage.getByTestId('doctor');
        await doctor.waitFor();
        assert.ok((await doctor.getByRole('row').count()) > 0, 'the check reports its findings');
        await screenshot(adminPage, 'admin');
        assert.deepEqual(scriptErrors(adminPage), []);
      },
    );

    assert.deepEqual(scriptErrors(page), []);
    assert.deepEqual(scriptErrors(midPage), []);
  },
);
