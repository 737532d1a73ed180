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
  /**
   * What clients name the consent by ("Consent/{id}"): 128 random bits in base64url, so that no one finds others'
   * consents by counting. Consents recorded before random ids keep their old number as id.
   */
  id: string;
  /** The row in the store: orders a patient's consents oldest first; never leaves the registry. */
  row: number;
  pseudonym: Buffer;
  status: 'active' | 'inactive';
  decision: 'permit' | 'deny';
  category: DataCategory;
  actor: { role: 'holder' | 'recipient'; organization: { ura: string } | { type: OrganizationType } };
  /** ms since the epoch; end undefined = open-ended */
  period: { start: number; end?: number };
  recordedAt: number;
  /**
   * Who recorded it: the organization whose system sent it (URA from its certificate; it alone may change the consent,
   * besides the patient's channel), the subject of that system's certificate, and the person there (or the patient).
   */
  recordedBy: { ura: string; id: string; name: string; subject?: string };
  channel: 'patient-portal' | 'care-provider';
  revokedAt?: number;
}

export type NewConsent = Omit<ConsentRecord, 'id' | 'row' | 'status' | 'revokedAt'>;

/** The part of a consent a release decision reads: what is allowed, to whom and when, and the row to name it by. */
export type ConsentTerms = Pick<
  ConsentRecord,
  'row' | 'status' | 'decision' | 'category' | 'actor' | 'period' | 'revokedAt'
>;

/** What a change of a consent may set: the terms, as a FHIR update carries them. */
export type ConsentTermsChange = Pick<ConsentRecord, 'decision' | 'category' | 'actor' | 'period'>;

/** The registry client that made a change, from its certificate, and the person it names (or the patient). */
export interface ChangedBy {
  ura: string;
  subject: string;
  channel: ConsentRecord['channel'];
  performer: { id: string; name: string };
}

/** One entry of a consent's change history, oldest first; `terms` are the consent's terms after the change. */
export interface ConsentChange {
  change: 'create' | 'update' | 'revoke';
  at: number;
  by: ChangedBy;
  terms: ConsentTermsChange & { status: ConsentRecord['status'] };
}

/** "This patient is known at this organization for this category": what a node registers and removes. */
export interface LocationEntry {
  pseudonym: Buffer;
  ura: string;
  category: DataCategory;
}

/** What a localization question reads: the patient's consent terms (oldest first) and localizations. */
export interface LocalizationFacts {
  consents: ConsentTerms[];
  /** May be left empty when there is no consent: then no one may release, whoever knows the patient. */
  locations: Location[];
}

/** Many patients' localizations and consents at once: a first fill, or a move from another registry database. */
export interface BulkLoad {
  locations: readonly LocationEntry[];
  consents: readonly NewConsent[];
}

/** Where the registry keeps localizations and consents: a SQLite file (embedded) or PostgreSQL. */
export interface RegistryStore {
  /** Adds localizations (idempotent per pseudonym, organization and category); returns how many were new. */
  addLocations(entries: readonly LocationEntry[], at: number): Promise<number>;
  /** Removes localizations of one organization; returns how many there were. */
  removeLocations(entries: readonly LocationEntry[]): Promise<number>;
  locationsOf(pseudonym: Buffer): Promise<Location[]>;
  /** The consent terms and the localizations together: one round trip where the database is a server. */
  forLocalization(pseudonym: Buffer): Promise<LocalizationFacts>;
  /** Records a consent with a fresh random id, and its creation in the change history. */
  addConsent(consent: NewConsent): Promise<ConsentRecord>;
  /** Every consent of a patient, revoked ones included, oldest first. */
  consentsOf(pseudonym: Buffer): Promise<ConsentRecord[]>;
  /** The same consents reduced to their terms: what every localization query and release question reads. */
  consentTermsOf(pseudonym: Buffer): Promise<ConsentTerms[]>;
  consent(id: string): Promise<ConsentRecord | undefined>;
  /** The id clients know a consent by, from the row a decision names. */
  consentIdOf(row: number): Promise<string | undefined>;
  /** Replaces a consent's terms and records who did it; undefined when there is no such consent. */
  changeConsent(id: string, terms: ConsentTermsChange, by: ChangedBy, at: number): Promise<ConsentRecord | undefined>;
  /** Marks a consent inactive from `at` on and records who did it (once); undefined when there is no such consent. */
  revokeConsent(id: string, at: number, by: ChangedBy): Promise<ConsentRecord | undefined>;
  /** Who created, changed and revoked a consent, oldest first. */
  consentHistory(id: string): Promise<ConsentChange[]>;
  /**
   * Loads many patients at once: idempotent for localizations, every consent added with a fresh random id, in the order
   * given; nothing returned per row, which is what makes it cheaper than `addConsent` one by one. Given in pseudonym
   * order, rows land at the right edge of the indexes, so pages fill once instead of splitting. A load is the
   * operator's act, not a client's, so it writes no change history.
   */
  load(batch: BulkLoad, at: number): Promise<{ locations: number; consents: number }>;
  /**
   * Reads the localizations and the consent terms through the database's cache, so that the first questions after a
   * start are as fast as the rest; worth it only when the cache holds them. Resolves to the counts.
   */
  warm(): Promise<{ locations: number; consents: number }>;
  close(): Promise<void>;
}
