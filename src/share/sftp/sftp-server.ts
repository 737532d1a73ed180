import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import ssh2, { type Attributes, type AuthContext, type CipherAlgorithm, type Connection, type SFTPWrapper } from 'ssh2';
import type { AuditTrail } from '../../audit/index.ts';
import type { Account, SignInRateLimit } from '../../auth/index.ts';
import { BeeldbrugError } from '../../errors/index.ts';
import type { Logger } from '../../log/index.ts';
import { shareZip, type ZipTexts } from '../share-zip.ts';
import type { PartnerActor, PartnerShare, Shares } from '../shares.ts';
import type { IncomingUpload, Quarantine } from '../upload/quarantine.ts';
import { DOWNLOAD, type FolderEntry, normalPath, PartnerFolders, UPLOAD } from './partner-folders.ts';
import { SequentialReader } from './sequential-reader.ts';

const { Server, utils } = ssh2;
/**
 * AES in OpenSSL (with the CPU's AES instructions), GCM first. ChaCha20-Poly1305 is left out: without ssh2's optional
 * native binding it runs in JavaScript, many times slower, and every SSH client offers AES too.
 */
const CIPHERS: CipherAlgorithm[] = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr'];
const { STATUS_CODE, OPEN_MODE } = utils.sftp;

export interface SftpServerOptions {
  /** The host's private key (OpenSSH format); its fingerprint is what partners check on first connect. */
  hostKey: string;
  accounts: {
    checkPassword(username: string, password: string): Promise<{ ok: boolean; account?: Account; reason?: string }>;
    accountForSshKey(username: string, type: string, blob: Buffer): Promise<Account | undefined>;
  };
  shares: Shares;
  quarantine: Quarantine;
  audit: AuditTrail;
  /** Password and key sign-ins per address and in all, as on the web. */
  signInLimit: SignInRateLimit;
  node: string;
  zipTexts: ZipTexts;
  logger: Logger;
}

/** The SHA256 fingerprint of a host key, as `ssh-keygen -l` and OpenSSH's first-connect question show it. */
export function hostKeyFingerprint(privateKey: string): string {
  const key = utils.parseKey(privateKey);
  if (key instanceof Error) throw key;
  return `SHA256:${createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The node's SFTP server for partner accounts (ssh2): sign-in with the account's password or a registered SSH key, and
 * then only the partner's own folders (see PartnerFolders); no shell, no forwarding, no other subsystem. What a partner
 * puts goes into the quarantine as it streams; the close answers once it is durable and looked at (refused when it
 * is no DICOM file or an unsafe zip), and its instances are stored after: a refusal found then appears beside the file
 * as its `.geweigerd.txt`. A share is read as its zip, made as it is read.
 */
export class SftpServer {
  readonly #o: SftpServerOptions;
  readonly #server: InstanceType<typeof Server>;
  readonly #connections = new Set<Connection>();

  constructor(o: SftpServerOptions) {
    this.#o = o;
    this.#server = new Server(
      { hostKeys: [o.hostKey], ident: 'Beeldbrug', algorithms: { cipher: CIPHERS } },
      (client, info) => this.#connection(client, info.ip),
    );
  }

  async listen(port: number, host: string): Promise<number> {
    this.#server.listen(port, host);
    await once(this.#server, 'listening');
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const c of this.#connections) c.end();
    await closed;
  }

  #connection(client: Connection, ip: string): void {
    // Each write is answered with a small status packet: with Nagle's algorithm on, those wait for the client's delayed
    // acknowledgement (40 ms), and a 1 GB put crawled at a tenth of its speed while both sides stood idle.
    // (ssh2's server-side client has setNoDelay, as its client does; the types know only the latter.)
    (client as Connection & { setNoDelay(noDelay: boolean): void }).setNoDelay(true);
    // ssh2 shows its socket to no one; without `_sock` (a later ssh2 may rename it) answers simply leave one by one.
    const together = answersTogether((client as unknown as { _sock?: Socket })._sock);
    this.#connections.add(client);
    let actor: PartnerActor | undefined;
    const sessions: PartnerSftp[] = [];
    client.on('authentication', (ctx) => {
      this.#authenticate(ctx, ip).then(
        (signedIn) => {
          if (signedIn === 'query') return ctx.accept();
          if (signedIn === undefined) return ctx.reject(['publickey', 'password']);
          actor = signedIn;
          ctx.accept();
        },
        (err: unknown) => {
          this.#o.logger.error({ err, remote: ip }, 'sftp: sign-in could not be checked');
          ctx.reject(['publickey', 'password']);
        },
      );
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('sftp', (acceptSftp) => {
          if (actor === undefined) return;
          sessions.push(new PartnerSftp(acceptSftp(), actor, this.#o, together));
        });
        // Only SFTP: a shell, a command or a terminal is refused (ssh2 refuses what has no listener; these say so).
        for (const request of ['shell', 'exec', 'pty', 'x11', 'subsystem'] as const)
          session.on(request as 'shell', (_accept, reject) => reject());
      });
      client.on('tcpip', (_accept, reject) => reject());
    });
    client.on('error', (err) => this.#o.logger.info({ err, remote: ip }, 'sftp: connection ended with an error'));
    client.on('close', () => {
      this.#connections.delete(client);
      for (const s of sessions) s.end();
    });
  }

  /**
   * The partner a password or key signs in, 'query' for a client asking whether a key would do (it signs next), or
   * undefined. Each real attempt counts towards the rate limit and is recorded; the refusal says nothing more.
   */
  async #authenticate(ctx: AuthContext, ip: string): Promise<PartnerActor | 'query' | undefined> {
    if (ctx.method !== 'password' && ctx.method !== 'publickey') return undefined;
    const username = ctx.username.toLowerCase().slice(0, 64);
    if (ctx.method === 'publickey' && ctx.signature === undefined)
      return (await this.#o.accounts.accountForSshKey(username, ctx.key.algo, ctx.key.data)) !== undefined
        ? 'query'
        : undefined;
    const admission = this.#o.signInLimit.admit(ip);
    if (!admission.ok) {
      if (admission.first) this.#o.logger.warn({ remote: ip, limit: admission.limit }, 'sftp: sign-in rate limit');
      return undefined;
    }
    let account: Account | undefined;
    let reason = 'wrong-key';
    let how: string;
    if (ctx.method === 'password') {
      how = 'SFTP, partner account password';
      const r = await this.#o.accounts.checkPassword(username, ctx.password);
      account = r.account;
      reason = r.ok ? (r.account?.role === 'partner' ? 'ok' : 'not-a-partner') : (r.reason ?? 'refused');
    } else {
      const key = utils.parseKey(ctx.key.data);
      const fingerprint = `SHA256:${createHash('sha256').update(ctx.key.data).digest('base64').replace(/=+$/, '')}`;
      how = `SFTP, registered SSH key ${fingerprint}`;
      const owner = await this.#o.accounts.accountForSshKey(username, ctx.key.algo, ctx.key.data);
      const signed =
        !(key instanceof Error) && ctx.blob !== undefined && key.verify(ctx.blob, ctx.signature!, ctx.hashAlgo);
      if (owner !== undefined && signed) {
        account = owner;
        reason = 'ok';
      }
    }
    const at = { node: this.#o.node, ip };
    if (reason !== 'ok' || account === undefined || account.organization === undefined) {
      await this.#o.audit.record({
        action: 'login-failure',
        outcome: 'failure',
        description: `SFTP sign-in refused (${reason})`,
        user:
          account !== undefined
            ? { id: account.id, name: account.name }
            : { id: `unknown:${username}`, name: '(unknown user name)' },
        accessPoint: at,
        objects: {},
        grounds: { authorization: how },
      });
      return undefined;
    }
    admission.succeeded();
    const actor: PartnerActor = {
      account: { id: account.id, name: account.name, organization: account.organization },
      sponsor: account.createdBy,
      ip,
      authorization: how,
    };
    await this.#o.audit.record({
      action: 'login',
      outcome: 'success',
      description: 'signed in over SFTP',
      user: { id: account.id, name: `${account.name} (${account.organization})` },
      accessPoint: at,
      objects: {},
      grounds: { authorization: how },
    });
    return actor;
  }
}

type Handle =
  | { kind: 'dir'; entries: FolderEntry[] | undefined }
  | { kind: 'read'; reader: SequentialReader; queue: Promise<void> }
  | { kind: 'write'; next: number; incoming: IncomingUpload; failure: string | undefined };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** One partner's SFTP session: the requests of the protocol answered from the partner's folders. */
class PartnerSftp {
  readonly #sftp: SFTPWrapper;
  readonly #actor: PartnerActor;
  readonly #o: SftpServerOptions;
  readonly #handles = new Map<number, Handle>();
  readonly #together: () => void;
  readonly #madeDirs = new Set<string>();
  #nextHandle = 1;
  /** The download folder as last listed: listing it is recorded, so it is listed when opened, not on every stat. */
  #shares: PartnerShare[] | undefined;

  constructor(sftp: SFTPWrapper, actor: PartnerActor, o: SftpServerOptions, together: () => void) {
    this.#sftp = sftp;
    this.#together = together;
    this.#actor = actor;
    this.#o = o;
    // The client is done (it sent EOF): the channel closes, or OpenSSH's client waits for that close forever.
    sftp.on('end', () => sftp.end());
    const on = (event: string, f: (reqId: number, ...args: never[]) => Promise<void>): void => {
      sftp.on(event, (reqId: number, ...args: never[]) => {
        f(reqId, ...args).catch((err: unknown) => this.#failed(reqId, err));
      });
    };
    on('REALPATH', async (reqId, path: string) => {
      const normal = normalPath(path);
      if (normal === undefined) return this.#status(reqId, 'NO_SUCH_FILE');
      sftp.name(reqId, [{ filename: normal, longname: normal, attrs: {} as Attributes }]);
    });
    on('STAT', (reqId, path: string) => this.#stat(reqId, path));
    on('LSTAT', (reqId, path: string) => this.#stat(reqId, path));
    on('OPENDIR', (reqId, path: string) => this.#openDir(reqId, path));
    on('READDIR', async (reqId, handle: Buffer) => {
      const h = this.#handle(handle);
      if (h?.kind !== 'dir') return this.#status(reqId, 'FAILURE', 'not an open folder');
      if (h.entries === undefined) return this.#status(reqId, 'EOF');
      const now = Date.now();
      sftp.name(
        reqId,
        h.entries.map((e) => ({ filename: baseName(e.path), longname: longName(e, now), attrs: attrsOf(e) })),
      );
      h.entries = undefined;
    });
    on('OPEN', (reqId, path: string, flags: number) => this.#open(reqId, path, flags));
    on('READ', async (reqId, handle: Buffer, offset: number, length: number) => {
      const h = this.#handle(handle);
      if (h?.kind !== 'read') return this.#status(reqId, 'FAILURE', 'not a file open for reading');
      h.queue = h.queue.then(async () => {
        // A client reads ahead: what it asks for past the end is the end (OpenSSH then asks again for the rest of its
        // last, short, piece, which is the end too).
        if (h.reader.atEnd && offset >= h.reader.position) return this.#status(reqId, 'EOF');
        if (offset !== h.reader.position)
          return this.#status(reqId, 'FAILURE', 'this file is read from start to end, in order');
        const data = await h.reader.read(Math.min(length, 256 * 1024));
        if (data === null) this.#status(reqId, 'EOF');
        else sftp.data(reqId, data);
      });
      await h.queue;
    });
    on('WRITE', (reqId, handle: Buffer, offset: number, data: Buffer) => this.#write(reqId, handle, offset, data));
    on('FSTAT', async (reqId, handle: Buffer) => {
      const h = this.#handle(handle);
      if (h === undefined) return this.#status(reqId, 'FAILURE', 'not an open file');
      sftp.attrs(reqId, { mode: h.kind === 'dir' ? S_IFDIR | 0o500 : S_IFREG | 0o600 } as Attributes);
    });
    // Times and modes a client sets on what it sent (`put -p`) are taken, and ignored: the quarantine keeps its own.
    on('FSETSTAT', async (reqId, handle: Buffer) =>
      this.#status(reqId, this.#handle(handle)?.kind === 'write' ? 'OK' : 'PERMISSION_DENIED'),
    );
    on('SETSTAT', async (reqId, path: string) => {
      const e = (await this.#folders()).get(normalPath(path) ?? '');
      this.#status(reqId, e?.kind === 'upload' ? 'OK' : 'PERMISSION_DENIED');
    });
    on('CLOSE', (reqId, handle: Buffer) => this.#close(reqId, handle));
    on('MKDIR', async (reqId, path: string) => {
      const normal = normalPath(path);
      if (normal === undefined || !PartnerFolders.writable(normal))
        return this.#status(reqId, 'PERMISSION_DENIED', 'folders are made only in upload');
      if ((await this.#folders()).get(normal) !== undefined) return this.#status(reqId, 'FAILURE', 'it exists');
      this.#madeDirs.add(normal);
      this.#status(reqId, 'OK');
    });
    const denied = (why: string) => async (reqId: number) => this.#status(reqId, 'PERMISSION_DENIED', why);
    on('REMOVE', denied('what was sent stays with the hospital, which decides on it'));
    on('RMDIR', denied('folders are not removed here'));
    on('RENAME', denied('what was sent keeps its name'));
    on('SYMLINK', denied('no links are made here'));
    on('READLINK', async (reqId) => this.#status(reqId, 'NO_SUCH_FILE', 'there are no links here'));
    on('EXTENDED', async (reqId) => this.#status(reqId, 'OP_UNSUPPORTED'));
  }

  /** The session ended: a file still arriving is dropped (it never becomes a stored instance), zips stop. */
  end(): void {
    for (const h of this.#handles.values()) {
      if (h.kind === 'write') void h.incoming.abort().catch((err: unknown) => this.#failedWrite(h, err));
      if (h.kind === 'read') h.reader.destroy();
    }
    this.#handles.clear();
  }

  async #folders(refreshShares = false): Promise<PartnerFolders> {
    if (refreshShares || this.#shares === undefined) this.#shares = await this.#o.shares.partnerShares(this.#actor);
    const uploads = await this.#o.quarantine.uploadsOf(this.#o.shares.partnerUploader(this.#actor));
    return new PartnerFolders({ shares: this.#shares, uploads, madeDirs: this.#madeDirs, now: Date.now() });
  }

  async #stat(reqId: number, path: string): Promise<void> {
    const e = (await this.#folders()).get(normalPath(path) ?? '');
    if (e === undefined) return this.#status(reqId, 'NO_SUCH_FILE');
    this.#sftp.attrs(reqId, attrsOf(e));
  }

  async #openDir(reqId: number, path: string): Promise<void> {
    const normal = normalPath(path) ?? '';
    const folders = await this.#folders(normal === DOWNLOAD);
    if (folders.get(normal)?.kind !== 'dir') return this.#status(reqId, 'NO_SUCH_FILE');
    this.#sftp.handle(reqId, this.#newHandle({ kind: 'dir', entries: folders.list(normal) }));
  }

  async #open(reqId: number, path: string, flags: number): Promise<void> {
    const normal = normalPath(path);
    if (normal === undefined) return this.#status(reqId, 'NO_SUCH_FILE');
    const writing = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0;
    let folders = await this.#folders();
    let e = folders.get(normal);
    if (writing) {
      if (!PartnerFolders.writable(normal) || e?.kind === 'dir' || e?.kind === 'refusal')
        return this.#status(reqId, 'PERMISSION_DENIED', 'files are sent into upload; the rest is read-only');
      // oxlint-disable-next-line eslint/no-control-regex -- control characters are what is refused
      if (/[\u0000-\u001f\u007f]/.test(normal))
        return this.#status(reqId, 'PERMISSION_DENIED', 'a file name has no control characters');
      const parent = normal.slice(0, normal.lastIndexOf('/'));
      if (folders.get(parent)?.kind !== 'dir') return this.#status(reqId, 'NO_SUCH_FILE', 'no such folder');
      return this.#startUpload(reqId, normal.slice(UPLOAD.length + 1));
    }
    if (e === undefined && normal.startsWith(`${DOWNLOAD}/`)) {
      folders = await this.#folders(true);
      e = folders.get(normal);
    }
    if (e === undefined) return this.#status(reqId, 'NO_SUCH_FILE');
    if (e.kind === 'refusal')
      return this.#sftp.handle(reqId, this.#reading(new SequentialReader(bufferStream(Buffer.from(e.text, 'utf8')))));
    if (e.kind !== 'share')
      return this.#status(reqId, 'PERMISSION_DENIED', 'what was sent into upload is not read back');
    const { instances, deidentifier } = await this.#o.shares.partnerDownload(this.#actor, e.share.shareId);
    const zip = shareZip(instances, this.#o.zipTexts, deidentifier);
    this.#sftp.handle(reqId, this.#reading(new SequentialReader(zip.stream)));
  }

  #reading(reader: SequentialReader): Buffer {
    return this.#newHandle({ kind: 'read', reader, queue: Promise.resolve() });
  }

  async #startUpload(reqId: number, fileName: string): Promise<void> {
    const incoming = await this.#o.quarantine.receive(this.#o.shares.partnerUploader(this.#actor), fileName);
    this.#sftp.handle(reqId, this.#newHandle({ kind: 'write', next: 0, incoming, failure: undefined }));
  }

  async #write(reqId: number, handle: Buffer, offset: number, data: Buffer): Promise<void> {
    const h = this.#handle(handle);
    if (h?.kind !== 'write') return this.#status(reqId, 'FAILURE', 'not a file open for writing');
    if (h.failure === undefined && offset !== h.next)
      h.failure = 'this node takes a file from start to end, in order; send it again';
    if (h.failure !== undefined) return this.#status(reqId, 'FAILURE', h.failure);
    h.next += data.length;
    try {
      // Taken (copied) before this returns: ssh2 reuses the packet's memory. OpenSSH keeps 64 writes in flight; those
      // that find the disk behind wait here.
      const behind = h.incoming.write(data);
      if (behind !== undefined) await behind;
    } catch (err) {
      this.#failedWrite(h, err);
    }
    this.#status(reqId, h.failure === undefined ? 'OK' : 'FAILURE', h.failure);
  }

  #failedWrite(h: Extract<Handle, { kind: 'write' }>, err: unknown): void {
    h.failure ??= messageOf(err);
    if (!(err instanceof BeeldbrugError)) this.#o.logger.error({ err }, 'sftp: an upload could not be received');
  }

  async #close(reqId: number, handle: Buffer): Promise<void> {
    const id = handle.length === 4 ? handle.readUInt32BE(0) : -1;
    const h = this.#handles.get(id);
    this.#handles.delete(id);
    if (h === undefined) return this.#status(reqId, 'FAILURE', 'not an open file');
    if (h.kind === 'read') h.reader.destroy();
    if (h.kind !== 'write') return this.#status(reqId, 'OK');
    if (h.failure !== undefined) {
      await h.incoming.abort();
      return this.#status(reqId, 'FAILURE', h.failure);
    }
    const upload = await h.incoming.end().catch((err: unknown) => this.#failedWrite(h, err));
    if (upload === undefined) return this.#status(reqId, 'FAILURE', h.failure ?? 'not received');
    if (upload.state === 'refused')
      return this.#status(reqId, 'FAILURE', `refused: ${upload.problem?.detail ?? 'not taken in'}`);
    this.#status(reqId, 'OK');
  }

  #newHandle(h: Handle): Buffer {
    const id = this.#nextHandle++;
    this.#handles.set(id, h);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(id);
    return b;
  }

  #handle(handle: Buffer): Handle | undefined {
    return handle.length === 4 ? this.#handles.get(handle.readUInt32BE(0)) : undefined;
  }

  #status(reqId: number, code: keyof typeof STATUS_CODE, message?: string): void {
    this.#together();
    this.#sftp.status(reqId, STATUS_CODE[code], message);
  }

  #failed(reqId: number, err: unknown): void {
    if (err instanceof BeeldbrugError && err.code === 'NOT_FOUND') return this.#status(reqId, 'NO_SUCH_FILE');
    if (!(err instanceof BeeldbrugError)) this.#o.logger.error({ err }, 'sftp: a request failed');
    this.#status(reqId, 'FAILURE', messageOf(err));
  }
}

function messageOf(err: unknown): string {
  return err instanceof BeeldbrugError ? err.message : 'the node could not do this; try again later';
}

function bufferStream(b: Buffer): Readable {
  const s = new PassThrough();
  s.end(b);
  return s;
}

/**
 * Answers given in one turn of the event loop leave in one write: a socket read brings a client's writes two or three
 * at a time, and with TCP_NODELAY each status answer was a system call and a segment of its own.
 */
function answersTogether(socket: Socket | undefined): () => void {
  let corked = false;
  return () => {
    if (corked || socket === undefined) return;
    corked = true;
    socket.cork();
    process.nextTick(() => {
      corked = false;
      socket.uncork();
    });
  };
}

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/**
 * A zip is made as it is read, so its size is not known beforehand: it is left out, and clients read to the end (as
 * OpenSSH's does, at full speed when no size is given).
 */
function attrsOf(e: FolderEntry): Attributes {
  const time = Math.floor(e.time / 1000);
  const mode =
    e.kind === 'dir' ? S_IFDIR | (e.writable ? 0o700 : 0o500) : S_IFREG | (e.kind === 'upload' ? 0o200 : 0o400);
  const size = e.kind === 'upload' ? e.upload.size : e.kind === 'refusal' ? Buffer.byteLength(e.text) : undefined;
  return { mode, uid: 0, gid: 0, atime: time, mtime: time, ...(size !== undefined ? { size } : {}) } as Attributes;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The `ls -l` line a client shows for an entry. */
function longName(e: FolderEntry, now: number): string {
  const a = attrsOf(e);
  const bits = (m: number): string => `${m & 4 ? 'r' : '-'}${m & 2 ? 'w' : '-'}${m & 1 ? 'x' : '-'}`;
  const type = e.kind === 'dir' ? 'd' : '-';
  const d = new Date(e.time);
  const recent = Math.abs(now - e.time) < 180 * 86_400_000;
  const when = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2)} ${
    recent
      ? `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`
      : ` ${d.getUTCFullYear()}`
  }`;
  const size = a.size !== undefined ? String(a.size) : '-';
  return `${type}${bits(a.mode >> 6)}------ 1 partner partner ${size.padStart(12)} ${when} ${baseName(e.path)}`;
}
