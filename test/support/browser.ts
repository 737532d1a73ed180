// Just enough of a browser for redirect-based sign-in: a cookie jar per host (with path, Max-Age=0 removal and the
// SameSite rule that matters here: a Strict cookie is not sent on a request another site sent us to), TLS trusting
// the test CA, and no automatic redirects, so that a test sees and follows each hop.
import { request } from 'node:https';

interface Cookie {
  value: string;
  path: string;
  sameSite: 'strict' | 'lax' | 'none';
}

export interface Hop {
  status: number;
  location?: string;
  body: string;
  url: string;
}

export class TestBrowser {
  readonly #jar = new Map<string, Map<string, Cookie>>();
  readonly #ca: string;

  constructor(ca: string) {
    this.#ca = ca;
  }

  /** One request; `from` is the page the navigation came from (its origin decides SameSite=Strict). */
  async go(url: string, o: { method?: string; form?: Record<string, string>; from?: string } = {}): Promise<Hop> {
    const u = new URL(url);
    const crossSite = o.from !== undefined && new URL(o.from).host !== u.host;
    const cookies = [...(this.#jar.get(u.host) ?? new Map<string, Cookie>())]
      .filter(([, c]) => u.pathname.startsWith(c.path) && !(crossSite && c.sameSite === 'strict'))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
    const body = o.form !== undefined ? new URLSearchParams(o.form).toString() : undefined;
    return new Promise((resolve, reject) => {
      const req = request(
        u,
        {
          method: o.method ?? (body !== undefined ? 'POST' : 'GET'),
          ca: this.#ca,
          agent: false,
          headers: {
            ...(cookies !== '' ? { cookie: cookies } : {}),
            ...(body !== undefined
              ? {
                  'content-type': 'application/x-www-form-urlencoded',
                  'content-length': String(Buffer.byteLength(body)),
                }
              : {}),
          },
        },
        (res) => {
          for (const line of res.headers['set-cookie'] ?? []) this.#store(u, line);
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: text,
              url: u.href,
              ...(res.headers.location !== undefined ? { location: new URL(res.headers.location, u).href } : {}),
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Follows redirects from `url` until `stop(url)` or an answer that is not a redirect; returns every hop. */
  async follow(url: string, stop: (url: string) => boolean = () => false, from?: string): Promise<Hop[]> {
    const hops: Hop[] = [];
    let next: string | undefined = url;
    let previous = from;
    while (next !== undefined && hops.length < 20) {
      if (hops.length > 0 && stop(next)) break;
      const hop: Hop = await this.go(next, previous !== undefined ? { from: previous } : {});
      hops.push(hop);
      previous = next;
      next = hop.status >= 300 && hop.status < 400 ? hop.location : undefined;
    }
    return hops;
  }

  cookie(host: string, name: string): string | undefined {
    return this.#jar.get(host)?.get(name)?.value;
  }

  #store(u: URL, line: string): void {
    const [pair = '', ...attributes] = line.split(';').map((p) => p.trim());
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const attr = new Map(attributes.map((a) => [a.split('=')[0]!.toLowerCase(), a.split('=').slice(1).join('=')]));
    const jar = this.#jar.get(u.host) ?? new Map<string, Cookie>();
    this.#jar.set(u.host, jar);
    if (attr.get('max-age') === '0' || (attr.has('expires') && Date.parse(attr.get('expires')!) < Date.now())) {
      jar.delete(name);
      return;
    }
    jar.set(name, {
      value: pair.slice(eq + 1),
      path: attr.get('path') ?? '/',
      sameSite: (attr.get('samesite')?.toLowerCase() as Cookie['sameSite'] | undefined) ?? 'lax',
    });
  }
}
