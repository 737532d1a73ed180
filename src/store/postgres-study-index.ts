import { migratePostgres, PostgresDatabase, type PostgresPool } from '../database/index.ts';
import { LIKE_PATTERNS } from './query-sql.ts';
import { SqlStudyIndex } from './sql-study-index.ts';
import { asStoreError } from './store-error.ts';

/**
 * The schema, one migration per entry: the tables of the embedded index as they stand today (sqlite-schema.ts), with
 * byte-order ("C") comparison so ranges and wildcards match exactly as they do in SQLite, and so LIKE with a fixed
 * prefix reads an index range. Never edit a shipped migration: append one.
 */
const MIGRATIONS = [
  `CREATE DOMAIN dicom_text AS TEXT COLLATE "C";
   CREATE TABLE patients (
     pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     patient_id dicom_text NOT NULL,
     issuer dicom_text,
     bsn dicom_text,
     patient_name dicom_text,
     patient_name_norm dicom_text,
     birth_date dicom_text,
     sex dicom_text,
     reread_from_study BIGINT
   );
   CREATE UNIQUE INDEX patients_identity ON patients (patient_id, coalesce(issuer, '')) WHERE patient_id <> '';
   CREATE INDEX patients_bsn ON patients (bsn);
   CREATE INDEX patients_name ON patients (patient_name_norm);
   CREATE INDEX patients_birth_date ON patients (birth_date);
   CREATE INDEX patients_reread ON patients (reread_from_study) WHERE reread_from_study IS NOT NULL;

   CREATE TABLE studies (
     pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     patient_pk BIGINT NOT NULL REFERENCES patients (pk),
     study_instance_uid dicom_text NOT NULL UNIQUE,
     study_date dicom_text,
     study_time dicom_text,
     accession_number dicom_text,
     study_description dicom_text,
     referring_physician_name dicom_text,
     referring_physician_name_norm dicom_text,
     study_id dicom_text
   );
   CREATE INDEX studies_patient ON studies (patient_pk);
   CREATE INDEX studies_date ON studies (study_date, study_time);
   CREATE INDEX studies_accession ON studies (accession_number);

   CREATE TABLE series (
     pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     study_pk BIGINT NOT NULL REFERENCES studies (pk),
     series_instance_uid dicom_text NOT NULL UNIQUE,
     modality dicom_text,
     series_number INTEGER,
     series_description dicom_text,
     body_part_examined dicom_text
   );
   CREATE INDEX series_study ON series (study_pk);
   CREATE INDEX series_modality ON series (modality);

   CREATE TABLE instances (
     pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     series_pk BIGINT NOT NULL REFERENCES series (pk),
     sop_instance_uid dicom_text NOT NULL UNIQUE,
     sop_class_uid dicom_text NOT NULL,
     instance_number INTEGER,
     transfer_syntax_uid dicom_text NOT NULL,
     blob_id dicom_text NOT NULL UNIQUE,
     size BIGINT NOT NULL,
     sha256 dicom_text NOT NULL,
     dataset_offset INTEGER NOT NULL,
     received_at dicom_text NOT NULL,
     via dicom_text NOT NULL,
     calling_ae_title dicom_text,
     remote_address dicom_text
   );
   CREATE INDEX instances_series ON instances (series_pk, instance_number);
   CREATE INDEX instances_sop_class ON instances (sop_class_uid);
   CREATE INDEX instances_received ON instances (received_at);

   CREATE TABLE removed_blobs (
     blob_id dicom_text PRIMARY KEY,
     removed_at dicom_text NOT NULL
   );`,
];

/** Enough for several associations recording the first instances of one new study at once. */
const CONFLICT_RETRIES = 5;

/**
 * The study index on PostgreSQL, shared by every node of a hospital. Two nodes recording instances of the same new
 * study at once both try to add it; the second runs its transaction again and finds the first one's rows.
 */
export class PostgresStudyIndex extends SqlStudyIndex {
  /**
   * Applies the schema's migrations, then the index is ready. `ownsPool`: close() ends the pool too. `schema`: the
   * one the pool's connections work in (openPostgresPool), made when missing.
   */
  static async open(
    pool: PostgresPool,
    o: { ownsPool: boolean; schema?: string | undefined },
  ): Promise<PostgresStudyIndex> {
    try {
      await migratePostgres(pool, 'index', MIGRATIONS, { schema: o.schema });
    } catch (err) {
      if (o.ownsPool) await pool.end();
      throw asStoreError(err, 'opening the index on PostgreSQL');
    }
    return new PostgresStudyIndex(pool, o.ownsPool);
  }

  private constructor(pool: PostgresPool, ownsPool: boolean) {
    const db = new PostgresDatabase(pool, { ownsPool, retryConflicts: CONFLICT_RETRIES });
    super({
      patterns: LIKE_PATTERNS,
      read: (work) => db.read(work),
      write: (work) => db.write(work),
      writeOne: (sql, params) => db.writeOne(sql, params),
      close: () => db.close(),
    });
  }
}
