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

/**
 * Read once per connection, as the access check does: renegotiation is off, so the certificate cannot change under it.
 * The entry it matches is kept with it, for the list it was looked up in.
 */
const clientBySocket = new WeakMap<
  TLSSocket,
  { clients: readonly RegistryClientConfig[]; client: CallingClient | undefined }
>();

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
  const socket = req.raw.socket as TLSSocket;
  const known = clientBySocket.get(socket);
  if (known?.clients === clients && known.client?.ura === ura) return known.client;
  const lines = (socket.getPeerX509Certificate?.()?.subject ?? '').split('\n').filter((l) => l !== '');
  const subject = lines.join(', ');
  const commonName = lines.find((l) => l.startsWith('CN='))?.slice(3);
  const matching = clients.filter((c) => c.ura === ura && (c.commonName === undefined || c.commonName === commonName));
  const entry = matching.find((c) => c.commonName !== undefined) ?? matching[0];
  const client = entry !== undefined ? { ura, subject, role: entry.role } : undefined;
  clientBySocket.set(socket, { clients, client });
  return client;
}
