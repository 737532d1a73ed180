// The node's HTTP API as the workspace calls it: same origin, the session in an HttpOnly cookie (never readable here),
// errors as RFC 9457 problem details.

/** A refusal or failure of the node, with the catalog code the node answered. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  /** The problem's extension members: facts to act on (a link's state, tries left, when to try again). */
  readonly members: Readonly<Record<string, unknown>>;
  constructor(status: number, code: string, detail: string, members: Readonly<Record<string, unknown>> = {}) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.members = members;
  }
}

type Listener = () => void;
const sessionEnded = new Set<Listener>();

/** Called when the node answers 401 to a signed-in request: the session expired or was ended elsewhere. */
export function onSessionEnded(f: Listener): () => void {
  sessionEnded.add(f);
  return () => sessionEnded.delete(f);
}

async function problemOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const p = JSON.parse(text) as { code?: string; detail?: string; title?: string } & Record<string, unknown>;
    return new ApiError(res.status, p.code ?? `HTTP_${res.status}`, p.detail ?? p.title ?? res.statusText, p);
  } catch {
    return new ApiError(res.status, `HTTP_${res.status}`, res.statusText);
  }
}

export async function request(
  method: string,
  path: string,
  o: { body?: unknown; accept?: string; signal?: AbortSignal; quietOn401?: boolean } = {},
): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        accept: o.accept ?? 'application/json',
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
      ...(o.signal !== undefined ? { signal: o.signal } : {}),
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NODE_UNREACHABLE', 'the node does not answer; check the network connection');
  }
  if (!res.ok) {
    const e = await problemOf(res);
    if (res.status === 401 && o.quietOn401 !== true) for (const f of sessionEnded) f();
    throw e;
  }
  return res;
}

export async function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const res = await request(method, path, {
    ...(body !== undefined ? { body } : {}),
    ...(signal !== undefined ? { signal } : {}),
  });
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export type { Role } from '../../src/auth/roles.ts';
export type { AuditChainView, SessionView as SessionInfo } from '../../src/node/account-routes.ts';
export type { Destinations, WorkspaceInfo } from '../../src/workspace/workspace-routes.ts';
