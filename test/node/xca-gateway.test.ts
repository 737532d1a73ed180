// The XCA-I responding gateway as another community's initiating gateway meets it: SOAP 1.2 over mutual TLS with a
// XUA assertion signed by the asking hospital's identity provider (xmlsec1 signs it), ITI-38 for the patient's
// manifests and reports, ITI-39 for a manifest (read by DCMTK's dsrdump), RAD-75 for the instances (the MTOM answer
// taken apart by Python's MIME parser, compared byte for byte), and the refusals: no consent, a forged or foreign
// assertion, another patient's documents.
import { soapRequestEnvelope } from '../../src/gateway/xca/requests.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { auditMessageXml } from '../../src/audit/index.ts';
import { readPart10, Tag } from '../../src/dicom/index.ts';
import { XCA_TRANSACTIONS } from '../../src/gateway/index.ts';
import { createTestIdp, signedAssertion, type AssertionFields } from '../../src/gateway/xca/xua-test-support.ts';
import { collect, datasetsByUid, filesIn } from '../support/dicom-files.ts';
import { findscuAnswers, storescpDestination } from '../support/dcmtk.ts';
import { run } from '../support/processes.ts';
import { midden, noord } from '../support/exchange.ts';
import { byHolder, network, radiologistAt, recorded, timelineOf, traag, zuid } from '../support/timeline-network.ts';
import { freePort } from '../support/net.ts';
import { heldInstances } from '../support/patient-data.ts';
import { tempDir } from '../support/tmp.ts';
import { requireTool } from '../support/tools.ts';
import { assertValidAnswer, mimeParts, postSoap, xmlFile, xpath, type XcaAnswer } from '../support/xca.ts';

const AUDIT_SCHEMA = new URL('../support/dicom-audit-message.rng', import.meta.url).pathname;
const HOME = 'urn:oid:2.16.528.1.1007.3.3.10000002.1';
const REPOSITORY = '2.16.528.1.1007.3.3.10000002.2';
const BSN_OID = '2.16.840.1.113883.2.4.6.3';
const QUERY_BODY = (bsn: string) =>
  '<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">' +
  '<query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>' +
  '<rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d">' +
  `<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'${bsn}^^^&amp;${BSN_OID}&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>` +
  '<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>(\'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved\')</rim:Value></rim:ValueList></rim:Slot>' +
  '</rim:AdhocQuery></query:AdhocQueryRequest>';
const documentRequest = (uid: string) =>
  `<xdsb:DocumentRequest><xdsb:HomeCommunityId>${HOME}</xdsb:HomeCommunityId><xdsb:RepositoryUniqueId>${REPOSITORY}</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>${uid}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>`;
const RETRIEVE_BODY = (uids: string[]) =>
  `<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">${uids.map(documentRequest).join('')}</xdsb:RetrieveDocumentSetRequest>`;
const IMAGING_BODY = (study: string, series: string, uids: string[], syntaxes: string[]) =>
  '<xdsi:RetrieveImagingDocumentSetRequest xmlns:xdsi="urn:ihe:rad:xdsi-b:2009" xmlns:xdsb="urn:ihe:iti:xds-b:2007">' +
  `<xdsi:StudyRequest studyInstanceUID="${study}"><xdsi:SeriesRequest seriesInstanceUID="${series}">${uids.map(documentRequest).join('')}</xdsi:SeriesRequest></xdsi:StudyRequest>` +
  `<xdsi:TransferSyntaxUIDList>${syntaxes.map((s) => `<xdsi:TransferSyntaxUID>${s}</xdsi:TransferSyntaxUID>`).join('')}</xdsi:TransferSyntaxUIDList>` +
  '</xdsi:RetrieveImagingDocumentSetRequest>';

const traagAt = (partners: { ura: string; baseUrl: string }[]): string =>
  partners.find((p) => p.ura === traag.ura)?.baseUrl ?? '';

/** The timeline network with Midden's responding gateway, which takes the assertions of a test identity provider. */
async function middenResponding(t: TestContext) {
  const idp = createTestIdp();
  const idpCert = join(tempDir(t), 'idp.crt');
  writeFileSync(idpCert, idp.certPem);
  const net = await network(t, {
    midden: {
      xca: {
        homeCommunityId: HOME,
        repositoryUniqueId: REPOSITORY,
        identityProviders: [{ issuer: idp.issuer, certificateFile: idpCert }],
      },
    },
  });
  return { idp, net };
}

test('XCA-I: a partner community queries and retrieves manifests, reports and images of a consenting patient, in the name of the person its identity provider vouches for', async (t) => {
  for (const tool of ['xmlsec1', 'xmllint', 'dsrdump', 'dcmdump', 'python3']) if (!requireTool(t, tool)) return;
  const { idp, net } = await middenResponding(t);
  const { p, nodes, certs } = net;
  const permit = await net.consents.recordConsent({
    bsn: p.bsn,
    decision: 'permit',
    actor: byHolder(midden.ura),
    ...recorded,
  });
  const at = nodes.midden;
  const ca = certs.ca.certPem;
  const assertion = (f: Partial<AssertionFields> = {}) =>
    signedAssertion(idp, { audience: HOME, bsn: p.bsn, ura: noord.ura, ...f });
  const call = (
    t: keyof typeof XCA_TRANSACTIONS,
    body: string,
    o: { assertion?: string | undefined; client?: typeof certs.noord } = {},
  ): Promise<XcaAnswer> =>
    postSoap(
      at.port,
      XCA_TRANSACTIONS[t].path,
      ca,
      o.client ?? certs.noord,
      soapRequestEnvelope(XCA_TRANSACTIONS[t].action, 'assertion' in o ? o.assertion : assertion(), body),
    );
  const xcaRecords = async () =>
    (await at.n.node.audit.list({ bsn: p.bsn })).filter((r) => r.description.startsWith('XCA'));

  // ITI-38: the manifests of P's two studies at Midden, and the reports that are text.
  const found = await call('ITI-38', QUERY_BODY(p.bsn));
  assert.equal(found.status, 200, found.body.toString());
  assert.match(found.contentType, /^application\/soap\+xml/);
  const foundXml = xmlFile(t, found.body);
  assertValidAnswer(foundXml);
  assert.match(
    xpath(foundXml, 'string(//*[local-name()="AdhocQueryResponse"]/@status)'),
    /:Success$/,
    found.body.toString(),
  );
  assert.equal(xpath(foundXml, 'string(//*[local-name()="Action"])'), XCA_TRANSACTIONS['ITI-38'].response);
  const entries = Number(xpath(foundXml, 'count(//*[local-name()="ExtrinsicObject"])'));
  const manifests = Number(
    xpath(foundXml, 'count(//*[local-name()="ExtrinsicObject"][@mimeType="application/dicom"])'),
  );
  assert.equal(manifests, 2, 'one manifest per study Midden holds');
  const textReports = p.studies.slice(0, 2).filter((s) => s.reportKind === 'sr').length;
  assert.equal(entries - manifests, textReports, 'a report entry for each structured report (its text)');
  const studyOf = (i: number) =>
    xpath(
      foundXml,
      `string((//*[local-name()="ExtrinsicObject"][@mimeType="application/dicom"])[${i}]/*[local-name()="Slot"][@name="urn:ihe:iti:xds:2013:referenceIdList"]/*/*[local-name()="Value"])`,
    ).split('^')[0];
  const manifestUid = (i: number) =>
    xpath(
      foundXml,
      `string((//*[local-name()="ExtrinsicObject"][@mimeType="application/dicom"])[${i}]/*[local-name()="ExternalIdentifier"][@identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"]/@value)`,
    );
  assert.deepEqual(
    [studyOf(1), studyOf(2)].sort(),
    p.studies
      .slice(0, 2)
      .map((s) => s.studyInstanceUid)
      .sort(),
  );
  assert.equal(
    xpath(
      foundXml,
      'string((//*[local-name()="ExtrinsicObject"])[1]/*[local-name()="Slot"][@name="sourcePatientId"]//*[local-name()="Value"])',
    ),
    `${p.bsn}^^^&${BSN_OID}&ISO`,
  );
  const again = xmlFile(t, (await call('ITI-38', QUERY_BODY(p.bsn))).body);
  assert.equal(
    xpath(
      again,
      'string((//*[local-name()="ExtrinsicObject"][@mimeType="application/dicom"])[1]/*[local-name()="ExternalIdentifier"][@identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"]/@value)',
    ),
    manifestUid(1),
    'a document keeps its uniqueId from one query to the next',
  );
  const listed = (await xcaRecords()).filter((r) => r.action === 'query' && r.outcome === 'success');
  assert.equal(listed.length, 2);
  assert.deepEqual(listed[0]?.user, {
    id: '900012345',
    name: 'Dr. A. de Vries',
    roleCode: '01.015',
    organizationUra: noord.ura,
  });
  assert.equal(listed[0]?.grounds.consentReference, `Consent/${permit.id}`);
  assert.match(listed[0]?.grounds.authorization ?? '', /XUA assertion .* of https:\/\/idp/);
  // Its ATNA message (ITI-20) names the transaction and is valid against the DICOM audit message schema.
  assert.equal(listed[0]?.transaction, 'ITI-38');
  const atna = xmlFile(t, auditMessageXml(listed[0]!, { node: 'midden', ura: midden.ura }));
  execFileSync('xmllint', ['--noout', '--relaxng', AUDIT_SCHEMA, atna], { stdio: 'pipe' });
  assert.equal(xpath(atna, 'string(//EventTypeCode/@csd-code)'), 'ITI-38');

  // ITI-39: the first study's manifest, MTOM; the KOS lists every instance of the study with Midden's repository.
  const studyUid = studyOf(1)!;
  const study = p.studies.find((s) => s.studyInstanceUid === studyUid)!;
  const got = await call('ITI-39', RETRIEVE_BODY([manifestUid(1)]));
  assert.equal(got.status, 200, got.body.toString());
  const mtom = mimeParts(t, got);
  assert.equal(mtom.type, 'multipart/related');
  assert.equal(mtom.parts.length, 2);
  assert.equal(mtom.parts[0]?.contentType, 'application/xop+xml');
  assert.equal(`<${mtom.parts[0]?.contentId}>`, mtom.start, 'the root part is the one `start` names');
  const rootXml = mtom.parts[0]!.file;
  assertValidAnswer(rootXml);
  assert.match(xpath(rootXml, 'string(//*[local-name()="RegistryResponse"]/@status)'), /:Success$/);
  assert.equal(xpath(rootXml, 'string(//*[local-name()="Include"]/@href)'), `cid:${mtom.parts[1]!.contentId}`);
  const kosFile = mtom.parts[1]!.file;
  // The entry ITI-38 listed named the manifest's size and SHA-1: the bytes retrieved are those.
  const entrySlot = (name: string) =>
    xpath(
      foundXml,
      `string((//*[local-name()="ExtrinsicObject"][@mimeType="application/dicom"])[1]/*[local-name()="Slot"][@name="${name}"]//*[local-name()="Value"])`,
    );
  assert.equal(entrySlot('size'), String(readFileSync(kosFile).length));
  assert.equal(entrySlot('hash'), createHash('sha1').update(readFileSync(kosFile)).digest('hex'));
  const kos = readPart10(readFileSync(kosFile)).dataset;
  assert.equal(kos.string(Tag.SOPInstanceUID), manifestUid(1), 'the manifest is the document ITI-38 named');
  assert.equal(kos.string(Tag.StudyInstanceUID), studyUid);
  assert.equal(kos.string(Tag.PatientID), p.bsn);
  const tree = execFileSync('dsrdump', [kosFile], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  assert.match(tree, /Manifest/);
  const dump = execFileSync('dcmdump', ['+P', '0040,e011', kosFile]).toString();
  assert.equal(
    (dump.match(new RegExp(REPOSITORY.replaceAll('.', '\\.'), 'g')) ?? []).length,
    study.series,
    'every series names the repository',
  );
  const referenced = (
    execFileSync('dcmdump', ['+P', '0008,1155', kosFile])
      .toString()
      .match(/\(0008,1155\)/g) ?? []
  ).length;
  assert.equal(referenced, study.instances * 2, 'every instance in the evidence and in the content tree');
  assert.ok(
    (await xcaRecords()).some(
      (r) => r.action === 'retrieve' && r.outcome === 'success' && r.objects.studyInstanceUid === studyUid,
    ),
  );

  // ITI-39 for a report, when a study has a structured one: its text, as text/plain.
  const reportUid = xpath(
    foundXml,
    'string((//*[local-name()="ExtrinsicObject"][@mimeType="text/plain"])[1]/*[local-name()="ExternalIdentifier"][@identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"]/@value)',
  );
  if (textReports > 0) {
    const report = mimeParts(t, await call('ITI-39', RETRIEVE_BODY([reportUid]))).parts[1]!;
    assert.equal(report.contentType, 'text/plain');
    assert.ok(readFileSync(report.file, 'utf8').length > 20, 'the report text');
  }

  // RAD-75: two instances of one series as stored, byte for byte; and one converted to implicit VR little endian.
  const original = datasetsByUid(study.files);
  const firstFile = readPart10(readFileSync(study.files[0]!));
  const seriesUid = firstFile.dataset.string(Tag.SeriesInstanceUID)!;
  const inSeries = study.files
    .map((f) => readPart10(readFileSync(f)).dataset)
    .filter((ds) => ds.string(Tag.SeriesInstanceUID) === seriesUid)
    .map((ds) => ds.string(Tag.SOPInstanceUID)!)
    .slice(0, 2);
  const stored = firstFile.meta.string(Tag.TransferSyntaxUID)!;
  const images = await call('RAD-75', IMAGING_BODY(studyUid, seriesUid, inSeries, [stored, '1.2.840.10008.1.2']));
  assert.equal(images.status, 200, images.body.toString());
  const imageAnswer = mimeParts(t, images).parts;
  assertValidAnswer(imageAnswer[0]!.file);
  const imageParts = imageAnswer.slice(1);
  assert.equal(imageParts.length, inSeries.length);
  for (const part of imageParts) {
    assert.equal(part.contentType, 'application/dicom');
    const file = readPart10(readFileSync(part.file));
    const uid = file.dataset.string(Tag.SOPInstanceUID)!;
    assert.ok(inSeries.includes(uid));
    assert.ok(
      readFileSync(part.file).subarray(file.datasetOffset).equals(original.get(uid)!),
      'the instance as stored',
    );
  }
  const implicit = await call('RAD-75', IMAGING_BODY(studyUid, seriesUid, inSeries.slice(0, 1), ['1.2.840.10008.1.2']));
  const converted = mimeParts(t, implicit).parts[1]!.file;
  assert.match(
    execFileSync('dcmdump', ['-M', converted]).toString(),
    /Data-Set\n# Used TransferSyntax: Little Endian Implicit/,
  );
  const sent = (await xcaRecords()).filter((r) => r.description.startsWith('XCA imaging retrieve (RAD-75): '));
  assert.deepEqual(sent[0]?.objects.sopInstanceUids, inSeries);
});

test("XCA-I: no consent, a forged, foreign or missing assertion, and another patient's documents are refused and recorded", async (t) => {
  for (const tool of ['xmlsec1', 'xmllint', 'python3']) if (!requireTool(t, tool)) return;
  const { idp, net } = await middenResponding(t);
  const { p, q, nodes, certs } = net;
  // P permits release by Midden; Q has recorded nothing.
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });
  const at = nodes.midden;
  const call = (tr: keyof typeof XCA_TRANSACTIONS, body: string, assertion: string | undefined, client = certs.noord) =>
    postSoap(
      at.port,
      XCA_TRANSACTIONS[tr].path,
      certs.ca.certPem,
      client,
      soapRequestEnvelope(XCA_TRANSACTIONS[tr].action, assertion, body),
    );
  const forP = (f: Partial<AssertionFields> = {}) =>
    signedAssertion(idp, { audience: HOME, bsn: p.bsn, ura: noord.ura, ...f });
  const failure = (a: XcaAnswer): { status: string; code: string; context: string } => {
    const f = xmlFile(
      t,
      a.contentType.startsWith('multipart/') ? readFileSync(mimeParts(t, a).parts[0]!.file) : a.body,
    );
    assertValidAnswer(f);
    return {
      status: xpath(f, 'string((//*[@status])[1]/@status)'),
      code: xpath(f, 'string(//*[local-name()="RegistryError"]/@errorCode)'),
      context: xpath(f, 'string(//*[local-name()="RegistryError"]/@codeContext)'),
    };
  };
  const fault = (a: XcaAnswer): { subcode: string; code: string; reason: string } => {
    const f = xmlFile(t, a.body);
    assertValidAnswer(f);
    return {
      subcode: xpath(f, 'string(//*[local-name()="Subcode"]/*[local-name()="Value"])'),
      code: xpath(f, 'string(//*[local-name()="Detail"]/*)'),
      reason: xpath(f, 'string(//*[local-name()="Reason"]/*)'),
    };
  };

  // Q has not consented: the registry's refusal is the answer, and Midden's trail has it with the person who asked.
  const noConsent = await call('ITI-38', QUERY_BODY(q.bsn), forP({ bsn: q.bsn }));
  assert.equal(noConsent.status, 200);
  assert.deepEqual(
    { ...failure(noConsent), context: undefined },
    {
      status: 'urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure',
      code: 'XDSRegistryError',
      context: undefined,
    },
  );
  assert.doesNotMatch(noConsent.body.toString(), /ExtrinsicObject/);
  const refusedQ = (await at.n.node.audit.list({ bsn: q.bsn })).filter((r) => r.outcome === 'failure');
  assert.equal(refusedQ.length, 1);
  assert.equal(refusedQ[0]?.user.name, 'Dr. A. de Vries');
  assert.match(refusedQ[0]?.description ?? '', /XCA ITI-38 from URA 10000001 refused/);

  // An assertion for another organization than the TLS certificate's, one changed after signing, and none at all.
  const foreign = await call('ITI-38', QUERY_BODY(p.bsn), forP({ ura: zuid.ura }));
  assert.equal(foreign.status, 400);
  assert.deepEqual(
    { ...fault(foreign), reason: undefined },
    { subcode: 'wsse:FailedAuthentication', code: 'ASSERTION_INVALID', reason: undefined },
  );
  assert.match(fault(foreign).reason, /URA 10000003, the TLS certificate names URA 10000001/);
  const forged = await call('ITI-38', QUERY_BODY(q.bsn), forP().replace(`${p.bsn}^^^`, `${q.bsn}^^^`));
  assert.equal(forged.status, 400);
  assert.match(fault(forged).reason, /signature is not valid/);
  // A refused assertion is a security event in Midden's trail, with who presented it.
  const alerts = (await at.n.node.audit.list({ action: 'verify-failure' })).filter((r) => r.transaction === 'ITI-38');
  assert.ok(alerts.some((r) => r.user.id === `ura:${noord.ura}` && /signature is not valid/.test(r.description)));
  // Asynchronous exchange (an answer to another address) is not offered, and says so.
  const asynchronous = await postSoap(
    at.port,
    XCA_TRANSACTIONS['ITI-38'].path,
    certs.ca.certPem,
    certs.noord,
    soapRequestEnvelope(XCA_TRANSACTIONS['ITI-38'].action, forP(), QUERY_BODY(p.bsn)).replace(
      'http://www.w3.org/2005/08/addressing/anonymous',
      'https://gateway.noord.test/replies',
    ),
  );
  assert.equal(asynchronous.status, 400);
  assert.equal(fault(asynchronous).subcode, 'wsa:OnlyAnonymousAddressSupported');
  const none = await call('ITI-38', QUERY_BODY(p.bsn), undefined);
  assert.equal(none.status, 400);
  assert.match(fault(none).reason, /no SAML assertion/);
  const wrongAction = await postSoap(
    at.port,
    XCA_TRANSACTIONS['ITI-38'].path,
    certs.ca.certPem,
    certs.noord,
    soapRequestEnvelope(XCA_TRANSACTIONS['RAD-75'].action, forP(), QUERY_BODY(p.bsn)),
  );
  assert.equal(wrongAction.status, 400);
  assert.match(fault(wrongAction).reason, /this endpoint takes urn:ihe:iti:2007:CrossGatewayQuery/);
  const doctype = await postSoap(
    at.port,
    XCA_TRANSACTIONS['ITI-38'].path,
    certs.ca.certPem,
    certs.noord,
    `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>${soapRequestEnvelope('urn:x', undefined, '<x/>').replace(/^<\?xml[^>]*\?>/, '')}`,
  );
  assert.equal(doctype.status, 400);
  assert.equal(fault(doctype).code, 'REQUEST_INVALID');
  // Without a client certificate the route is not reached at all.
  const anonymous = await postSoap(
    at.port,
    XCA_TRANSACTIONS['ITI-38'].path,
    certs.ca.certPem,
    undefined,
    soapRequestEnvelope(XCA_TRANSACTIONS['ITI-38'].action, forP(), QUERY_BODY(p.bsn)),
  ).catch(() => undefined);
  assert.ok(anonymous === undefined || anonymous.status === 401 || anonymous.status === 403);

  // P's assertion opens P's documents only: asking for Q by name, or for Q's instances and documents, gives nothing.
  const otherPatient = failure(await call('ITI-38', QUERY_BODY(q.bsn), forP()));
  assert.equal(otherPatient.code, 'XDSUnknownPatientId');
  const qStudy = q.studies[0]!;
  const qFile = readPart10(readFileSync(qStudy.files[0]!)).dataset;
  const qImages = await call(
    'RAD-75',
    IMAGING_BODY(
      qStudy.studyInstanceUid,
      qFile.string(Tag.SeriesInstanceUID)!,
      [qFile.string(Tag.SOPInstanceUID)!],
      ['1.2.840.10008.1.2.1'],
    ),
    forP(),
  );
  assert.equal(qImages.status, 200);
  const qParts = mimeParts(t, qImages).parts;
  assert.equal(qParts.length, 1, 'no attachment');
  assert.deepEqual(
    { ...failure(qImages), context: undefined },
    {
      status: 'urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure',
      code: 'XDSDocumentUniqueIdError',
      context: undefined,
    },
  );
  const unknownDocument = failure(await call('ITI-39', RETRIEVE_BODY(['2.25.1234']), forP()));
  assert.equal(unknownDocument.code, 'XDSDocumentUniqueIdError');
  assert.equal(
    (await at.n.node.audit.list({ bsn: q.bsn })).filter((r) => r.action === 'retrieve' && r.outcome === 'success')
      .length,
    0,
    'nothing of Q left Midden',
  );
  assert.ok(
    (await at.n.node.audit.list({ bsn: p.bsn })).some(
      (r) => r.outcome === 'failure' && /RAD-75\) refused: none of the 1 instances/.test(r.description),
    ),
  );
});

test("XCA-I initiating: Noord's timeline asks Midden as an XCA community, in the radiologist's name, and brings a study into Noord's node", async (t) => {
  for (const tool of ['openssl', 'storescp', 'echoscu', 'findscu', 'movescu']) if (!requireTool(t, tool)) return;
  // Noord's PACS: DCMTK's storescp, where the routing rules put a retrieved study.
  const pacsDir = tempDir(t);
  const pacsPort = await freePort();
  await storescpDestination(t, { aeTitle: 'PACS_NOORD', port: pacsPort, dir: pacsDir, flags: ['+B', '+xa'] });
  // Noord's node is the identity provider of its own signed-in people toward the community: an RSA key of its own.
  const noordSigner = createTestIdp('urn:beeldbrug:ziekenhuis-noord');
  const dir = tempDir(t);
  writeFileSync(join(dir, 'xua.key'), noordSigner.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'xua.crt'), noordSigner.certPem);
  const middenPort = await freePort();
  const middenXca = (path: string) => `https://127.0.0.1:${middenPort}${path}`;
  const net = await network(t, {
    middenPort,
    midden: {
      xca: {
        homeCommunityId: HOME,
        repositoryUniqueId: REPOSITORY,
        identityProviders: [{ issuer: noordSigner.issuer, certificateFile: join(dir, 'xua.crt') }],
      },
    },
    // Kliniek Traag stands in for a community that begins its answer and then sends nothing.
    slowSendsHeaders: true,
    noord: (partners) => ({
      dimsePeers: [{ aeTitle: 'PACS_NOORD', host: '127.0.0.1', port: pacsPort, description: 'Noord PACS' }],
      routing: [{ purpose: 'retrieval', action: 'forward', destination: 'PACS_NOORD' }],
      timeline: { sourceTimeoutMs: 5000, externalAe: { aeTitle: 'NOORD_PRIORS', callers: ['PACS_NOORD'] } },
      xca: {
        homeCommunityId: 'urn:oid:2.16.528.1.1007.3.3.10000001.1',
        repositoryUniqueId: '2.16.528.1.1007.3.3.10000001.2',
        communities: [
          {
            name: 'Regio Traag',
            homeCommunityId: 'urn:oid:2.16.528.1.1007.3.3.10000004.1',
            queryUrl: `${traagAt(partners)}${XCA_TRANSACTIONS['ITI-38'].path}`,
            retrieveUrl: `${traagAt(partners)}${XCA_TRANSACTIONS['ITI-39'].path}`,
            imagingRetrieveUrl: `${traagAt(partners)}${XCA_TRANSACTIONS['RAD-75'].path}`,
          },
          {
            name: 'Regio Midden',
            homeCommunityId: HOME,
            queryUrl: middenXca(XCA_TRANSACTIONS['ITI-38'].path),
            retrieveUrl: middenXca(XCA_TRANSACTIONS['ITI-39'].path),
            imagingRetrieveUrl: middenXca(XCA_TRANSACTIONS['RAD-75'].path),
          },
        ],
        assertionSigner: {
          issuer: noordSigner.issuer,
          keyFile: join(dir, 'xua.key'),
          certificateFile: join(dir, 'xua.crt'),
        },
      },
    }),
  });
  const { p, nodes } = net;
  await net.consents.recordConsent({ bsn: p.bsn, decision: 'permit', actor: byHolder(midden.ura), ...recorded });

  const tl = await timelineOf(nodes.noord, p.bsn);
  // The stalled community is given up after the timeout; the others answered meanwhile.
  assert.equal(tl.sources.find((s) => s.name === 'Regio Traag')?.status, 'timed-out');
  const community = tl.sources.find((s) => s.ura === HOME);
  assert.deepEqual(
    { ...community, ms: undefined },
    { ura: HOME, name: 'Regio Midden', status: 'answered', studies: 2, ms: undefined },
  );
  const viaXca = tl.studies.filter((s) => s.source.ura === HOME);
  assert.deepEqual(
    viaXca.map((s) => s.studyInstanceUid).sort(),
    p.studies
      .slice(0, 2)
      .map((s) => s.studyInstanceUid)
      .sort(),
  );
  const study = p.studies.find((s) => s.studyInstanceUid === viaXca[0]!.studyInstanceUid)!;
  assert.equal(viaXca[0]!.studyDate, study.studyDate);
  assert.ok(viaXca[0]!.modalities.includes(study.modality));

  const asker = radiologistAt(nodes.noord);
  const got = await asker.call('POST', '/api/v1/timeline/retrievals', {
    bsn: p.bsn,
    source: HOME,
    studyInstanceUid: study.studyInstanceUid,
  });
  assert.equal(got.status, 200, got.body);
  assert.deepEqual(JSON.parse(got.body), {
    status: 'retrieved',
    studyInstanceUid: study.studyInstanceUid,
    retrieved: study.instances,
    failed: 0,
    source: { ura: HOME, name: 'Regio Midden' },
    pacs: { destination: 'PACS_NOORD', failed: 0 },
  });
  // In Noord's node, byte for byte as Midden holds it...
  const original = datasetsByUid(study.files);
  const held = await heldInstances(nodes.noord.n.node, study.studyInstanceUid);
  assert.equal(held.length, study.instances);
  for (const i of held)
    assert.ok((await collect(i.openDataset())).equals(original.get(i.stored.instance.sopInstanceUid)!));
  // ...and in Noord's PACS (storescp keeping what it got bit for bit).
  const inPacs = datasetsByUid(filesIn(pacsDir));
  assert.equal(inPacs.size, study.instances);
  for (const [uid, bytes] of original) assert.ok(inPacs.get(uid)?.equals(bytes), `instance ${uid} in the PACS`);

  // Midden's trail names the radiologist at Noord, as Noord's node vouched for them in the assertion.
  const atMidden = (await nodes.midden.n.node.audit.list({ bsn: p.bsn })).filter(
    (r) => r.transaction !== undefined && r.outcome === 'success',
  );
  assert.deepEqual([...new Set(atMidden.map((r) => r.transaction))].sort(), ['ITI-38', 'ITI-39', 'RAD-75']);
  assert.ok(atMidden.every((r) => r.user.name === 'Dr. A. de Vries' && r.user.organizationUra === noord.ura));
  assert.ok(atMidden.every((r) => r.user.id === asker.id));

  // The PACS's own query screen (the virtual PACS) lists the community's studies too; a C-MOVE of the other one
  // brings it from the community (RAD-75) through the node into the PACS.
  const other = p.studies.slice(0, 2).find((s) => s.studyInstanceUid !== study.studyInstanceUid)!;
  const noordPort = String(nodes.noord.n.port);
  const answers = await findscuAnswers(
    t,
    ['-aet', 'PACS_NOORD', '-aec', 'NOORD_PRIORS', '127.0.0.1', noordPort],
    ['QueryRetrieveLevel=STUDY', `PatientID=${p.bsn}`, 'StudyInstanceUID', 'InstitutionName'],
  );
  assert.ok(
    answers.some(
      (ds) =>
        ds.string(Tag.StudyInstanceUID) === other.studyInstanceUid && ds.string(Tag.InstitutionName) === 'Regio Midden',
    ),
  );
  const moved = await run('movescu', [
    '-S',
    '-aet',
    'PACS_NOORD',
    '-aec',
    'NOORD_PRIORS',
    '-aem',
    'PACS_NOORD',
    '127.0.0.1',
    noordPort,
    '-k',
    'QueryRetrieveLevel=STUDY',
    '-k',
    `StudyInstanceUID=${other.studyInstanceUid}`,
  ]);
  assert.equal(moved.code, 0, moved.stderr);
  const afterMove = datasetsByUid(filesIn(pacsDir));
  for (const [uid, bytes] of datasetsByUid(other.files))
    assert.ok(afterMove.get(uid)?.equals(bytes), `instance ${uid} of the moved study in the PACS`);
  const moveRecord = (await nodes.midden.n.node.audit.list({ bsn: p.bsn })).find(
    (r) => r.transaction === 'RAD-75' && r.objects.studyInstanceUid === other.studyInstanceUid,
  );
  assert.ok(moveRecord !== undefined, 'it came from the community');
  // No person is known on a DICOM association: Noord's node vouched for its PACS, and Midden's trail says so.
  assert.deepEqual(moveRecord.user, { id: 'dicom:PACS_NOORD', name: moveRecord.user.name, organizationUra: noord.ura });

  // Noord's own trail: the question, and the retrieval with what came.
  const atNoord = await nodes.noord.n.node.audit.list({ bsn: p.bsn, action: 'retrieve' });
  assert.ok(
    atNoord.some((r) => r.description === `retrieval from Regio Midden (XCA): ${study.instances} instances stored`),
  );
});
