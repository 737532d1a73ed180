import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { actingAccessor, actingUsers, bodyInvalid, type RouteDoc } from '../http/index.ts';
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
