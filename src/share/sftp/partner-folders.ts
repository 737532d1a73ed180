import type { Upload } from '../upload/upload-store.ts';
import type { PartnerShare } from '../shares.ts';

/**
 * A partner's folders as a tree of names, without any file system behind them: `/download` holds a zip per share made
 * to the partner, `/upload` what the partner sent (as named when sent, with a `.geweigerd.txt` beside each file that was
 * refused). There is nothing else: no path leads out of it, and no other partner's files are in it.
 */
export type FolderEntry =
  | { kind: 'dir'; path: string; writable: boolean; time: number }
  | { kind: 'share'; path: string; share: PartnerShare; time: number }
  | { kind: 'upload'; path: string; upload: Upload; time: number }
  | { kind: 'refusal'; path: string; text: string; time: number };

export const DOWNLOAD = '/download';
export const UPLOAD = '/upload';

/**
 * The canonical absolute form of a path a client sent, taken from the root (the partner's home): `.` and empty parts
 * dropped, `..` climbing at most to the root, as in a chroot. A NUL or a backslash makes it no path at all.
 */
export function normalPath(path: string, cwd = '/'): string | undefined {
  if (path.includes('\0') || path.includes('\\') || path.length > 4096) return undefined;
  const parts: string[] = [];
  for (const part of (path.startsWith('/') ? path : `${cwd}/${path}`).split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';

/** The name a refused upload's reason is read under, beside where the file would be. */
export const refusalName = (path: string): string => `${path}.geweigerd.txt`;

/** The text of a refusal, in Dutch and English: what the partner reads with `get`. */
function refusalText(u: Upload): string {
  const detail = u.problem?.detail ?? 'niet opgeslagen';
  return [`${u.fileName} is niet opgenomen: ${detail}.`, `${u.fileName} was not taken in: ${detail}.`, ''].join('\r\n');
}

/**
 * The tree at one moment: the partner's shares and uploads, and the folders the session made under /upload (kept only
 * while it lasts, so that `put -r` can make its folders before it sends their files).
 */
export class PartnerFolders {
  readonly #entries = new Map<string, FolderEntry>();

  constructor(o: {
    shares: readonly PartnerShare[];
    uploads: readonly Upload[];
    madeDirs: ReadonlySet<string>;
    now: number;
  }) {
    const start = o.now;
    this.#add({ kind: 'dir', path: '/', writable: false, time: start });
    this.#add({ kind: 'dir', path: DOWNLOAD, writable: false, time: start });
    this.#add({ kind: 'dir', path: UPLOAD, writable: true, time: start });
    for (const share of o.shares)
      this.#add({ kind: 'share', path: `${DOWNLOAD}/${share.fileName}`, share, time: Date.parse(share.createdAt) });
    for (const dir of o.madeDirs) this.#dirsTo(dir, start);
    // Oldest first, so that a name sent twice shows what was sent last.
    for (const upload of [...o.uploads].reverse()) {
      const path = normalPath(upload.fileName, UPLOAD);
      if (path === undefined || !path.startsWith(`${UPLOAD}/`)) continue;
      const time = Date.parse(upload.createdAt);
      this.#dirsTo(parentOf(path), time);
      this.#add({ kind: 'upload', path, upload, time });
      const refusal = refusalName(path);
      if (upload.state === 'refused') this.#add({ kind: 'refusal', path: refusal, text: refusalText(upload), time });
      else this.#entries.delete(refusal);
    }
  }

  get(path: string): FolderEntry | undefined {
    return this.#entries.get(path);
  }

  /** What a folder holds, by name. */
  list(dir: string): FolderEntry[] {
    return [...this.#entries.values()].filter((e) => e.path !== '/' && parentOf(e.path) === dir);
  }

  /** Whether a new file or folder may be made at this path: anywhere under /upload, not over a folder. */
  static writable(path: string): boolean {
    return path.startsWith(`${UPLOAD}/`);
  }

  #dirsTo(dir: string, time: number): void {
    for (let d = dir; d.startsWith(`${UPLOAD}/`) && !this.#entries.has(d); d = parentOf(d))
      this.#add({ kind: 'dir', path: d, writable: true, time });
  }

  #add(e: FolderEntry): void {
    this.#entries.set(e.path, e);
  }
}
