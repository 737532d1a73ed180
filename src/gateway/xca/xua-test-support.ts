import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BSN_ISSUER_OID } from '../../patient/index.ts';
import { ATTRIBUTE } from './xua.ts';
import { esc, NS } from './xml.ts';

/** A hospital identity provider for tests: an RSA key and a self-signed certificate made by OpenSSL. */
export interface TestIdp {
  issuer: string;
  keyPem: string;
  certPem: string;
}

export function createTestIdp(issuer = 'https://idp.ziekenhuis-midden.test/saml'): TestIdp {
  const dir = mkdtempSync(join(tmpdir(), 'bb-idp-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=Test identity provider',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      issuer,
      keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
      certPem: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface AssertionFields {
  audience: string;
  bsn?: string;
  /** Instead of a BSN: the resource-id as it stands. */
  resourceId?: string;
  ura?: string;
  organizationId?: string;
  nameId?: string;
  subjectName?: string;
  purposeOfUse?: string;
  roleCode?: string;
  issuer?: string;
  notBefore?: Date;
  notOnOrAfter?: Date;
  /** The signature's digest and signature methods (default SHA-256). */
  sha1?: boolean;
}

/**
 * A SAML 2.0 assertion with the XSPA attributes, signed by xmlsec1 (the XML Security Library's own tool, so the
 * signature is not made by the code that checks it), enveloped and referenced by the assertion's ID.
 */
export function signedAssertion(idp: TestIdp, f: AssertionFields): string {
  const id = `_${randomUUID()}`;
  const now = new Date();
  const notBefore = f.notBefore ?? new Date(now.getTime() - 60_000);
  const notOnOrAfter = f.notOnOrAfter ?? new Date(now.getTime() + 300_000);
  const digest = f.sha1 === true ? 'http://www.w3.org/2000/09/xmldsig#sha1' : 'http://www.w3.org/2001/04/xmlenc#sha256';
  const method =
    f.sha1 === true
      ? 'http://www.w3.org/2000/09/xmldsig#rsa-sha1'
      : 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
  const attr = (name: string, value: string): string =>
    `<saml2:Attribute Name="${name}"><saml2:AttributeValue>${value}</saml2:AttributeValue></saml2:Attribute>`;
  const template =
    `<saml2:Assertion xmlns:saml2="${NS.saml}" xmlns:hl7="${NS.hl7}" ID="${id}" IssueInstant="${now.toISOString()}" Version="2.0">` +
    `<saml2:Issuer>${esc(f.issuer ?? idp.issuer)}</saml2:Issuer>` +
    `<ds:Signature xmlns:ds="${NS.ds}"><ds:SignedInfo>` +
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>' +
    `<ds:SignatureMethod Algorithm="${method}"/>` +
    `<ds:Reference URI="#${id}"><ds:Transforms>` +
    '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>' +
    '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>' +
    `</ds:Transforms><ds:DigestMethod Algorithm="${digest}"/><ds:DigestValue/></ds:Reference>` +
    '</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>' +
    `<saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${esc(f.nameId ?? '900012345')}</saml2:NameID>` +
    '<saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"/></saml2:Subject>' +
    `<saml2:Conditions NotBefore="${notBefore.toISOString()}" NotOnOrAfter="${notOnOrAfter.toISOString()}">` +
    `<saml2:AudienceRestriction><saml2:Audience>${esc(f.audience)}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>` +
    `<saml2:AuthnStatement AuthnInstant="${now.toISOString()}"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:X509</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>` +
    '<saml2:AttributeStatement>' +
    attr(ATTRIBUTE.subjectId, esc(f.subjectName ?? 'Dr. A. de Vries')) +
    attr(ATTRIBUTE.organization, 'Ziekenhuis Midden') +
    attr(ATTRIBUTE.organizationId, esc(f.organizationId ?? `urn:oid:2.16.528.1.1007.3.3.${f.ura ?? '00000002'}`)) +
    attr(
      ATTRIBUTE.purposeOfUse,
      `<hl7:PurposeOfUse code="${esc(f.purposeOfUse ?? 'TREATMENT')}" codeSystem="2.16.840.1.113883.3.18.7.1" displayName="Treatment"/>`,
    ) +
    attr(ATTRIBUTE.role, `<hl7:Role code="${esc(f.roleCode ?? '01.015')}" codeSystem="2.16.528.1.1007.3.1.1"/>`) +
    attr(ATTRIBUTE.resourceId, esc(f.resourceId ?? `${f.bsn ?? '999999990'}^^^&${BSN_ISSUER_OID}&ISO`)) +
    '</saml2:AttributeStatement></saml2:Assertion>';
  const dir = mkdtempSync(join(tmpdir(), 'bb-saml-'));
  try {
    writeFileSync(join(dir, 'key.pem'), idp.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'cert.pem'), idp.certPem);
    writeFileSync(join(dir, 'assertion.xml'), template);
    execFileSync(
      'xmlsec1',
      [
        '--sign',
        '--privkey-pem',
        `${join(dir, 'key.pem')},${join(dir, 'cert.pem')}`,
        '--id-attr:ID',
        `${NS.saml}:Assertion`,
        '--output',
        join(dir, 'signed.xml'),
        join(dir, 'assertion.xml'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    // Without its XML declaration, so that it can stand inside a SOAP header.
    return readFileSync(join(dir, 'signed.xml'), 'utf8').replace(/^<\?xml[^>]*\?>\s*/, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
