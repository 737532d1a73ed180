import type { FastifyReply } from 'fastify';
import { operationOutcome } from './fhir.ts';
import { isPseudonym, PSEUDONYM_SYSTEM } from './pseudonym.ts';
import { DATA_CATEGORIES, type DataCategory } from './types.ts';

/** A 400 with the issues as a FHIR OperationOutcome. */
export function invalid(reply: FastifyReply, issues: readonly string[]): FastifyReply {
  return reply
    .code(400)
    .type('application/fhir+json')
    .send(operationOutcome('invalid', issues, 'REQUEST_INVALID'));
}

/** `SYSTEM|value` of a token search parameter, the pseudonym as bytes; undefined when it is not ours. */
export function pseudonymParam(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const bar = value.indexOf('|');
  if (bar < 0 || value.slice(0, bar) !== PSEUDONYM_SYSTEM) return undefined;
  const p = value.slice(bar + 1);
  return isPseudonym(p) ? Buffer.from(p, 'base64url') : undefined;
}

export function categoryParam(value: unknown): DataCategory | undefined {
  if (value === undefined) return 'imaging';
  return (DATA_CATEGORIES as readonly unknown[]).includes(value) ? (value as DataCategory) : undefined;
}
