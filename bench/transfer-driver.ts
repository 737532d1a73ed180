// What a RIS does to send a study, timed: queue it in the sending node's outbox over its API (mutual TLS with the node's
// own certificate) and watch it until delivered. Run inside the sender's namespace by bench/transfer.ts:
//   node bench/transfer-driver.ts API_PORT TLS_DIR STUDY_UID PARTNER_URA [API_HOST]
// Prints one JSON line: {"startedAt": epoch ms, "endedAt": epoch ms, "transfer": the outbox entry}.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';

const [apiPort, tlsDir, studyUid, partnerUra, apiHost = '127.0.0.1'] = process.argv.slice(2);
if (apiPort === undefined || tlsDir === undefined || studyUid === undefined || partnerUra === undefined) {
  console.error('usage: transfer-driver.ts API_PORT TLS_DIR STUDY_UID PARTNER_URA');
  process.exit(2);
}
// One connection kept open, as a RIS watching its order does: a new mutual-TLS handshake for every look (50 a second)
// cost the sending node CPU that belongs to the transfer.
const agent = new Agent({
  keepAlive: true,
  maxSockets: 1,
  ca: readFileSync(join(tlsDir, 'ca.crt')),
  cert: readFileSync(join(tlsDir, 'node.crt')),
  key: readFileSync(join(tlsDir, 'node.key')),
});

function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: apiHost,
        port: Number(apiPort),
        method,
        path,
        agent,
        headers: payload !== undefined ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const startedAt = Date.now();
const queued = await api('POST', '/api/v1/outbox', {
  studyInstanceUid: studyUid,
  to: partnerUra,
  purpose: 'transfer',
  urgency: 'urgent',
  reason: 'benchmark',
});
if (queued.status !== 202) throw new Error(`queueing failed: ${queued.status} ${JSON.stringify(queued.json)}`);
for (;;) {
  const t = await api('GET', `/api/v1/outbox/${String(queued.json['transferId'])}`);
  if (t.json['state'] === 'delivered' || t.json['state'] === 'failed') {
    console.log(JSON.stringify({ startedAt, endedAt: Date.now(), transfer: t.json }));
    break;
  }
  await new Promise((r) => setTimeout(r, 20));
}
agent.destroy();
