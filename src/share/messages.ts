import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Transporter } from 'nodemailer';
import type { ShareConfig } from '../config/index.ts';

/** An e-mail to a share's recipient. It names the hospital and the link, never the patient or the study. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(m: MailMessage): Promise<void>;
  close(): void;
}

/**
 * The hospital's mail server over SMTP. STARTTLS is required: a server that does not offer it gets no message (the
 * link is half of what opens a share), and its certificate is checked (against `caFile` when the server has a private CA).
 */
export function smtpMailer(c: ShareConfig['smtp']): Mailer {
  // The files are read now, so that a node whose mail settings cannot be read says so at start, not at the first share.
  const options = {
    host: c.host,
    port: c.port,
    secure: false,
    requireTLS: true,
    tls: {
      minVersion: 'TLSv1.2' as const,
      ...(c.caFile !== undefined ? { ca: readFileSync(c.caFile) } : {}),
    },
    ...(c.username !== undefined && c.passwordFile !== undefined
      ? { auth: { user: c.username, pass: readFileSync(c.passwordFile, 'utf8').trim() } }
      : {}),
    connectionTimeout: 15_000,
    socketTimeout: 30_000,
  };
  // nodemailer loads with the first message: a tenth of a second of every start otherwise, for a node that may never
  // share a study.
  let transport: Promise<Transporter> | undefined;
  return {
    send: async (m) => {
      transport ??= import('nodemailer').then(({ createTransport }) => createTransport(options));
      await (await transport).sendMail({ from: c.from, to: m.to, subject: m.subject, text: m.text });
    },
    close: () => {
      void transport?.then(
        (t) => t.close(),
        () => undefined,
      );
    },
  };
}

/** A one-time code to a recipient's mobile phone. */
export interface SmsGateway {
  send(to: string, text: string): Promise<void>;
}

/**
 * A generic HTTPS SMS gateway: `POST url` with `{"to": "+31612345678", "from": "Ziekenhuis", "text": "..."}` as JSON and
 * the gateway's token as a bearer token (from `tokenFile`); any 2xx is taken as accepted. Most Dutch SMS providers
 * take this shape directly or through a small adapter of theirs.
 */
export function httpsSmsGateway(c: ShareConfig['sms']): SmsGateway {
  const token = c.tokenFile !== undefined ? readFileSync(c.tokenFile, 'utf8').trim() : undefined;
  const ca = c.caFile !== undefined ? readFileSync(c.caFile) : undefined;
  return {
    send: (to, text) =>
      new Promise<void>((resolve, reject) => {
        const body = JSON.stringify({ to, from: c.sender, text });
        const req = request(
          c.url,
          {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
            },
            ...(ca !== undefined ? { ca } : {}),
            minVersion: 'TLSv1.2',
            timeout: 15_000,
          },
          (res) => {
            res.resume();
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new Error(`the SMS gateway answered HTTP ${status}`));
          },
        );
        req.on('timeout', () => req.destroy(new Error('the SMS gateway did not answer within 15 s')));
        req.on('error', reject);
        req.end(body);
      }),
  };
}
