import type { Purpose } from './manifest.ts';

export type PurposeDecision =
  | { accept: true }
  | {
      accept: false;
      status: 403 | 422;
      reason: 'internal-across-organizations' | 'consent-reference-missing';
      detail: string;
    };

/**
 * Whether the receiver takes a transfer for its purpose (issue 3, "Purposes and consent"):
 * a transfer of care carries the patient's implied consent; a consultation needs an explicit consent reference
 * recorded by the sender; a retrieval (the receiver asked for the study from its timeline) carries the consent the
 * registry named; internal is only between nodes of one organization (same URA).
 */
export function decidePurpose(o: {
  purpose: Purpose;
  consentReference: string | undefined;
  senderUra: string;
  receiverUra: string;
}): PurposeDecision {
  if (o.purpose === 'internal' && o.senderUra !== o.receiverUra) {
    return {
      accept: false,
      status: 403,
      reason: 'internal-across-organizations',
      detail: `internal transfers stay within one organization; ${o.senderUra} is not ${o.receiverUra}`,
    };
  }
  if (
    (o.purpose === 'consultation' || o.purpose === 'retrieval') &&
    (o.consentReference === undefined || o.consentReference.trim() === '')
  ) {
    return {
      accept: false,
      status: 422,
      reason: 'consent-reference-missing',
      detail: `a ${o.purpose} needs the reference of the explicit consent it rests on`,
    };
  }
  return { accept: true };
}
