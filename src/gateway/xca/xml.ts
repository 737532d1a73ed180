import { DOMParser } from '@xmldom/xmldom';
import { BeeldbrugError } from '../../errors/index.ts';

/** The namespaces of SOAP 1.2, WS-Addressing, WS-Security, SAML 2.0, ebXML RegRep 3.0 and the IHE schemas. */
export const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://www.w3.org/2005/08/addressing',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  query: 'urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0',
  rim: 'urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0',
  rs: 'urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0',
  xds: 'urn:ihe:iti:xds-b:2007',
  xdsi: 'urn:ihe:rad:xdsi-b:2009',
  xop: 'http://www.w3.org/2004/08/xop/include',
  hl7: 'urn:hl7-org:v3',
} as const;

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Text or an attribute value as XML writes it; a character XML 1.0 cannot carry (a control character) becomes U+FFFD. */
export function esc(s: string): string {
  return (
    s
      // oxlint-disable-next-line no-control-regex -- these are exactly the characters XML 1.0 forbids
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
      .replace(/[&<>"']/g, (c) => ESCAPES[c]!)
  );
}

/**
 * A document from a caller's XML. A DOCTYPE is refused outright: SOAP forbids one (SOAP 1.2 part 1, 5), and without it
 * no entity can expand or reach outside the message.
 */
export function parseXml(xml: string, what: string): Document {
  if (/<!DOCTYPE/i.test(xml))
    throw new BeeldbrugError('REQUEST_INVALID', `${what}: a document type declaration is not allowed`);
  const fail = (msg: string): never => {
    throw new BeeldbrugError('REQUEST_INVALID', `${what} is not well-formed XML: ${msg.split('\n')[0]}`);
  };
  const doc = new DOMParser({
    errorHandler: { warning: () => undefined, error: fail, fatalError: fail },
  }).parseFromString(xml, 'text/xml');
  if (doc.documentElement === null) fail('no root element');
  return doc;
}

/** The element children of `parent` with this namespace and local name. */
export function childrenNamed(parent: Element, ns: string, local: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === local)
      out.push(n as Element);
  }
  return out;
}

export function childNamed(parent: Element, ns: string, local: string): Element | undefined {
  return childrenNamed(parent, ns, local)[0];
}

/** Every descendant element with this namespace and local name, in document order. */
export function descendantsNamed(parent: Element | Document, ns: string, local: string): Element[] {
  const list = parent.getElementsByTagNameNS(ns, local);
  const out: Element[] = [];
  for (let i = 0; i < list.length; i++) out.push(list.item(i)!);
  return out;
}

/** The element's text, trimmed ('' when it has none). */
export function textOf(el: Element | undefined): string {
  return (el?.textContent ?? '').trim();
}

/** The first element child, whatever its name (the SOAP Body's payload). */
export function firstElement(parent: Element): Element | undefined {
  for (let n = parent.firstChild; n !== null; n = n.nextSibling) if (n.nodeType === 1) return n as Element;
  return undefined;
}
