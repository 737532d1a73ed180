import { randomUUID } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { BSN_ISSUER_OID } from '../../patient/index.ts';
import { BeeldbrugError } from '../../errors/index.ts';
import { childNamed, childrenNamed, descendantsNamed, esc, firstElement, NS, parseXml, textOf } from './xml.ts';

/** An identity provider whose assertions this gateway accepts: its SAML Issuer and the certificate it signs with. */
export interface IdentityProvider {
  issuer: string;
  certPem: string;
}

export interface XuaOptions {
  identityProviders: readonly IdentityProvider[];
  /** The Audience values an assertion must name one of (this community's home community id, the service's URL). */
  audiences: readonly string[];
  /** How far the clocks of the identity provider and this node may differ. */
  clockSkewSeconds?: number;
  now?: () => number;
}

/**
 * Who asks, for whom and why, as the hospital's identity provider vouches for it in a signed SAML 2.0 assertion (IHE
 * XUA, ITI-40), with the attributes of the XSPA profile the Dutch XCA networks use.
 */
export interface XuaClaims {
  assertionId: string;
  issuer: string;
  /** The person: NameID, their name (subject-id) and, where given, their role code. */
  person: { id: string; name: string; roleCode?: string };
  /** The person's organization by URA (organization-id, as urn:oid:2.16.528.1.1007.3.3.<URA> or the bare number). */
  organization: { ura: string; name: string };
  /** The purpose of use (only TREATMENT releases imaging data here). */
  purposeOfUse: string;
  /** The patient the assertion is for (resource-id, a BSN as an HL7 CX with the BSN's assigning authority). */
  bsn: string;
  validUntil: string;
}

const XSPA = 'urn:oasis:names:tc:xspa:1.0:subject:';
export const ATTRIBUTE = {
  subjectId: `${XSPA}subject-id`,
  organization: `${XSPA}organization`,
  organizationId: `${XSPA}organization-id`,
  purposeOfUse: `${XSPA}purposeofuse`,
  role: 'urn:oasis:names:tc:xacml:2.0:subject:role',
  resourceId: 'urn:oasis:names:tc:xacml:2.0:resource:resource-id',
} as const;

/** The URA register's OID: an organization id urn:oid:2.16.528.1.1007.3.3.<URA>. */
const URA_OID = '2.16.528.1.1007.3.3';

/** SHA-1 digests and signatures are refused: an assertion is a key to patient data. */
const WEAK = ['http://www.w3.org/2000/09/xmldsig#sha1', 'http://www.w3.org/2000/09/xmldsig#rsa-sha1'];

function refused(reason: string): BeeldbrugError {
  return new BeeldbrugError('ASSERTION_INVALID', `the XUA assertion is refused: ${reason}`);
}

/** A BSN from an HL7 CX value (`999999990^^^&2.16.840.1.113883.2.4.6.3&ISO`); undefined for any other authority. */
export function bsnOfCx(cx: string): string | undefined {
  const [id = '', , , authority = ''] = cx.trim().split('^');
  const oid = authority.split('&')[1] ?? '';
  return oid === BSN_ISSUER_OID && /^\d{9}$/.test(id) ? id : undefined;
}

/**
 * The claims of the assertion in a SOAP message's WS-Security header, after checking that a trusted identity provider
 * signed exactly this assertion (the claims are read from the signed bytes, never from the message around them, so
 * that a second, unsigned assertion cannot be slipped in), that it is valid now and meant for this gateway.
 */
export function verifyXua(envelopeXml: string, security: Element | undefined, o: XuaOptions): XuaClaims {
  const assertions = security === undefined ? [] : childrenNamed(security, NS.saml, 'Assertion');
  if (assertions.length !== 1)
    throw refused(
      assertions.length === 0
        ? 'the message carries no SAML assertion in its Security header'
        : 'more than one assertion',
    );
  const assertion = assertions[0]!;
  const issuer = textOf(childNamed(assertion, NS.saml, 'Issuer'));
  const idp = o.identityProviders.find((p) => p.issuer === issuer);
  if (idp === undefined) throw refused(`its issuer ${JSON.stringify(issuer)} is not a trusted identity provider`);
  const signatures = childrenNamed(assertion, NS.ds, 'Signature');
  if (signatures.length !== 1) throw refused('it is not signed');

  const sig = new SignedXml({ publicCert: idp.certPem, getCertFromKeyInfo: () => null });
  for (const uri of WEAK) {
    delete sig.HashAlgorithms[uri as keyof typeof sig.HashAlgorithms];
    delete sig.SignatureAlgorithms[uri as keyof typeof sig.SignatureAlgorithms];
  }
  let valid: boolean;
  try {
    sig.loadSignature(signatures[0]!);
    valid = sig.checkSignature(envelopeXml);
  } catch (err) {
    // xml-crypto throws for a wrong signature value and answers false for a wrong digest: both are a bad signature.
    const message = (err as Error).message;
    if (!message.startsWith('invalid signature'))
      throw refused(`its signature cannot be checked (${message.split('\n')[0]})`);
    valid = false;
  }
  if (!valid) throw refused(`its signature is not valid for ${issuer}'s certificate`);
  const id = assertion.getAttribute('ID') ?? '';
  const references = sig.getReferences();
  const signedXml = sig.getSignedReferences();
  if (references.length !== 1 || references[0]!.uri !== `#${id}` || signedXml.length !== 1)
    throw refused('its signature does not cover the assertion itself');
  const signed = parseXml(signedXml[0]!, 'the signed assertion').documentElement!;
  if (signed.namespaceURI !== NS.saml || signed.localName !== 'Assertion' || signed.getAttribute('ID') !== id)
    throw refused('its signature does not cover the assertion itself');
  if (textOf(childNamed(signed, NS.saml, 'Issuer')) !== issuer) throw refused('its signed issuer is another');
  return claimsOf(signed, issuer, o);
}

function claimsOf(a: Element, issuer: string, o: XuaOptions): XuaClaims {
  const now = o.now?.() ?? Date.now();
  const skew = (o.clockSkewSeconds ?? 60) * 1000;
  const conditions = childNamed(a, NS.saml, 'Conditions');
  const notBefore = Date.parse(conditions?.getAttribute('NotBefore') ?? '');
  const notOnOrAfter = Date.parse(conditions?.getAttribute('NotOnOrAfter') ?? '');
  if (!Number.isFinite(notOnOrAfter)) throw refused('it has no end of validity (Conditions NotOnOrAfter)');
  if (now >= notOnOrAfter + skew) throw refused(`it expired at ${new Date(notOnOrAfter).toISOString()}`);
  if (Number.isFinite(notBefore) && now < notBefore - skew)
    throw refused(`it is valid only from ${new Date(notBefore).toISOString()}`);
  // SAML 2.0 core 2.5.1.4: every AudienceRestriction must name us, not just one of them.
  const restrictions = conditions !== undefined ? childrenNamed(conditions, NS.saml, 'AudienceRestriction') : [];
  const audiences = restrictions.flatMap((r) => childrenNamed(r, NS.saml, 'Audience').map((x) => textOf(x)));
  if (
    restrictions.length === 0 ||
    !restrictions.every((r) => childrenNamed(r, NS.saml, 'Audience').some((x) => o.audiences.includes(textOf(x))))
  )
    throw refused(`it is not meant for this gateway (audience ${audiences.join(', ') || 'none'})`);

  const nameId = textOf(descendantsNamed(childNamed(a, NS.saml, 'Subject') ?? a, NS.saml, 'NameID')[0]);
  if (nameId === '') throw refused('it names no subject (NameID)');
  const values = new Map<string, Element[]>();
  for (const statement of childrenNamed(a, NS.saml, 'AttributeStatement'))
    for (const attr of childrenNamed(statement, NS.saml, 'Attribute'))
      values.set(attr.getAttribute('Name') ?? '', childrenNamed(attr, NS.saml, 'AttributeValue'));
  const text = (name: string): string => textOf(values.get(name)?.[0]);
  /** A coded value: an HL7 CE element inside the AttributeValue (XSPA), or plain text. */
  const code = (name: string): string => {
    const v = values.get(name)?.[0];
    if (v === undefined) return '';
    return (firstElement(v)?.getAttribute('code') ?? textOf(v)).trim();
  };

  const subjectName = text(ATTRIBUTE.subjectId);
  if (subjectName === '') throw refused(`it names no person (${ATTRIBUTE.subjectId})`);
  const organizationId = text(ATTRIBUTE.organizationId).replace(/^urn:oid:/, '');
  const ura = organizationId.startsWith(`${URA_OID}.`) ? organizationId.slice(URA_OID.length + 1) : organizationId;
  if (!/^\d{8}$/.test(ura))
    throw refused(`its organization-id ${JSON.stringify(organizationId)} is not a URA (urn:oid:${URA_OID}.<URA>)`);
  const purposeOfUse = code(ATTRIBUTE.purposeOfUse);
  if (purposeOfUse === '') throw refused(`it names no purpose of use (${ATTRIBUTE.purposeOfUse})`);
  const resource = text(ATTRIBUTE.resourceId);
  const bsn = bsnOfCx(resource);
  if (bsn === undefined)
    throw refused(`its resource-id ${JSON.stringify(resource)} is not a BSN (id^^^&${BSN_ISSUER_OID}&ISO)`);
  const role = code(ATTRIBUTE.role);
  return {
    assertionId: a.getAttribute('ID') ?? '',
    issuer,
    person: { id: nameId, name: subjectName, ...(role !== '' ? { roleCode: role } : {}) },
    organization: { ura, name: text(ATTRIBUTE.organization) || `URA ${ura}` },
    purposeOfUse,
    bsn,
    validUntil: new Date(notOnOrAfter).toISOString(),
  };
}

/** This node as the identity provider of its own signed-in people, toward another community's gateway. */
export interface AssertionSigner {
  issuer: string;
  /** RSA: what the gateways of XCA networks verify. */
  keyPem: string;
  certPem: string;
}

/** Who the node vouches for: the person it authenticated, or the system of ours that asked, for one patient. */
export interface XuaSubject {
  id: string;
  name: string;
  roleCode?: string | undefined;
  organization: { ura: string; name: string };
  bsn: string;
}

/** Short-lived: an assertion travels with one question or retrieval. */
const ISSUED_LIFETIME_MS = 5 * 60_000;

/**
 * A SAML 2.0 assertion (XUA, the XSPA attributes the responding side reads) for one person and one patient, meant for
 * one community (its home community id as Audience), signed with the node's assertion key (RSA-SHA256, exclusive
 * canonicalization, the signature after the Issuer as SAML's schema wants it).
 */
export function issueXua(signer: AssertionSigner, subject: XuaSubject, audience: string, now = new Date()): string {
  const id = `_${randomUUID()}`;
  const attr = (name: string, value: string): string =>
    `<saml2:Attribute Name="${name}"><saml2:AttributeValue>${value}</saml2:AttributeValue></saml2:Attribute>`;
  const until = new Date(now.getTime() + ISSUED_LIFETIME_MS).toISOString();
  const xml =
    `<saml2:Assertion xmlns:saml2="${NS.saml}" xmlns:hl7="${NS.hl7}" ID="${id}" IssueInstant="${now.toISOString()}" Version="2.0">` +
    `<saml2:Issuer>${esc(signer.issuer)}</saml2:Issuer>` +
    `<saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${esc(subject.id)}</saml2:NameID>` +
    '<saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"/></saml2:Subject>' +
    `<saml2:Conditions NotBefore="${new Date(now.getTime() - 60_000).toISOString()}" NotOnOrAfter="${until}">` +
    `<saml2:AudienceRestriction><saml2:Audience>${esc(audience)}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions>` +
    `<saml2:AuthnStatement AuthnInstant="${now.toISOString()}"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>` +
    '<saml2:AttributeStatement>' +
    attr(ATTRIBUTE.subjectId, esc(subject.name)) +
    attr(ATTRIBUTE.organization, esc(subject.organization.name)) +
    attr(ATTRIBUTE.organizationId, `urn:oid:${URA_OID}.${subject.organization.ura}`) +
    attr(
      ATTRIBUTE.purposeOfUse,
      '<hl7:PurposeOfUse code="TREATMENT" codeSystem="2.16.840.1.113883.3.18.7.1" displayName="Treatment"/>',
    ) +
    (subject.roleCode !== undefined
      ? attr(ATTRIBUTE.role, `<hl7:Role code="${esc(subject.roleCode)}" codeSystem="2.16.528.1.1007.3.1.1"/>`)
      : '') +
    attr(ATTRIBUTE.resourceId, esc(`${subject.bsn}^^^&${BSN_ISSUER_OID}&ISO`)) +
    '</saml2:AttributeStatement></saml2:Assertion>';
  const sig = new SignedXml({
    privateKey: signer.keyPem,
    publicCert: signer.certPem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: "/*[local-name(.)='Assertion']",
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: "/*[local-name(.)='Assertion']/*[local-name(.)='Issuer']", action: 'after' },
  });
  return sig.getSignedXml();
}
