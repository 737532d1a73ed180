// The conformance statement (docs/conformance-statement.md) against the code, and against a live node: the transfer
// syntaxes, SOP classes, implementation identifiers, defaults, statuses and character sets it states are what the
// node negotiates and answers. A change on either side that the other does not follow fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { configTemplate, parseConfig } from '../src/config/index.ts';
import { CHARACTER_SET_TERMS, SopClass, TransferSyntax } from '../src/dicom/index.ts';
import {
  Association,
  DefaultTransferSyntaxes,
  defaultAcceptsAbstractSyntax,
  ImplementationClassUid,
  ImplementationVersionName,
  QueryRetrieveSopClasses,
} from '../src/dimse/index.ts';
import { ErrorCatalog } from '../src/errors/index.ts';
import { startTestNode } from './support/node.ts';

const statement = readFileSync(new URL('../docs/conformance-statement.md', import.meta.url), 'utf8');

/** The rows of the first table under the heading that starts with `heading`, as arrays of cells. */
function table(heading: string): string[][] {
  const at = statement.split('\n').findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, '').startsWith(heading));
  assert.ok(at >= 0, `a section "${heading}"`);
  const lines = statement.split('\n').slice(at + 1);
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(start)) {
    if (!l.startsWith('|')) break;
    rows.push(
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows.slice(2); // the header and its rule
}

const UID = /^\d+(\.\d+)+$/;

test('the transfer syntaxes it states are the ones the node accepts, in its order of preference', () => {
  const stated = table('3.2.2.1').map((r) => r[1] ?? '');
  assert.ok(stated.every((u) => UID.test(u)));
  assert.deepEqual(stated, [...DefaultTransferSyntaxes]);
});

test('the SOP classes it states as SCP are the ones the node accepts', () => {
  const overview = table('1. Overview');
  const scp = overview.filter((r) => r[3] === 'Yes' && UID.test(r[1] ?? '')).map((r) => r[1] ?? '');
  assert.deepEqual(scp.sort(), [SopClass.Verification, ...QueryRetrieveSopClasses].sort());
  for (const uid of scp) assert.ok(defaultAcceptsAbstractSyntax(uid), uid);
  // Every storage class, whether or not the node names it, and nothing beside them.
  for (const uid of Object.values(SopClass).filter((u) => u.startsWith('1.2.840.10008.5.1.4.1.1.')))
    assert.ok(defaultAcceptsAbstractSyntax(uid), uid);
  assert.ok(defaultAcceptsAbstractSyntax('1.2.840.10008.5.1.4.1.1.9999.1'), 'a storage class newer than the node');
  assert.ok(!defaultAcceptsAbstractSyntax(SopClass.ModalityWorklistFind), 'not stated, not accepted');
  assert.ok(!defaultAcceptsAbstractSyntax(SopClass.StorageCommitmentPushModel), 'not stated, not accepted');
});

test('the implementation identifiers and association defaults it states are the code’s', () => {
  const policies = new Map(table('3.2.1 Association policies').map((r) => [r[0] ?? '', r[1] ?? '']));
  assert.equal(policies.get('Implementation Class UID'), ImplementationClassUid);
  assert.equal(policies.get('Implementation Version Name'), ImplementationVersionName);
  // The defaults, as a configuration that sets none of them has them (the one `beeldbrug init` writes).
  const defaults = parseConfig(
    parseYaml(
      configTemplate({
        nodeName: 'Conformance',
        organizationName: 'Test',
        ura: '12345678',
        aeTitle: 'NODE',
        dimsePort: 11112,
        peers: [],
      }),
    ) as Record<string, unknown>,
    'conformance.yaml',
  );
  assert.equal(
    policies.get('Maximum PDU length received (default, `dimse.maxPduLength`)'),
    String(defaults.dimse.maxPduLength),
  );
  assert.equal(
    policies.get('Maximum number of simultaneous associations (default, `dimse.maxAssociations`)'),
    String(defaults.dimse.maxAssociations),
  );
  assert.equal(
    policies.get('ARTIM timeout / idle timeout (defaults, `dimse.timeouts`)'),
    `${defaults.dimse.timeouts.artimSeconds} s / ${defaults.dimse.timeouts.idleSeconds} s`,
  );
});

test('the storage statuses it states are the ones the node answers', () => {
  const stated = table('3.2.2.3 Storage SCP').map((r) => Number.parseInt(r[0] ?? '', 16));
  const answered = new Set(
    Object.values(ErrorCatalog).flatMap((e) => ('dimse' in e ? [(e as { dimse: number }).dimse] : [])),
  );
  for (const status of stated.filter((s) => s !== 0)) assert.ok(answered.has(status), status.toString(16));
});

test('the character sets it states are the ones the node reads', () => {
  assert.deepEqual(
    table('5. Support of character sets').map((r) => r[0]),
    [...CHARACTER_SET_TERMS],
  );
});

test('a live node negotiates as stated: each stated syntax accepted for CT storage, one not stated refused', async (t) => {
  const n = await startTestNode(t, { peers: [{ aeTitle: 'CHECKER', host: '127.0.0.1', description: 'conformance' }] });
  const notStated = TransferSyntax.HTJ2KLossless;
  const syntaxes = [...table('3.2.2.1').map((r) => r[1] ?? ''), notStated];
  const assoc = await Association.connect({
    host: '127.0.0.1',
    port: n.port,
    callingAeTitle: 'CHECKER',
    calledAeTitle: n.aeTitle,
    // One context per syntax, each offered alone: what the node answers for it is what it accepts.
    presentationContexts: syntaxes.map((ts) => ({ abstractSyntax: SopClass.CTImageStorage, transferSyntaxes: [ts] })),
  });
  t.after(() => assoc.release());
  const accepted = assoc.acceptedContexts.map((c) => c.transferSyntax);
  assert.deepEqual(accepted, syntaxes.slice(0, -1));
  assert.ok(!accepted.includes(TransferSyntax.HTJ2KLossless));
});
