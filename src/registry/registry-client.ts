import { BeeldbrugError } from '../errors/index.ts';
import { PartnerClient } from '../http/index.ts';
import { CONSENT_CHANNEL_URL, DATA_CATEGORY_SYSTEM, ORGANIZATION_TYPE_SYSTEM, URA_SYSTEM } from './fhir.ts';
import { PSEUDONYM_SYSTEM, pseudonymOf } from './pseudonym.ts';
import type { DataCategory, OrganizationType } from './types.ts';

export interface ReleaseAnswer {
  decision: 'permit' | 'deny';
  /** The consent the answer rests on, to log as the grounds ("Consent/12"). */
  consentReference?: string;
  reason?: string;
}

export interface ConsentInput {
  bsn: string;
  decision: 'permit' | 'deny';
  /** The organization (holder: releases; recipient: asks) or a type of organization. */
  actor: { role: 'holder' | 'recipient'; ura: string } | { role: 'holder' | 'recipient'; type: OrganizationType };
  category?: DataCategory;
  period?: { start?: string; end?: string };
  recordedBy: { id: string; name: string };
  /**
   * The registry takes the channel from our certificate (a care provider, or the patient portal its configuration
   * names) and refuses a request that names another; sending it is optional.
   */
  channel?: 'patient-portal' | 'care-provider';
}

/**
 * What a node asks of a localization and consent registry. Ours speaks FHIR over mutual TLS; the national services (the
 * referral index for localization, Mitz for consent) can stand behind the same interface. Every method takes the BSN:
 * the client turns it into the pseudonym, so no BSN ever leaves the node for the registry.
 */
export interface RegistryClient {
  /** "This patient is known here" for each BSN, and removals; idempotent. */
  register(changes: { add?: readonly string[]; remove?: readonly string[] }): Promise<void>;
  /** Organizations that know the patient and may be asked by us for `purpose`, by URA (never our own). */
  locate(bsn: string, purpose: 'treatment'): Promise<{ ura: string; name?: string }[]>;
  /** The closed question: may we (the holder) release this patient's data of this category to `requesterUra`? */
  mayRelease(bsn: string, requesterUra: string, category: DataCategory): Promise<ReleaseAnswer>;
  /** A care provider records only the patient's choices about itself (docs/registry.md, "Who may change what"). */
  recordConsent(consent: ConsentInput): Promise<{ id: string }>;
  /** The consents of this patient that we recorded (all of them, for the patient portal). */
  listConsents(bsn: string): Promise<{ id: string; status: string; decision: string; actor: string }[]>;
  /** Revokes a consent we recorded; another's is not found (REGISTRY_UNREACHABLE with the 404). */
  revokeConsent(id: string): Promise<void>;
  close(): void;
}

export interface HttpsRegistryClientOptions {
  baseUrl: string;
  tls: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  networkKey: Buffer;
  ourUra: string;
  timeoutMs?: number;
}

const BULK = 5000;

/** The client for Beeldbrug's own registry (`beeldbrug registry start`). */
export class HttpsRegistryClient implements RegistryClient {
  readonly #http: PartnerClient;
  readonly #o: HttpsRegistryClientOptions;

  constructor(o: HttpsRegistryClientOptions) {
    this.#o = o;
    this.#http = new PartnerClient(o.baseUrl, o.tls, 8);
  }

  #subject(bsn: string): { system: string; value: string } {
    return { system: PSEUDONYM_SYSTEM, value: pseudonymOf(bsn, this.#o.networkKey) };
  }

  async #ask(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    let answer;
    try {
      answer = await this.#http.json(method, path, body, {
        timeoutMs: this.#o.timeoutMs ?? 5000,
        contentType: 'application/fhir+json',
      });
    } catch (cause) {
      throw new BeeldbrugError(
        'REGISTRY_UNREACHABLE',
        `the registry at ${this.#o.baseUrl} did not answer: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (answer.status >= 300) {
      throw new BeeldbrugError(
        'REGISTRY_UNREACHABLE',
        `the registry answered ${answer.status} to ${method} ${path.split('?')[0] ?? ''}: ${JSON.stringify(answer.json).slice(0, 300)}`,
      );
    }
    return answer.json;
  }

  #documentReference(bsn: string): object {
    return {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { identifier: this.#subject(bsn) },
      custodian: { identifier: { system: URA_SYSTEM, value: this.#o.ourUra } },
      category: [{ coding: [{ system: DATA_CATEGORY_SYSTEM, code: 'imaging' }] }],
    };
  }

  async register(changes: { add?: readonly string[]; remove?: readonly string[] }): Promise<void> {
    const entries = [
      ...(changes.add ?? []).map((bsn) => ({
        resource: this.#documentReference(bsn),
        request: { method: 'POST', url: 'DocumentReference' },
      })),
      ...(changes.remove ?? []).map((bsn) => ({
        resource: this.#documentReference(bsn),
        request: { method: 'DELETE', url: 'DocumentReference' },
      })),
    ];
    for (let i = 0; i < entries.length; i += BULK) {
      await this.#ask('POST', '/fhir', { resourceType: 'Bundle', type: 'batch', entry: entries.slice(i, i + BULK) });
    }
  }

  async locate(bsn: string, purpose: 'treatment'): Promise<{ ura: string; name?: string }[]> {
    const s = this.#subject(bsn);
    const bundle = (await this.#ask(
      'GET',
      `/fhir/DocumentReference?subject:identifier=${encodeURIComponent(`${s.system}|${s.value}`)}&category=imaging&purpose=${purpose}`,
    )) as {
      entry?: { resource?: { custodian?: { identifier?: { value?: string }; display?: string } } }[];
    };
    const found = new Map<string, string | undefined>();
    for (const e of bundle.entry ?? []) {
      const ura = e.resource?.custodian?.identifier?.value;
      if (ura !== undefined && ura !== this.#o.ourUra) found.set(ura, e.resource?.custodian?.display);
    }
    return [...found].map(([ura, name]) => ({ ura, ...(name !== undefined ? { name } : {}) }));
  }

  async mayRelease(bsn: string, requesterUra: string, category: DataCategory): Promise<ReleaseAnswer> {
    const a = (await this.#ask('POST', '/authorization/v1/release-decisions', {
      patient: { pseudonym: this.#subject(bsn).value },
      holder: { ura: this.#o.ourUra },
      requester: { ura: requesterUra },
      dataCategory: category,
    })) as { decision?: unknown; consentReference?: unknown; reason?: unknown };
    // Anything but an explicit permit is a deny: a source never releases on an answer it does not understand.
    return {
      decision: a.decision === 'permit' ? 'permit' : 'deny',
      ...(typeof a.consentReference === 'string' ? { consentReference: a.consentReference } : {}),
      ...(typeof a.reason === 'string' ? { reason: a.reason } : {}),
    };
  }

  async recordConsent(c: ConsentInput): Promise<{ id: string }> {
    const code = { hospital: 'V4', 'general-practice': 'Z3', pharmacy: 'J8' } as const;
    const consent = {
      resourceType: 'Consent',
      status: 'active',
      ...(c.channel !== undefined ? { extension: [{ url: CONSENT_CHANNEL_URL, valueCode: c.channel }] } : {}),
      patient: { identifier: this.#subject(c.bsn) },
      performer: [{ identifier: { value: c.recordedBy.id }, display: c.recordedBy.name }],
      provision: {
        type: c.decision,
        ...(c.period !== undefined ? { period: c.period } : {}),
        actor: [
          {
            role: {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
                  code: c.actor.role === 'holder' ? 'CST' : 'IRCP',
                },
              ],
            },
            reference: {
              identifier:
                'ura' in c.actor
                  ? { system: URA_SYSTEM, value: c.actor.ura }
                  : { system: ORGANIZATION_TYPE_SYSTEM, value: code[c.actor.type] },
            },
          },
        ],
        code: [{ coding: [{ system: DATA_CATEGORY_SYSTEM, code: c.category ?? 'imaging' }] }],
      },
    };
    const created = (await this.#ask('POST', '/fhir/Consent', consent)) as { id?: unknown };
    if (typeof created.id !== 'string')
      throw new BeeldbrugError('REGISTRY_UNREACHABLE', 'the registry did not return the recorded consent');
    return { id: created.id };
  }

  async listConsents(bsn: string): Promise<{ id: string; status: string; decision: string; actor: string }[]> {
    const s = this.#subject(bsn);
    const bundle = (await this.#ask(
      'GET',
      `/fhir/Consent?patient:identifier=${encodeURIComponent(`${s.system}|${s.value}`)}`,
    )) as {
      entry?: {
        resource: {
          id: string;
          status: string;
          provision: { type: string; actor: { reference: { identifier: { value: string } } }[] };
        };
      }[];
    };
    return (bundle.entry ?? []).map((e) => ({
      id: e.resource.id,
      status: e.resource.status,
      decision: e.resource.provision.type,
      actor: e.resource.provision.actor[0]?.reference.identifier.value ?? '',
    }));
  }

  async revokeConsent(id: string): Promise<void> {
    await this.#ask('POST', `/fhir/Consent/${encodeURIComponent(id)}/$revoke`);
  }

  close(): void {
    this.#http.close();
  }
}
