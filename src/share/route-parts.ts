import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ShareZip } from './share-zip.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { z } from 'zod';
import { actingAccessor, actingUsers, bodyInvalid, piecesOf, type RouteDoc, writtenOut } from '../http/index.ts';
import type { PartnerActor } from './shares.ts';
import type { AccessGrounds, AccessPurpose } from '../studies/index.ts';

/** The signed-in person a staff route acts for: the grounds of their access, and who they are for the records. */
export function personActing(
  req: FastifyRequest,
  node: string,
  purpose: AccessPurpose,
): { grounds: AccessGrounds; user: { id: string; name: string } } {
  const { user } = actingUsers(req.acting!);
  return {
    grounds: { ...actingAccessor(req.acting), accessPoint: { node, ip: req.ip }, purpose, authorization: 'session' },
    user: { id: user.id, name: user.name },
  };
}

/** The signed-in partner a partner route acts for (password and TOTP on the web). */
export function partnerActing(req: FastifyRequest): PartnerActor {
  const account = req.session?.account;
  if (account?.role !== 'partner' || account.organization === undefined)
    throw new BeeldbrugError('INTERNAL', 'a partner route ran without a partner session');
  return {
    account: { id: account.id, name: account.name, organization: account.organization },
    sponsor: account.createdBy,
    ip: req.ip,
    authorization: 'partner account, password + TOTP',
  };
}

const STAGING_BYTES = 2 * 1024 * 1024;
const SMALL_PIECE = 16 * 1024;

/**
 * A zip written piece by piece rather than piped by the framework (see writtenOut): its size is not known beforehand,
 * so it goes chunked, and a download cut off mid-way is an incomplete zip the browser sees fail.
 */
export async function sendZip(
  req: FastifyRequest,
  reply: FastifyReply,
  fileName: string,
  zip: ShareZip,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'application/zip',
    'content-disposition': `attachment; filename="${fileName}"`,
    'cache-control': 'no-store',
  });
  try {
    // Each stored file follows its entry's small header: sent alone, each header was a TLS record and a wake-up of the
    // client of its own; joined by `for await`, each file became new memory. Small pieces are gathered, with the piece
    // after them, in one buffer used over and over.
    const staging = Buffer.allocUnsafe(STAGING_BYTES);
    let staged = 0;
    const flush = async (): Promise<void> => {
      if (staged > 0) await writtenOut(res, staging.subarray(0, staged));
      staged = 0;
    };
    for await (const piece of piecesOf(zip.stream)) {
      if (staged + piece.length > STAGING_BYTES) await flush();
      if (staged === 0 && piece.length >= SMALL_PIECE) await writtenOut(res, piece);
      else staged += piece.copy(staging, staged);
      zip.done(piece);
      if (piece.length >= SMALL_PIECE) await flush();
    }
    await flush();
    res.end();
  } catch (err) {
    req.log.warn({ err, route: req.routeOptions.url }, 'zip download cut off');
    res.destroy();
  }
}

/** An OpenAPI description under one tag. */
export const docUnder =
  (tag: string) =>
  (summary: string, more: Omit<RouteDoc, 'tag' | 'summary'> = {}): RouteDoc => ({ tag, summary, ...more });

/** A request body as its schema has it, or the catalog's answer naming each field that is wrong. */
export function parsed<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw bodyInvalid(r.error);
  return r.data;
}
