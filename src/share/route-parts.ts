import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ShareZip } from './share-zip.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { z } from 'zod';
import { actingAccessor, actingUsers, bodyInvalid, type RouteDoc, sendGathered } from '../http/index.ts';
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
    await sendGathered(res, zip.stream, (piece) => zip.done(piece));
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
