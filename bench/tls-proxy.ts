// nginx with our node's certificate and TLS preferences (AES-128-GCM first, the server's order), so that what it is
// compared with differs in the server, not in the encryption. Two uses: the TLS reverse proxy in front of Orthanc, as
// the Orthanc Book advises for HTTPS ("How can I run Orthanc behind nginx?"; Debian's Orthanc 1.10.1 ends its own
// HTTPS at the first request), with nginx's usual settings for large downloads through a proxy; and plain HTTPS file
// serving of a folder, what a hospital's file server does.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { HTTPS_CIPHERS } from '../src/http/index.ts';
import { freePort, waitFor } from '../test/support/net.ts';

export interface TlsProxy {
  /** https://127.0.0.1:<port>, which forwards to the upstream. */
  baseUrl: string;
  stop(): Promise<void>;
}

export async function startTlsProxy(o: {
  dir: string;
  /** http://host:port of the server behind it; or, with `root`, none: nginx serves that folder's files itself. */
  upstream?: string;
  root?: string;
  certPath: string;
  keyPath: string;
  caPem: Buffer;
}): Promise<TlsProxy> {
  mkdirSync(join(o.dir, 'temp'), { recursive: true, mode: 0o700 });
  const port = await freePort();
  const upstream = o.upstream !== undefined ? new URL(o.upstream) : undefined;
  const serve =
    upstream !== undefined
      ? `location / {
      proxy_pass http://behind;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_max_temp_file_size 0;
      proxy_buffer_size 64k;
      proxy_buffers 32 64k;
      proxy_busy_buffers_size 128k;
      client_max_body_size 0;
    }`
      : `location / { root ${o.root ?? o.dir}; }`;
  const config = join(o.dir, 'nginx.conf');
  // Our node's suites in its order: TLS 1.3 suites (OpenSSL's Ciphersuites) and those of TLS 1.2.
  const suites = HTTPS_CIPHERS.split(':');
  const tls13 = suites.filter((c) => c.startsWith('TLS_')).join(':');
  const tls12 = suites.filter((c) => !c.startsWith('TLS_')).join(':');
  writeFileSync(
    config,
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes auto;
daemon off;
pid ${join(o.dir, 'nginx.pid')};
error_log ${join(o.dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${join(o.dir, 'temp')};
  proxy_temp_path ${join(o.dir, 'temp')};
  fastcgi_temp_path ${join(o.dir, 'temp')};
  uwsgi_temp_path ${join(o.dir, 'temp')};
  scgi_temp_path ${join(o.dir, 'temp')};
  ${upstream !== undefined ? `upstream behind { server ${upstream.host}; keepalive 8; }` : ''}
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${o.certPath};
    ssl_certificate_key ${o.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_ciphers ${tls12};
    ssl_conf_command Ciphersuites ${tls13};
    ${serve}
  }
}
`,
    { mode: 0o600 },
  );
  const nginx = spawn('nginx', ['-c', config, '-p', o.dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => nginx.on('close', () => resolve()));
  nginx.on('error', (err) => (stderr += `${err.message}\n`));
  const baseUrl = `https://127.0.0.1:${port}`;
  const answers = waitFor('nginx to answer over TLS', () => {
    return new Promise<boolean>((resolve) => {
      const req = request(`${baseUrl}/`, { ca: o.caPem, method: 'HEAD' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
  });
  await Promise.race([
    answers,
    exited.then(() => {
      throw new Error(`nginx ended: ${stderr}`);
    }),
  ]);
  return {
    baseUrl,
    stop: async () => {
      nginx.kill('SIGQUIT');
      await exited;
    },
  };
}
