// An initiating gateway's side of XCA for tests: SOAP requests over mutual TLS, and the MTOM answers taken apart by
// Python's email package (a MIME parser nobody here wrote).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { IssuedCertificate } from '../../src/auth/index.ts';
import { tempDir } from './tmp.ts';

export interface XcaAnswer {
  status: number;
  contentType: string;
  body: Buffer;
}

export function postSoap(
  port: number,
  path: string,
  ca: string,
  client: IssuedCertificate | undefined,
  envelope: string,
  contentType = 'application/soap+xml; charset=UTF-8',
): Promise<XcaAnswer> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(envelope);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca,
        agent: false,
        ...(client !== undefined ? { key: client.keyPem, cert: client.certPem } : {}),
        headers: { 'content-type': contentType, 'content-length': String(payload.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? '',
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface MimePart {
  contentId: string;
  contentType: string;
  file: string;
}

const SPLIT = `
import email, email.policy, json, os, sys
ct, out = sys.argv[1], sys.argv[2]
msg = email.message_from_bytes(b'Content-Type: ' + ct.encode() + b'\\r\\n\\r\\n' + sys.stdin.buffer.read(), policy=email.policy.HTTP)
parts = []
for i, part in enumerate(msg.iter_parts()):
    path = os.path.join(out, 'part%d' % i)
    with open(path, 'wb') as f:
        f.write(part.get_payload(decode=True))
    parts.append({'contentId': (part['Content-ID'] or '').strip('<>'), 'contentType': part.get_content_type(), 'file': path})
print(json.dumps({'type': msg.get_content_type(), 'start': msg.get_param('start'), 'parts': parts}))
`;

/** The parts of a multipart/related answer, each written to a file of its own. */
export function mimeParts(t: TestContext, a: XcaAnswer): { type: string; start: string; parts: MimePart[] } {
  const dir = tempDir(t);
  const out = execFileSync('python3', ['-c', SPLIT, a.contentType, dir], { input: a.body, maxBuffer: 1 << 26 });
  return JSON.parse(out.toString()) as { type: string; start: string; parts: MimePart[] };
}

/** What xmllint finds at an XPath (local names only, as namespaces differ in prefix from peer to peer). */
export function xpath(file: string, path: string): string {
  return execFileSync('xmllint', ['--xpath', path, file]).toString().trim();
}

export function xmlFile(t: TestContext, xml: string | Buffer): string {
  const f = join(tempDir(t), 'answer.xml');
  writeFileSync(f, xml);
  return f;
}

const ANSWER_SCHEMA = new URL('./xca-answers.rng', import.meta.url).pathname;

/** Checks an answer's envelope against the schema of the answers (test/support/xca-answers.rng); xmllint says why not. */
export function assertValidAnswer(file: string): void {
  execFileSync('xmllint', ['--noout', '--relaxng', ANSWER_SCHEMA, file], { stdio: ['ignore', 'ignore', 'pipe'] });
}
