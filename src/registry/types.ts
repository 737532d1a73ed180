/**
 * The registry's own records. The HTTP API speaks FHIR R4 (DocumentReference for localization, Consent for consent);
 * these are what is stored and decided on, with the pseudonym as 32 raw bytes.
 */

/** Data categories a consent or a localization is about (Mitz: gegevenscategorie). */
export const DATA_CATEGORIES = ['imaging'] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

/** Organization types a consent can name instead of one organization. */
export const ORGANIZATION_TYPES = ['hospital', 'general-practice', 'pharmacy'] as const;
export type OrganizationType = (typeof ORGANIZATION_TYPES)[number];

/** "Patient known at organization X" for one data category. */
export interface Location {
  ura: string;
  category: DataCategory;
  /** ms since the epoch */
  registeredAt: number;
}

/**
 * One consent, FHIR R4 Consent in essence: permit or deny, for a data category, for an actor (one organization or a
 * type of organization) in a role: the holder that releases (FHIR custodian, CST) or the recipient that asks (IRCP).
 */
export interface ConsentRecord {
  id: number;
  pseudonym: Buffer;
  status: 'active' | 'inactive';
  decision: 'permit' | 'deny';
  category: DataCategory;
  actor: { role: 'holder' | 'recipient'; organization: { ura: string } | { type: OrganizationType } };
  /** ms since the epoch; end undefined = open-ended */
  period: { start: number; end?: number };
  recordedAt: number;
  /** Who recorded it: the organization whose system sent it, and the person there (or the patient). */
  recordedBy: { ura: string; id: string; name: string };
  channel: 'patient-portal' | 'care-provider';
  revokedAt?: number;
}

export type NewConsent = Omit<ConsentRecord, 'id' | 'status' | 'revokedAt'>;

/** The part of a consent a release decision reads: what is allowed, to whom and when, and the id to log it by. */
export type ConsentTerms = Pick<ConsentRecord, 'id' | 'status' | 'decision' | 'category' | 'actor' | 'period' | 'revokedAt'>;

/** Where the registry keeps localizations and consents: SQLite embedded; PostgreSQL can follow behind this interface. */
export interface RegistryStore {
  /** Adds localizations (idempotent per pseudonym, organization and category); returns how many were new. */
  addLocations(entries: readonly { pseudonym: Buffer; ura: string; category: DataCategory }[], at: number): number;
  /** Removes localizations of one organization; returns how many there were. */
  removeLocations(entries: readonly { pseudonym: Buffer; ura: string; category: DataCategory }[]): number;
  locationsOf(pseudonym: Buffer): Location[];
  addConsent(consent: NewConsent): ConsentRecord;
  /** Every consent of a patient, revoked ones included, oldest first. */
  consentsOf(pseudonym: Buffer): ConsentRecord[];
  /** The same consents reduced to their terms: what every localization query and release question reads. */
  consentTermsOf(pseudonym: Buffer): ConsentTerms[];
  consent(id: number): ConsentRecord | undefined;
  /** Marks a consent inactive from `at` on; undefined when there is no such consent. */
  revokeConsent(id: number, at: number): ConsentRecord | undefined;
  close(): void;
}
