import type { ConsentRecord, ConsentTermsChange } from './types.ts';

/**
 * A registry client as its certificate and the registry's configuration make it: a care provider's node, or the
 * patients' own channel (a portal where the patient signs in, as MijnMitz does with DigiD).
 */
export interface ConsentClient {
  ura: string;
  role: 'care-provider' | 'patient-portal';
}

export type ConsentAction =
  /** `claimedChannel`: the channel the request body names, if it names one; the client's role decides it. */
  | { kind: 'record'; terms: ConsentTermsChange; claimedChannel: ConsentRecord['channel'] | undefined }
  | { kind: 'read' | 'revoke'; consent: Pick<ConsentRecord, 'recordedBy'> }
  | {
      kind: 'change';
      consent: Pick<ConsentRecord, 'recordedBy' | 'status' | 'pseudonym'>;
      terms: ConsentTermsChange & { pseudonym: Buffer };
      claimedChannel: ConsentRecord['channel'] | undefined;
    };

export type ConsentAccess =
  | { allow: true }
  | {
      allow: false;
      /**
       * not-found: the consent is someone else's, answered exactly as a consent that does not exist (404), so that its
       * existence is not revealed; the others say what the client may not do.
       */
      reason: 'not-found' | 'not-own-choice' | 'channel-not-yours' | 'revoked' | 'other-patient';
      detail: string;
    };

/**
 * What a care provider records by itself: only the patient's choices about that care provider. Consent in the Dutch
 * sense is given to the one who holds the file (Mitz: dossierhouder), so a hospital may record a permit or a deny for
 * releasing its own data, and a deny for receiving (a patient may refuse to have others' data shown there). A permit
 * for another organization or for a type of organization would let the recorder open someone else's files, or its
 * own access to them; those, and denies about others, are the patient's to record through the patient's channel.
 */
function ownChoice(ura: string, t: ConsentTermsChange): boolean {
  const who = t.actor.organization;
  if (!('ura' in who) || who.ura !== ura) return false;
  return t.actor.role === 'holder' || t.decision === 'deny';
}

function channelOf(client: ConsentClient): ConsentRecord['channel'] {
  return client.role === 'patient-portal' ? 'patient-portal' : 'care-provider';
}

/**
 * May this client do this to a consent? Recording: the patient's channel records any consent, a care provider only the
 * patient's choices about itself. Reading, changing and revoking: the organization that recorded the consent, or the
 * patient's channel; to anyone else the consent does not exist.
 */
export function decideConsentAccess(client: ConsentClient, action: ConsentAction): ConsentAccess {
  const portal = client.role === 'patient-portal';
  if (action.kind !== 'record' && !portal && action.consent.recordedBy.ura !== client.ura) {
    return { allow: false, reason: 'not-found', detail: 'no such consent' };
  }
  if (action.kind !== 'record' && action.kind !== 'change') return { allow: true };
  if (action.claimedChannel !== undefined && action.claimedChannel !== channelOf(client)) {
    return {
      allow: false,
      reason: 'channel-not-yours',
      detail: `the channel is taken from the client certificate: URA ${client.ura} is a ${portal ? 'patient portal' : 'care provider'}, not ${action.claimedChannel}`,
    };
  }
  if (action.kind === 'change') {
    if (action.consent.status !== 'active')
      return { allow: false, reason: 'revoked', detail: 'a revoked consent stays as it was; record a new one' };
    if (!action.terms.pseudonym.equals(action.consent.pseudonym))
      return {
        allow: false,
        reason: 'other-patient',
        detail: 'a change keeps the patient; record a new consent for another',
      };
  }
  if (!portal && !ownChoice(client.ura, action.terms)) {
    return {
      allow: false,
      reason: 'not-own-choice',
      detail: `a care provider records only the patient's choices about itself (URA ${client.ura}): a permit or deny as holder, a deny as recipient; the rest goes through the patient's channel`,
    };
  }
  return { allow: true };
}
