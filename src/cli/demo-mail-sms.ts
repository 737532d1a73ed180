// Stand-ins for a hospital's mail server and SMS gateway in the demo network: the e-mails with share links and the SMS
// codes are written to files a visitor reads, so a share can be followed end to end on one machine.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface DemoMailAndSms {
  /** The share section of a node's configuration that uses these two. */
  shareConfig(publicUrl: string): Record<string, unknown>;
  /** Where each e-mail lands, one file per message. */
  mailDir: string;
  /** Where each SMS lands, one line per message. */
  smsFile: string;
  /** Resolves with the next e-mail as sent, quoted-printable undone (so its link reads whole). */
  nextMail(): Promise<string>;
  close(): Promise<void>;
}

/**
 * An SMTP server (STARTTLS with the demo CA's certificate) that keeps each message as a file, and an HTTPS SMS gateway
 * that appends each message to a file. `tls` is a certificate of the demo CA for 127.0.0.1.
 */
export async function startDemoMailAndSms(o: {
  dir: string;
  smtpPort: number;
  smsPort: number;
  tls: { certPath: string; keyPath: string };
  caPath: string;
}): Promise<DemoMailAndSms> {
  const mailDir = join(o.dir, 'mail');
  const smsFile = join(o.dir, 'sms.txt');
  mkdirSync(mailDir, { recursive: true, mode: 0o700 });
  const key = readFileSync(o.tls.keyPath);
  const cert = readFileSync(o.tls.certPath);
  const waiting: ((text: string) => void)[] = [];
  let count = 0;
  const smtp = new SMTPServer({
    secure: false,
    key,
    cert,
    authOptional: true,
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        count++;
        writeFileSync(join(mailDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${count}.eml`), text, {
          mode: 0o600,
        });
        waiting.shift()?.(unquoted(text));
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    smtp.on('error', reject);
    smtp.listen(o.smtpPort, '127.0.0.1', resolve);
  });
  const tokenFile = join(o.dir, 'sms.token');
  const token = 'demo-sms-gateway';
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const sms: Server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.headers.authorization !== `Bearer ${token}`)
        return void res.writeHead(401).end();
      const m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { to: string; text: string };
      appendFileSync(smsFile, `${new Date().toISOString()}  to ${m.to}: ${m.text}\n`, { mode: 0o600 });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    sms.on('error', reject);
    sms.listen(o.smsPort, '127.0.0.1', resolve);
  });
  return {
    mailDir,
    smsFile,
    shareConfig: (publicUrl) => ({
      publicUrl,
      smtp: { host: '127.0.0.1', port: o.smtpPort, from: 'Radiologie <beelden@demo.test>', caFile: o.caPath },
      sms: { url: `https://127.0.0.1:${o.smsPort}/sms`, tokenFile, caFile: o.caPath, sender: 'Radiologie' },
    }),
    nextMail: () => new Promise((resolve) => waiting.push(resolve)),
    close: async () => {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      await new Promise<void>((resolve) => sms.close(() => resolve()));
    },
  };
}

/** Quoted-printable undone: soft line breaks joined, =XX bytes (such as =3D for '=') written out. */
function unquoted(text: string): string {
  return text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
