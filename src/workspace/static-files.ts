import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyReply } from 'fastify';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};

/**
 * The content security policy of the workspace: scripts, styles, images and workers from the node itself only, no
 * inline script, no framing. `wasm-unsafe-eval` lets the viewer's image codecs (WebAssembly) compile; `blob:` lets it
 * draw decoded frames and start its decoding workers.
 */
export const WORKSPACE_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface StaticFile {
  path: string;
  type: string;
  size: number;
}

/**
 * The built web app, as a fixed list of files taken once at start: a request names one of them or gets nothing, so no
 * path from a request ever reaches the filesystem.
 */
export class StaticFiles {
  readonly #files = new Map<string, StaticFile>();
  readonly root: string;

  constructor(root: string) {
    this.root = root;
    if (!existsSync(join(root, 'index.html'))) return;
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile() && TYPES[extname(entry.name)] !== undefined)
          this.#files.set(`/${relative(root, full).split(sep).join('/')}`, {
            path: full,
            type: TYPES[extname(entry.name)]!,
            size: statSync(full).size,
          });
      }
    };
    walk(root);
  }

  get built(): boolean {
    return this.#files.has('/index.html');
  }

  has(urlPath: string): boolean {
    return this.#files.has(urlPath);
  }

  /** Sends one file; names under /assets/ carry a content hash (Vite), so they are cached for good. */
  send(reply: FastifyReply, urlPath: string): FastifyReply {
    const f = this.#files.get(urlPath);
    if (f === undefined) throw new Error(`not a file of the workspace: ${urlPath}`);
    return reply
      .header('content-type', f.type)
      .header('content-length', String(f.size))
      .header('cache-control', urlPath.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', WORKSPACE_CSP)
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .send(createReadStream(f.path));
  }
}
