import assert from 'node:assert/strict';
import { soapRequestEnvelope } from './requests.ts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BeeldbrugError } from '../../errors/index.ts';
import { childNamed, NS, parseXml } from './xml.ts';
import { createTestIdp, signedAssertion, type AssertionFields } from './xua-test-support.ts';
import { bsnOfCx, issueXua, verifyXua, type XuaOptions } from './xua.ts';

const AUDIENCE = 'urn:oid:2.16.528.1.1007.99.1';
const idp = createTestIdp();
const options: XuaOptions = { identityProviders: [idp], audiences: [AUDIENCE] };

function verify(envelope: string, o: XuaOptions = options) {
  const header = childNamed(parseXml(envelope, 'request').documentElement!, NS.soap, 'Header')!;
  return verifyXua(envelope, childNamed(header, NS.wsse, 'Security'), o);
}
const envelopeWith = (f: Partial<AssertionFields> = {}): string =>
  soapRequestEnvelope('urn:ihe:iti:2007:CrossGatewayQuery', signedAssertion(idp, { audience: AUDIENCE, ...f }), '<x/>');

function refusedFor(envelope: string, reason: RegExp, o?: XuaOptions): void {
  assert.throws(
    () => verify(envelope, o),
    (err) => err instanceof BeeldbrugError && err.code === 'ASSERTION_INVALID' && reason.test(err.message),
  );
}

describe('XUA assertions (signed by xmlsec1)', () => {
  it('gives the person, organization, purpose and patient of a valid assertion', () => {
    const c = verify(envelopeWith({ bsn: '123456782', ura: '12345678', subjectName: 'Dr. B. Jansen' }));
    assert.equal(c.issuer, idp.issuer);
    assert.deepEqual(c.person, { id: '900012345', name: 'Dr. B. Jansen', roleCode: '01.015' });
    assert.deepEqual(c.organization, { ura: '12345678', name: 'Ziekenhuis Midden' });
    assert.equal(c.purposeOfUse, 'TREATMENT');
    assert.equal(c.bsn, '123456782');
    // The bare URA is accepted as organization-id too.
    assert.equal(verify(envelopeWith({ organizationId: '87654321' })).organization.ura, '87654321');
  });

  it('refuses an assertion whose signed content was changed', () => {
    const env = envelopeWith({ bsn: '123456782' });
    refusedFor(env.replace('123456782^^^', '999999990^^^'), /signature is not valid/);
    refusedFor(env.replace('Dr. A. de Vries', 'Dr. Mallory'), /signature is not valid/);
  });

  it('refuses an untrusted issuer, and a trusted issuer name signed with another key', () => {
    refusedFor(envelopeWith({ issuer: 'https://idp.elsewhere.test' }), /not a trusted identity provider/);
    const other = createTestIdp(idp.issuer);
    refusedFor(
      soapRequestEnvelope('urn:x', signedAssertion(other, { audience: AUDIENCE }), '<x/>'),
      /signature is not valid/,
    );
  });

  it('refuses no assertion, an unsigned one, and SHA-1', () => {
    refusedFor(soapRequestEnvelope('urn:x', undefined, '<x/>'), /no SAML assertion/);
    const signed = signedAssertion(idp, { audience: AUDIENCE });
    const unsigned = signed.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '');
    refusedFor(soapRequestEnvelope('urn:x', unsigned, '<x/>'), /not signed/);
    refusedFor(envelopeWith({ sha1: true }), /cannot be checked|not valid/);
  });

  it('refuses an expired assertion, one not yet valid, and one for another audience', () => {
    const hour = 3_600_000;
    refusedFor(
      envelopeWith({ notBefore: new Date(Date.now() - 2 * hour), notOnOrAfter: new Date(Date.now() - hour) }),
      /expired/,
    );
    refusedFor(
      envelopeWith({ notBefore: new Date(Date.now() + hour), notOnOrAfter: new Date(Date.now() + 2 * hour) }),
      /valid only from/,
    );
    refusedFor(envelopeWith({ audience: 'urn:oid:9.9.9' }), /not meant for this gateway/);
  });

  it('refuses an assertion without a BSN patient or a URA organization', () => {
    refusedFor(envelopeWith({ resourceId: '12345^^^&1.2.3.4&ISO' }), /not a BSN/);
    refusedFor(envelopeWith({ organizationId: 'urn:oid:1.2.3.4' }), /not a URA/);
  });

  it('reads the claims from the signed assertion only: a forged copy beside the signed one is refused', () => {
    const signed = signedAssertion(idp, { audience: AUDIENCE, bsn: '123456782' });
    // Signature wrapping: the forged assertion takes the signed one's place (and its ID and signature); the original
    // hides elsewhere in the header, so that a naive check finds a valid signature.
    const forged = signed.replace('123456782^^^', '999999990^^^');
    const env = soapRequestEnvelope('urn:x', forged, '<x/>').replace(
      '</s:Header>',
      `<wrapper xmlns="urn:evil">${signed}</wrapper></s:Header>`,
    );
    refusedFor(env, /signature|assertion/);
    const twice = soapRequestEnvelope('urn:x', `${signed}${forged}`, '<x/>');
    refusedFor(twice, /more than one assertion/);
  });

  it('reads a BSN only with the BSN assigning authority', () => {
    assert.equal(bsnOfCx('999999990^^^&2.16.840.1.113883.2.4.6.3&ISO'), '999999990');
    assert.equal(bsnOfCx('999999990^^^&1.2.3&ISO'), undefined);
    assert.equal(bsnOfCx('99999999^^^&2.16.840.1.113883.2.4.6.3&ISO'), undefined);
  });

  it('issues assertions xmlsec1 verifies and the gateway accepts, for one person and one patient', () => {
    const node = createTestIdp('urn:beeldbrug:node:noord');
    const subject = {
      id: 'a.devries',
      name: 'Dr. A. de Vries',
      roleCode: '01.015',
      organization: { ura: '10000001', name: 'Ziekenhuis Noord' },
      bsn: '123456782',
    };
    const assertion = issueXua(node, subject, AUDIENCE);
    const dir = mkdtempSync(join(tmpdir(), 'bb-xua-'));
    try {
      writeFileSync(join(dir, 'a.xml'), assertion);
      writeFileSync(join(dir, 'cert.pem'), node.certPem);
      execFileSync(
        'xmlsec1',
        [
          '--verify',
          '--pubkey-cert-pem',
          join(dir, 'cert.pem'),
          '--id-attr:ID',
          `${NS.saml}:Assertion`,
          join(dir, 'a.xml'),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const c = verify(soapRequestEnvelope('urn:x', assertion, '<x/>'), {
      identityProviders: [node],
      audiences: [AUDIENCE],
    });
    assert.deepEqual(c.person, { id: 'a.devries', name: 'Dr. A. de Vries', roleCode: '01.015' });
    assert.deepEqual(c.organization, subject.organization);
    assert.equal(c.bsn, '123456782');
    assert.equal(c.purposeOfUse, 'TREATMENT');
    // Another community does not take it: the audience is the one asked.
    refusedFor(soapRequestEnvelope('urn:x', assertion, '<x/>'), /not a trusted identity provider|not meant/, {
      identityProviders: [node],
      audiences: ['urn:oid:1.2.3'],
    });
  });
});
