import type { DatabaseSync } from 'node:sqlite';
import { StoreError } from './store-error.ts';

/**
 * The index schema, as an ordered list of migrations; `schema_version` says how far a database has come. Never edit a
 * shipped migration: append one. Indexes cover the C-FIND keys most queries use (PS3.4 C.6.1.1 / C.6.2.1): identity,
 * names (normalised to lower case, since PN matching is case-insensitive here), dates, accession number, modality.
 */
export const migrations: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE patients (
        pk INTEGER PRIMARY KEY,
        patient_id TEXT NOT NULL,
        issuer TEXT,
        bsn TEXT,
        patient_name TEXT,
        patient_name_norm TEXT,
        birth_date TEXT,
        sex TEXT
      );
      CREATE UNIQUE INDEX patients_identity ON patients (patient_id, ifnull(issuer, ''));
      CREATE INDEX patients_bsn ON patients (bsn);
      CREATE INDEX patients_name ON patients (patient_name_norm);
      CREATE INDEX patients_birth_date ON patients (birth_date);

      CREATE TABLE studies (
        pk INTEGER PRIMARY KEY,
        patient_pk INTEGER NOT NULL REFERENCES patients (pk),
        study_instance_uid TEXT NOT NULL UNIQUE,
        study_date TEXT,
        study_time TEXT,
        accession_number TEXT,
        study_description TEXT,
        referring_physician_name TEXT,
        referring_physician_name_norm TEXT,
        study_id TEXT
      );
      CREATE INDEX studies_patient ON studies (patient_pk);
      CREATE INDEX studies_date ON studies (study_date, study_time);
      CREATE INDEX studies_accession ON studies (accession_number);

      CREATE TABLE series (
        pk INTEGER PRIMARY KEY,
        study_pk INTEGER NOT NULL REFERENCES studies (pk),
        series_instance_uid TEXT NOT NULL UNIQUE,
        modality TEXT,
        series_number INTEGER,
        series_description TEXT,
        body_part_examined TEXT
      );
      CREATE INDEX series_study ON series (study_pk);
      CREATE INDEX series_modality ON series (modality);

      CREATE TABLE instances (
        pk INTEGER PRIMARY KEY,
        series_pk INTEGER NOT NULL REFERENCES series (pk),
        sop_instance_uid TEXT NOT NULL UNIQUE,
        sop_class_uid TEXT NOT NULL,
        instance_number INTEGER,
        transfer_syntax_uid TEXT NOT NULL,
        blob_id TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        dataset_offset INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        via TEXT NOT NULL,
        calling_ae_title TEXT,
        remote_address TEXT
      );
      CREATE INDEX instances_series ON instances (series_pk, instance_number);
      CREATE INDEX instances_sop_class ON instances (sop_class_uid);
    `,
  },
  {
    version: 2,
    // Blobs of instances removed on purpose (retention): recovery deletes such a blob instead of indexing it again.
    sql: `
      CREATE TABLE removed_blobs (
        blob_id TEXT PRIMARY KEY,
        removed_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    // Retention finds the oldest received instances without reading the whole table.
    sql: `CREATE INDEX instances_received ON instances (received_at);`,
  },
  {
    version: 4,
    // Patient safety: an empty Patient ID identifies nobody, yet up to version 3 every study without one was filed under
    // one patient row, so each answered with the first arrival's name. From now on only a non-empty Patient ID with its
    // issuer joins studies. Each study that shared such a row gets a row of its own; the row's attributes were another
    // person's, so they are left empty and `reread_from_study` asks start-up recovery to read them again from one of
    // the study's own files (StudyService.recover). The first study of a shared row keeps it: its attributes came
    // from that study's first instance.
    sql: `
      DROP INDEX patients_identity;
      CREATE UNIQUE INDEX patients_identity ON patients (patient_id, ifnull(issuer, '')) WHERE patient_id <> '';
      ALTER TABLE patients ADD COLUMN reread_from_study INTEGER;
      INSERT INTO patients (patient_id, issuer, reread_from_study)
        SELECT '', p.issuer, st.pk FROM studies st JOIN patients p ON p.pk = st.patient_pk
         WHERE p.patient_id = '' AND st.pk > (SELECT min(first.pk) FROM studies first WHERE first.patient_pk = p.pk);
      UPDATE studies SET patient_pk = (SELECT p.pk FROM patients p WHERE p.reread_from_study = studies.pk)
       WHERE pk IN (SELECT reread_from_study FROM patients WHERE reread_from_study IS NOT NULL);
      CREATE INDEX patients_reread ON patients (reread_from_study) WHERE reread_from_study IS NOT NULL;
    `,
  },
  {
    version: 5,
    // The index's SQL is shared with PostgreSQL, which has coalesce and no ifnull; SQLite uses an expression index
    // only for the very expression a query writes.
    sql: `
      DROP INDEX patients_identity;
      CREATE UNIQUE INDEX patients_identity ON patients (patient_id, coalesce(issuer, '')) WHERE patient_id <> '';
    `,
  },
];

export const SCHEMA_VERSION = migrations.reduce((v, m) => Math.max(v, m.version), 0);

/**
 * WAL with synchronous=NORMAL: a commit survives a crash of the node process at once, and a power cut once the WAL is
 * next synced. That is enough because the index is not the record of an acknowledged instance, its blob is: the blob is
 * fdatasync'd before the acknowledgement and holds the whole Part 10 file, and start-up recovery indexes any blob the
 * index lost. Removals, which cannot be redone from a blob, are committed with synchronous=FULL (see removeInstance).
 * Then foreign keys, and a busy timeout so a second reader (a CLI check) does not fail at once.
 */
export function migrate(db: DatabaseSync, path: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT max(version) AS v FROM schema_version').get();
  const current = typeof row?.v === 'number' ? row.v : 0;
  if (current > SCHEMA_VERSION) {
    throw new StoreError(
      'SCHEMA_TOO_NEW',
      `the index ${path} has schema version ${current}; this node knows up to ${SCHEMA_VERSION}`,
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(m.version);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}
