// The registry side of bench:prefetch, run inside the requesting hospital's namespace (where the registry listens):
// records the patient's permit for the source hospital (with the source's certificate: a hospital records only its own
// choices) and waits until the registry names the source for the patient, as the source's node registers what it holds.
//   node bench/prefetch-driver.ts REGISTRY_URL NETWORK_KEY_FILE SOURCE_TLS_DIR REQUESTER_TLS_DIR BSN SOURCE_URA REQUESTER_URA
// Prints READY once the source is named.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpsRegistryClient, readNetworkKeyFile } from '../src/registry/index.ts';

const [url, keyFile, sourceDir, requesterDir, bsn, sourceUra, requesterUra] = process.argv.slice(2);
if (
  url === undefined ||
  keyFile === undefined ||
  sourceDir === undefined ||
  requesterDir === undefined ||
  bsn === undefined ||
  sourceUra === undefined ||
  requesterUra === undefined
) {
  console.error(
    'usage: prefetch-driver.ts REGISTRY_URL NETWORK_KEY_FILE SOURCE_TLS_DIR REQUESTER_TLS_DIR BSN SOURCE_URA REQUESTER_URA',
  );
  process.exit(2);
}
const networkKey = readNetworkKeyFile(keyFile);
const tlsOf = (dir: string) => ({
  key: readFileSync(join(dir, 'node.key')),
  cert: readFileSync(join(dir, 'node.crt')),
  ca: readFileSync(join(dir, 'ca.crt')),
});
const source = new HttpsRegistryClient({ baseUrl: url, tls: tlsOf(sourceDir), networkKey, ourUra: sourceUra });
const requester = new HttpsRegistryClient({ baseUrl: url, tls: tlsOf(requesterDir), networkKey, ourUra: requesterUra });
try {
  await source.recordConsent({
    bsn,
    decision: 'permit',
    actor: { role: 'holder', ura: sourceUra },
    recordedBy: { id: 'bench', name: 'bench' },
  });
  // Set-up, not measured: the source's node registers the patient shortly after storing the study.
  for (let i = 0; ; i++) {
    const named = await requester.locate(bsn, 'treatment');
    if (named.some((s) => s.ura === sourceUra)) break;
    if (i > 600) throw new Error('the registry never named the source for the patient');
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log('READY');
} finally {
  source.close();
  requester.close();
}
