/**
 * Who touches patient data, from where and why. Every call into the study service carries one, so that the audit
 * trail (NEN 7513) can be written in one place rather than in each DIMSE handler or HTTP route.
 */
export type Actor =
  | { kind: 'dimse-peer'; aeTitle: string; remoteAddress: string; associationId: string }
  | { kind: 'partner-node'; ura: string; name: string; remoteAddress: string }
  | { kind: 'user'; id: string; name: string }
  | { kind: 'system'; task: string };

export interface AccessContext {
  actor: Actor;
  /** What the access is for, in words an auditor reads: 'ingest', 'query', 'retrieve', 'import'. */
  purpose: 'ingest' | 'query' | 'retrieve' | 'import' | 'exchange' | 'retention';
}

/** The application-log view of an actor: no patient data, just who and where. */
export function describeActor(actor: Actor): string {
  switch (actor.kind) {
    case 'dimse-peer':
      return `${actor.aeTitle}@${actor.remoteAddress}`;
    case 'partner-node':
      return `URA ${actor.ura}@${actor.remoteAddress}`;
    case 'user':
      return `user:${actor.id}`;
    case 'system':
      return `system:${actor.task}`;
  }
}
