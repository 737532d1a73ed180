import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { OrganizationType } from './types.ts';

/** A registry client as configured (`clients` in registry.yaml). */
export interface RegistryClientConfig {
  ura: string;
  name: string;
  type: OrganizationType;
  role: 'care-provider' | 'patient-portal';
  commonName?: string | undefined;
}

/** The client of one request: its organization (URA), the system within it (certificate subject), and its role. */
export interface CallingClient {
  ura: string;
  /** The certificate subject, as `CN=..., O=...`: which system of the organization called, for the log and history. */
  subject: string;
  role: RegistryClientConfig['role'];
}

/** Read once per connection, as the access check does: renegotiation is off, so the certificate cannot change under it. */
const subjectBySocket = new WeakMap<TLSSocket, { subject: string; commonName: string | undefined }>();

function subjectOf(req: FastifyRequest): { subject: string; commonName: string | undefined } {
  const socket = req.raw.socket as TLSSocket;
  const known = subjectBySocket.get(socket);
  if (known !== undefined) return known;
  const lines = (socket.getPeerX509Certificate?.()?.subject ?? '').split('\n').filter((l) => l !== '');
  const found = { subject: lines.join(', '), commonName: lines.find((l) => l.startsWith('CN='))?.slice(3) };
  subjectBySocket.set(socket, found);
  return found;
}

/**
 * Which configured client a request comes from. The access check has already found the URA on the client list; an
 * entry that names a common name matches only certificates with it, and wins over one that does not, so a hospital
 * that also runs the patient portal does not speak for patients from its other systems. Undefined when the
 * certificate matches no entry (its URA is listed only for a common name it does not carry).
 */
export function callingClient(
  req: FastifyRequest,
  clients: readonly RegistryClientConfig[],
): CallingClient | undefined {
  const ura = req.partner?.ura;
  if (ura === undefined) throw new Error('a registry route ran without a client organization');
  const { subject, commonName } = subjectOf(req);
  const matching = clients.filter((c) => c.ura === ura && (c.commonName === undefined || c.commonName === commonName));
  const entry = matching.find((c) => c.commonName !== undefined) ?? matching[0];
  return entry !== undefined ? { ura, subject, role: entry.role } : undefined;
}
