import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { XCA_TRANSACTIONS, slotValues } from './responding-gateway.ts';
import {
  findDocumentsQuery,
  imagingRetrieveRequest,
  retrieveDocumentsRequest,
  soapRequestEnvelope,
} from './requests.ts';
import { createTestIdp } from './xua-test-support.ts';
import { issueXua } from './xua.ts';
import { childNamed, esc, firstElement, NS, parseXml } from './xml.ts';

const SCHEMA = new URL('../../../test/support/xca-requests.rng', import.meta.url).pathname;
const HOME = 'urn:oid:2.16.528.1.1007.3.3.10000002.1';
const signer = createTestIdp('urn:beeldbrug:noord');
const assertion = issueXua(
  signer,
  {
    id: 'a.devries',
    name: 'Dr. A. de Vries',
    roleCode: '01.015',
    organization: { ura: '10000001', name: 'Noord' },
    bsn: '999999990',
  },
  HOME,
);
const doc = { home: HOME, repositoryUniqueId: '2.16.528.1.1007.3.3.10000002.2', uniqueId: '2.25.1234' };

/** xmllint's verdict on a request against the schema written from the technical frameworks. */
function valid(xml: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'bb-xca-req-'));
  try {
    writeFileSync(join(dir, 'r.xml'), xml);
    execFileSync('xmllint', ['--noout', '--relaxng', SCHEMA, join(dir, 'r.xml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('XCA requests of the initiating gateway', () => {
  it('ITI-38 FindDocuments, with the node-signed assertion, is what the framework specifies', () => {
    const xml = soapRequestEnvelope(XCA_TRANSACTIONS['ITI-38'].action, assertion, findDocumentsQuery('999999990'), {
      to: 'https://midden.test/xca/v1/iti-38',
    });
    valid(xml);
    // And our responding side reads its slots as they were meant.
    const body = firstElement(childNamed(parseXml(xml, 'r').documentElement!, NS.soap, 'Body')!)!;
    const slots = slotValues(childNamed(body, NS.rim, 'AdhocQuery')!);
    assert.deepEqual(slots.get('$XDSDocumentEntryPatientId'), ['999999990^^^&2.16.840.1.113883.2.4.6.3&ISO']);
    assert.deepEqual(slots.get('$XDSDocumentEntryStatus'), ['urn:oasis:names:tc:ebxml-regrep:StatusType:Approved']);
  });

  it('ITI-39 and RAD-75 are what the framework specifies', () => {
    valid(soapRequestEnvelope(XCA_TRANSACTIONS['ITI-39'].action, assertion, retrieveDocumentsRequest([doc])));
    valid(
      soapRequestEnvelope(
        XCA_TRANSACTIONS['RAD-75'].action,
        assertion,
        imagingRetrieveRequest(
          '1.2.3',
          [{ seriesInstanceUid: '1.2.3.4', documents: [doc, { ...doc, uniqueId: '2.25.5' }] }],
          ['1.2.840.10008.1.2.1'],
        ),
      ),
    );
  });

  it('a request out of the specified order fails the schema (the check is not vacuous)', () => {
    const swapped = retrieveDocumentsRequest([doc]).replace(
      /(<xdsb:RepositoryUniqueId>.*?<\/xdsb:RepositoryUniqueId>)(<xdsb:DocumentUniqueId>.*?<\/xdsb:DocumentUniqueId>)/,
      '$2$1',
    );
    assert.throws(() => valid(soapRequestEnvelope(XCA_TRANSACTIONS['ITI-39'].action, assertion, swapped)));
  });

  it('reads literal and list values of a stored query, quotes doubled inside', () => {
    const q = parseXml(
      `<rim:AdhocQuery xmlns:rim="${NS.rim}"><rim:Slot name="a"><rim:ValueList><rim:Value>('x','y')</rim:Value><rim:Value>('z')</rim:Value></rim:ValueList></rim:Slot>` +
        `<rim:Slot name="b"><rim:ValueList><rim:Value>20240101</rim:Value></rim:ValueList></rim:Slot>` +
        `<rim:Slot name="c"><rim:ValueList><rim:Value>'it''s'</rim:Value></rim:ValueList></rim:Slot></rim:AdhocQuery>`,
      'q',
    ).documentElement!;
    const v = slotValues(q);
    assert.deepEqual(v.get('a'), ['x', 'y', 'z']);
    assert.deepEqual(v.get('b'), ['20240101']);
    assert.deepEqual(v.get('c'), ["it's"]);
  });

  it('writes text XML can carry: markup escaped, control characters replaced', () => {
    assert.equal(esc('a\u0001<b & "c">'), 'a\ufffd&lt;b &amp; &quot;c&quot;&gt;');
  });
});
