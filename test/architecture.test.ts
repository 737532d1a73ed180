// The layering in docs/architecture.md, checked on the sources: a change that makes the DICOM framework depend on the
// hospital application, or reaches into another domain's files, fails here rather than in review.
import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { test } from 'node:test';

const src = resolve(import.meta.dirname, '../src');

/** Each domain and the domains it may import (through their index.ts). */
const allowed: Readonly<Record<string, readonly string[]>> = {
  dicom: [],
  deid: ['dicom'],
  dimse: ['dicom'],
  patient: [],
  auth: ['database'],
  http: ['auth', 'config', 'errors', 'log'],
  dicomweb: ['dicom', 'errors', 'http', 'studies'],
  workspace: ['config', 'http'],
  exchange: [
    'audit',
    'auth',
    'database',
    'dicom',
    'http',
    'config',
    'studies',
    'dicomweb',
    'errors',
    'log',
    'patient',
    'store',
  ],
  store: ['database'],
  database: [],
  synth: ['dicom', 'patient'],
  errors: [],
  log: [],
  metrics: [],
  config: ['errors'],
  audit: ['database'],
  registry: ['config', 'database', 'errors', 'http', 'log'],
  timeline: ['audit', 'auth', 'config', 'errors', 'exchange', 'http', 'log', 'patient', 'registry', 'studies'],
  gateway: ['dicom', 'dicomweb', 'dimse', 'errors', 'http', 'log', 'patient', 'studies', 'timeline'],
  studies: ['audit', 'dicom', 'patient', 'store', 'errors', 'log'],
  share: [
    'audit',
    'auth',
    'database',
    'config',
    'deid',
    'dicom',
    'dicomweb',
    'errors',
    'http',
    'log',
    'patient',
    'store',
    'studies',
  ],
  node: [
    'audit',
    'auth',
    'database',
    'config',
    'dicomweb',
    'dicom',
    'dimse',
    'errors',
    'exchange',
    'gateway',
    'http',
    'log',
    'metrics',
    'patient',
    'registry',
    'share',
    'store',
    'studies',
    'timeline',
    'workspace',
  ],
  cli: [
    'audit',
    'auth',
    'config',
    'errors',
    'exchange',
    'log',
    'node',
    'patient',
    'registry',
    'store',
    'synth',
    'studies',
    'dicom',
    'dimse',
    'timeline',
  ],
};

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm),
    // What loads when first needed (`await import('../x/index.ts')`) follows the same layering.
    ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1] ?? '');
}

test('domains import only the domains the architecture allows, and only through their index.ts', () => {
  const problems: string[] = [];
  for (const file of globSync('**/*.ts', { cwd: src })) {
    // Tests and their helpers may reach test/support (a real PostgreSQL, temporary folders).
    if (file.endsWith('.test.ts') || file.endsWith('-test-support.ts') || !file.includes('/')) continue;
    const domain = file.split('/')[0] ?? '';
    for (const spec of importsOf(resolve(src, file))) {
      if (!spec.startsWith('.')) continue;
      const target = relative(src, resolve(src, dirname(file), spec));
      const targetDomain = target.split('/')[0] ?? '';
      if (targetDomain === domain) continue;
      if (!(allowed[domain] ?? []).includes(targetDomain))
        problems.push(`${file} imports ${target}: ${domain} may not depend on ${targetDomain}`);
      else if (target !== `${targetDomain}/index.ts`)
        problems.push(`${file} imports ${target}: go through ${targetDomain}/index.ts`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every domain in src has a rule', () => {
  const domains = new Set(globSync('*/', { cwd: src }).map((d) => d.replace(/\/$/, '')));
  for (const d of domains) assert.ok(d in allowed, `src/${d} has no entry in the layering rules`);
});

/**
 * The one chokepoint for patient data (src/studies/patient-data.ts): outside the store and the studies domain nothing
 * reads the study index or the image files, opens the store, or writes the audit trail, except where named here and why.
 */
const chokepoint: readonly { what: string; pattern: RegExp; allowedIn: Readonly<Record<string, string>> }[] = [
  {
    what: 'opens the study store',
    pattern: /\bopenStudyStore\(/,
    allowedIn: {
      'node/hospital-node.ts':
        "opens the store and the quarantine's own store once each, and hands each to its PatientData",
      'node/node-store.ts': 'chooses where the store keeps its index, from the configuration (NodeRecords)',
    },
  },
  {
    what: 'reads or writes the study index',
    pattern: /\.index\.(?!stats\()\w+\(/,
    allowedIn: {},
  },
  {
    what: 'opens image files',
    pattern: /\.blobs\.\w+\(/,
    allowedIn: {},
  },
  {
    what: 'writes the audit trail directly',
    pattern: /\baudit\.record(All)?\(/,
    allowedIn: {
      'node/account-routes.ts': 'sign-in, sign-out and audit-read records: about accounts, not patient data',
      'cli/user-command.ts': 'account administration records: about accounts, not patient data',
      'node/account-admin-routes.ts': 'account administration in the workspace: about accounts, not patient data',
      'share/sftp/sftp-server.ts': "a partner's SFTP sign-in records: about accounts, not patient data",
      'cli/migrate-command.ts':
        "a migration run's record: the node's records moved as a whole by an operator while it is stopped, no one patient's data read",
    },
  },
  {
    what: 'reaches the study service behind the chokepoint',
    pattern: /\bStudyService\b/,
    allowedIn: {},
  },
];

test('patient data is reached only through the access layer in src/studies', () => {
  const problems: string[] = [];
  for (const file of globSync('**/*.ts', { cwd: src })) {
    if (file.endsWith('.test.ts') || file.startsWith('store/') || file.startsWith('studies/')) continue;
    if (file.startsWith('audit/')) continue;
    const text = readFileSync(resolve(src, file), 'utf8');
    for (const rule of chokepoint) {
      if (rule.pattern.test(text) && rule.allowedIn[file] === undefined)
        problems.push(`src/${file} ${rule.what}: go through PatientData / PatientDataAccess`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the study service is not part of the studies domain public surface', () => {
  const surface = readFileSync(resolve(src, 'studies/index.ts'), 'utf8');
  assert.doesNotMatch(surface, /\bStudyService\b/);
  assert.match(surface, /\bPatientData\b/);
});
