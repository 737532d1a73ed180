export { openRegistryStore, startRegistry, type RunningRegistry } from './registry-server.ts';
export { HttpsRegistryClient, type ConsentInput, type RegistryClient, type ReleaseAnswer } from './registry-client.ts';
export { isPseudonym, pseudonymOf, PSEUDONYM_SYSTEM, readNetworkKeyFile } from './pseudonym.ts';
export { PostgresRegistryStore } from './postgres-registry-store.ts';
export { SqliteRegistryStore } from './sqlite-registry-store.ts';
export { decideRelease, type ReleaseDecision, type ReleaseQuestion } from './consent-decision.ts';
export type { BulkLoad, ConsentRecord, DataCategory, NewConsent, OrganizationType, RegistryStore } from './types.ts';
export { migrateRegistry, REGISTRY_TABLES, type RegistryMigrationReport } from './migrate-registry.ts';
