// Sign-in through the hospital's identity provider in Chromium: the workspace's button takes the browser to the
// provider (oidc-provider, its own sign-in page), and back to the workspace signed in with the role its groups give;
// a person whose groups give no role is told sign-in failed, with a way back to the sign-in page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BROWSER_TEST_BUDGET, freshContext, screenshot, scriptErrors, startChromium } from '../support/chromium.ts';
import type { IdpPerson } from '../support/oidc-idp.ts';
import { startNodeBehindIdp } from '../support/oidc-node.ts';

const people: Record<string, IdpPerson> = {
  'rad-1': {
    name: 'Dr. C. Bakker',
    username: 'c.bakker@noord.example',
    groups: ['radiologie'],
    amr: ['pwd', 'otp'],
    uziRoleCode: '01.015',
  },
  'fac-1': { name: 'F. Smit', username: 'f.smit@noord.example', groups: ['facilitair'], amr: ['pwd', 'otp'] },
};

test(
  'the workspace signs in through the identity provider in Chromium, with the role its groups give',
  BROWSER_TEST_BUDGET,
  async (t) => {
    const {
      node: n,
      idp,
      origin: node,
    } = await startNodeBehindIdp(t, {
      people,
      claims: { uziRoleCode: 'uzi_role_code' },
      roles: [{ group: 'radiologie', role: 'radiologist' }],
    });
    const browser = await startChromium(t, [n.own.certPem, idp.certPem]);
    if (browser === undefined) return;

    const signInAs = async (person: string) => {
      const page = await (await freshContext(browser)).newPage();
      await page.goto(node);
      await page.getByRole('link', { name: 'Inloggen via het ziekenhuisaccount' }).click();
      await page.getByRole('heading', { name: 'Ziekenhuis Noord' }).waitFor();
      assert.ok(page.url().startsWith(`${idp.issuer}/interaction/`), `at the provider: ${page.url()}`);
      await page.getByLabel('Account').fill(person);
      await page.getByRole('button', { name: 'Inloggen bij het ziekenhuis' }).click();
      return page;
    };

    const bakker = await signInAs('rad-1');
    await bakker.getByTestId('signed-in-as').getByText('Dr. C. Bakker · radioloog').waitFor();
    assert.ok(bakker.url().startsWith(node), 'back at the workspace');
    await bakker.getByRole('link', { name: 'Onderzoeken' }).waitFor();
    await screenshot(bakker, 'oidc-signed-in');
    const login = (await n.n.node.audit.list({ action: 'login' })).at(-1);
    assert.equal(login?.user.name, 'Dr. C. Bakker');
    assert.match(login?.description ?? '', /two factors/);
    assert.deepEqual(scriptErrors(bakker), []);

    // Groups that give no role: back at the node with a page that says so (the same for every failure) and a way back.
    const smit = await signInAs('fac-1');
    await smit.getByRole('heading', { name: 'Inloggen mislukt' }).waitFor();
    assert.ok(smit.url().startsWith(node));
    await screenshot(smit, 'oidc-refused');
    await smit.getByRole('link', { name: /Terug naar Beeldbrug/ }).click();
    await smit.getByRole('link', { name: 'Inloggen via het ziekenhuisaccount' }).waitFor();
    assert.equal((await n.n.node.audit.list({ action: 'login-failure' })).at(-1)?.user.name, 'F. Smit');
  },
);
