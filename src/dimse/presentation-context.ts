/**
 * Presentation context negotiation by the acceptor (PS3.8 9.3.3.2, PS3.7 D.3.3.4 for SCP/SCU role selection).
 */
import { type AcceptedContext, ContextResult, type ProposedContext, type RoleSelection } from './pdu-types.ts';
import { isEncapsulatedTransferSyntax, isUidSyntax, Uid } from './uids.ts';

/** A presentation context both sides agreed on. */
export interface NegotiatedContext {
  id: number;
  abstractSyntax: string;
  transferSyntax: string;
  /** the requestor may act as SCP for this SOP class (role selection accepted), e.g. C-STORE sub-operations of C-GET */
  requestorIsScp: boolean;
}

export interface NegotiationPolicy {
  acceptsAbstractSyntax(uid: string): boolean;
  /** accepted transfer syntaxes, our preference first */
  transferSyntaxes: readonly string[];
}

export interface NegotiationResult {
  answers: AcceptedContext[];
  roles: RoleSelection[];
  accepted: Map<number, NegotiatedContext>;
}

/**
 * Picks a transfer syntax. A compressed one (encapsulated, or deflated) is kept when the requestor lists it first: its
 * data is in it, and taking another would make the requestor decompress or inflate it. Otherwise the first of our
 * preference order that was proposed: DCMTK, for one, offers big endian before implicit VR as mere alternatives for
 * little endian data. A syntax offered alone (GDCM offers only a file's own) is taken if we take it at all, so an
 * instance is kept as it was sent.
 */
export function chooseTransferSyntax(proposed: readonly string[], ours: readonly string[]): string | undefined {
  const first = proposed[0];
  if (first !== undefined && isCompressed(first) && ours.includes(first)) return first;
  return ours.find((ts) => proposed.includes(ts));
}

const isCompressed = (ts: string): boolean =>
  isEncapsulatedTransferSyntax(ts) || ts === Uid.DeflatedExplicitVRLittleEndian;

export function negotiate(
  proposed: readonly ProposedContext[],
  roleRequests: readonly RoleSelection[],
  policy: NegotiationPolicy,
): NegotiationResult {
  const answers: AcceptedContext[] = [];
  const accepted = new Map<number, NegotiatedContext>();
  const acceptedSyntaxes = new Set<string>();
  for (const pc of proposed) {
    if (!isUidSyntax(pc.abstractSyntax) || !policy.acceptsAbstractSyntax(pc.abstractSyntax)) {
      answers.push({ id: pc.id, result: ContextResult.AbstractSyntaxNotSupported, transferSyntax: '' });
      continue;
    }
    const ts = chooseTransferSyntax(pc.transferSyntaxes, policy.transferSyntaxes);
    if (ts === undefined) {
      answers.push({ id: pc.id, result: ContextResult.TransferSyntaxesNotSupported, transferSyntax: '' });
      continue;
    }
    answers.push({ id: pc.id, result: ContextResult.Acceptance, transferSyntax: ts });
    acceptedSyntaxes.add(pc.abstractSyntax);
    accepted.set(pc.id, { id: pc.id, abstractSyntax: pc.abstractSyntax, transferSyntax: ts, requestorIsScp: false });
  }
  const roles: RoleSelection[] = [];
  for (const r of roleRequests) {
    if (!acceptedSyntaxes.has(r.sopClassUid) || roles.some((x) => x.sopClassUid === r.sopClassUid)) continue;
    // We accept the roles as proposed; the requestor keeps its SCU role and may also be SCP.
    roles.push({ sopClassUid: r.sopClassUid, scuRole: r.scuRole, scpRole: r.scpRole });
    if (r.scpRole) for (const c of accepted.values()) if (c.abstractSyntax === r.sopClassUid) c.requestorIsScp = true;
  }
  return { answers, roles, accepted };
}
