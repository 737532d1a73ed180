import type { DatabaseSync, SQLInputValue, SQLOutputValue, StatementSync } from 'node:sqlite';
import { inTransaction, openSqliteDatabase } from '../database/index.ts';
import { migrate } from './sqlite-schema.ts';
import { ALL_LEVELS_FROM, int, STORED_INSTANCE_COLUMNS, storedInstanceOf, text } from './sqlite-rows.ts';
import { columnsUpTo, depthOf, fromClause, whereClause } from './query-sql.ts';
import { asStoreError, StoreError } from './store-error.ts';
import type {
  BlobRef,
  IndexStats,
  Matcher,
  NewInstance,
  PatientAttributes,
  QueryLevel,
  QueryPage,
  QueryRow,
  RecordOutcome,
  StoredInstance,
  StudyContents,
  StudyIndex,
} from './types.ts';

type Row = Record<string, SQLOutputValue>;

/** A study's instances in the order a PACS shows them: by series, then instance number. */
const IN_SERIES_ORDER = 'se.series_number NULLS LAST, se.pk, i.instance_number NULLS LAST, i.pk';

/** Counts and sets that describe an entity, per level (PS3.4 C.6.1.1.2-4: Number of ... Related ...). */
const COUNTS: readonly (readonly [depth: number, field: keyof QueryRow, sql: string])[] = [
  [0, 'numberOfPatientRelatedStudies', 'SELECT count(*) FROM studies c1 WHERE c1.patient_pk = p.pk'],
  [
    0,
    'numberOfPatientRelatedSeries',
    'SELECT count(*) FROM studies c1 JOIN series c2 ON c2.study_pk = c1.pk WHERE c1.patient_pk = p.pk',
  ],
  [
    0,
    'numberOfPatientRelatedInstances',
    'SELECT count(*) FROM studies c1 JOIN series c2 ON c2.study_pk = c1.pk JOIN instances c3 ON c3.series_pk = c2.pk WHERE c1.patient_pk = p.pk',
  ],
  [1, 'numberOfStudyRelatedSeries', 'SELECT count(*) FROM series c2 WHERE c2.study_pk = st.pk'],
  [
    1,
    'numberOfStudyRelatedInstances',
    'SELECT count(*) FROM series c2 JOIN instances c3 ON c3.series_pk = c2.pk WHERE c2.study_pk = st.pk',
  ],
  [1, 'modalitiesInStudy', 'SELECT group_concat(DISTINCT c2.modality) FROM series c2 WHERE c2.study_pk = st.pk'],
  [
    1,
    'sopClassesInStudy',
    'SELECT group_concat(DISTINCT c3.sop_class_uid) FROM series c2 JOIN instances c3 ON c3.series_pk = c2.pk WHERE c2.study_pk = st.pk',
  ],
  [2, 'numberOfSeriesRelatedInstances', 'SELECT count(*) FROM instances c3 WHERE c3.series_pk = se.pk'],
];

/**
 * The study index in SQLite (WAL, synchronous=FULL). One short IMMEDIATE transaction per recorded instance, with
 * prepared statements that all hit an index; only start-up recovery and stats() read whole tables.
 */
export class SqliteStudyIndex implements StudyIndex {
  readonly #db: DatabaseSync;
  readonly #s: Readonly<
    Record<
      | 'instanceBySop'
      | 'instanceKeys'
      | 'patientPk'
      | 'setPatientBsn'
      | 'insertPatient'
      | 'studyByUid'
      | 'insertStudy'
      | 'seriesByUid'
      | 'insertSeries'
      | 'insertInstance'
      | 'deleteInstance'
      | 'insertRemovedBlob'
      | 'deleteRemovedBlob'
      | 'seriesEmpty'
      | 'deleteSeries'
      | 'studyEmpty'
      | 'deleteStudy'
      | 'patientEmpty'
      | 'deletePatient'
      | 'patientsToReread'
      | 'setRereadPatient',
      StatementSync
    >
  >;
  readonly #queries = new Map<string, StatementSync>();

  constructor(path: string) {
    try {
      // A power cut may take the last commits, never a blob: recovery indexes the files again.
      this.#db = openSqliteDatabase(path, { durability: 'normal', foreignKeys: true });
      migrate(this.#db, path);
    } catch (err) {
      throw asStoreError(err, `opening the index ${path}`);
    }
    const db = this.#db;
    this.#s = {
      instanceBySop: db.prepare(`SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} WHERE i.sop_instance_uid = ?`),
      instanceKeys: db.prepare(
        `SELECT i.pk AS ipk, se.pk AS sepk, st.pk AS stpk, p.pk AS ppk ${ALL_LEVELS_FROM} WHERE i.sop_instance_uid = ?`,
      ),
      // The patient_id <> '' term lets SQLite use the partial unique index; an empty id is never looked up by identity.
      patientPk: db.prepare(
        `SELECT pk, bsn FROM patients WHERE patient_id = ? AND patient_id <> '' AND ifnull(issuer, '') = ?`,
      ),
      setPatientBsn: db.prepare(`UPDATE patients SET bsn = ? WHERE pk = ? AND bsn IS NULL`),
      insertPatient: db.prepare(
        `INSERT INTO patients (patient_id, issuer, bsn, patient_name, patient_name_norm, birth_date, sex) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      studyByUid: db.prepare(
        `SELECT st.pk, st.patient_pk, p.patient_id, p.issuer, p.bsn FROM studies st JOIN patients p ON p.pk = st.patient_pk WHERE st.study_instance_uid = ?`,
      ),
      insertStudy: db.prepare(
        `INSERT INTO studies (patient_pk, study_instance_uid, study_date, study_time, accession_number, study_description,
           referring_physician_name, referring_physician_name_norm, study_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      seriesByUid: db.prepare(`SELECT pk, study_pk FROM series WHERE series_instance_uid = ?`),
      insertSeries: db.prepare(
        `INSERT INTO series (study_pk, series_instance_uid, modality, series_number, series_description, body_part_examined)
           VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      insertInstance: db.prepare(
        `INSERT INTO instances (series_pk, sop_instance_uid, sop_class_uid, instance_number, transfer_syntax_uid, blob_id, size,
           sha256, dataset_offset, received_at, via, calling_ae_title, remote_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deleteInstance: db.prepare(`DELETE FROM instances WHERE pk = ?`),
      insertRemovedBlob: db.prepare(`INSERT OR IGNORE INTO removed_blobs (blob_id, removed_at) VALUES (?, ?)`),
      deleteRemovedBlob: db.prepare(`DELETE FROM removed_blobs WHERE blob_id = ?`),
      seriesEmpty: db.prepare(`SELECT NOT EXISTS (SELECT 1 FROM instances WHERE series_pk = ?) AS empty`),
      deleteSeries: db.prepare(`DELETE FROM series WHERE pk = ?`),
      studyEmpty: db.prepare(`SELECT NOT EXISTS (SELECT 1 FROM series WHERE study_pk = ?) AS empty`),
      deleteStudy: db.prepare(`DELETE FROM studies WHERE pk = ?`),
      patientEmpty: db.prepare(`SELECT NOT EXISTS (SELECT 1 FROM studies WHERE patient_pk = ?) AS empty`),
      deletePatient: db.prepare(`DELETE FROM patients WHERE pk = ?`),
      patientsToReread: db.prepare(
        `SELECT p.pk, (SELECT i.blob_id FROM series se JOIN instances i ON i.series_pk = se.pk WHERE se.study_pk = p.reread_from_study
           ORDER BY i.pk LIMIT 1) AS blob_id FROM patients p WHERE p.reread_from_study IS NOT NULL ORDER BY p.pk`,
      ),
      setRereadPatient: db.prepare(
        `UPDATE patients SET bsn = ?, patient_name = ?, patient_name_norm = ?, birth_date = ?, sex = ?, reread_from_study = NULL
          WHERE pk = ? AND reread_from_study IS NOT NULL`,
      ),
    };
  }

  async recordInstance(x: NewInstance, blob: BlobRef, datasetOffset: number): Promise<RecordOutcome> {
    const s = this.#s;
    return this.#transaction('recording an instance', () => {
      const existing = s.instanceBySop.get(x.instance.sopInstanceUid);
      // The first copy wins: a resend must not replace what an earlier acknowledgement promised.
      if (existing !== undefined) return { outcome: 'duplicate', existing: storedInstanceOf(existing) };

      const p = x.patient;
      const study = s.studyByUid.get(x.study.studyInstanceUid);
      // Patients are keyed by Patient ID with its issuer. An empty Patient ID names nobody, so it never joins two
      // studies under one patient: its instance joins only the patient of its own study, when that one has no id either.
      const knownPatient =
        p.patientId !== ''
          ? s.patientPk.get(p.patientId, p.issuerOfPatientId ?? '')
          : study !== undefined &&
              text(study.patient_id) === '' &&
              (text(study.issuer) ?? '') === (p.issuerOfPatientId ?? '')
            ? { pk: study.patient_pk ?? null, bsn: study.bsn ?? null }
            : undefined;
      let patientPk = int(knownPatient?.pk);
      const knownBsn = text(knownPatient?.bsn);
      // One patient id with two BSNs means two people: never merge them silently (issue 3, patient reconciliation).
      if (patientPk !== null && knownBsn !== null && p.bsn !== null && knownBsn !== p.bsn) {
        throw new StoreError(
          'PATIENT_BSN_CONFLICT',
          `patient ${p.patientId} (issuer ${p.issuerOfPatientId ?? 'none'}) is stored with another BSN; not adding an instance with a different one`,
        );
      }
      if (patientPk !== null && knownBsn === null && p.bsn !== null) s.setPatientBsn.run(p.bsn, patientPk);
      if (study !== undefined && (patientPk === null || int(study.patient_pk) !== patientPk)) {
        throw new StoreError(
          'STUDY_PATIENT_CONFLICT',
          `study ${x.study.studyInstanceUid} is already stored under ${patientLabel(text(study.patient_id) ?? '', text(study.issuer))},` +
            ` not ${patientLabel(p.patientId, p.issuerOfPatientId)}`,
        );
      }
      if (patientPk === null) {
        patientPk = Number(
          s.insertPatient.run(
            p.patientId,
            p.issuerOfPatientId,
            p.bsn,
            p.patientName,
            lower(p.patientName),
            p.birthDate,
            p.sex,
          ).lastInsertRowid,
        );
      }
      let studyPk = int(study?.pk);
      if (studyPk === null) {
        const st = x.study;
        studyPk = Number(
          s.insertStudy.run(
            patientPk,
            st.studyInstanceUid,
            st.studyDate,
            st.studyTime,
            st.accessionNumber,
            st.studyDescription,
            st.referringPhysicianName,
            lower(st.referringPhysicianName),
            st.studyId,
          ).lastInsertRowid,
        );
      }
      const series = s.seriesByUid.get(x.series.seriesInstanceUid);
      let seriesPk = int(series?.pk);
      if (series !== undefined && int(series.study_pk) !== studyPk) {
        throw new StoreError(
          'SERIES_STUDY_CONFLICT',
          `series ${x.series.seriesInstanceUid} is already stored under another study`,
        );
      }
      if (seriesPk === null) {
        const se = x.series;
        seriesPk = Number(
          s.insertSeries.run(
            studyPk,
            se.seriesInstanceUid,
            se.modality,
            se.seriesNumber,
            se.seriesDescription,
            se.bodyPartExamined,
          ).lastInsertRowid,
        );
      }
      const i = x.instance;
      const v = x.provenance;
      s.insertInstance.run(
        seriesPk,
        i.sopInstanceUid,
        i.sopClassUid,
        i.instanceNumber,
        i.transferSyntaxUid,
        blob.blobId,
        blob.size,
        blob.sha256,
        datasetOffset,
        v.receivedAt,
        v.via,
        v.callingAeTitle,
        v.remoteAddress,
      );
      return { outcome: 'created' };
    });
  }

  async patientsAwaitingAttributes(): Promise<{ patientKey: number; blobId: string }[]> {
    const out: { patientKey: number; blobId: string }[] = [];
    for (const r of this.#s.patientsToReread.all()) {
      const patientKey = int(r.pk);
      const blobId = text(r.blob_id);
      if (patientKey !== null && blobId !== null) out.push({ patientKey, blobId });
    }
    return out;
  }

  async restorePatientAttributes(patientKey: number, p: PatientAttributes): Promise<void> {
    this.#transaction('restoring patient attributes', () => {
      this.#s.setRereadPatient.run(p.bsn, p.patientName, lower(p.patientName), p.birthDate, p.sex, patientKey);
    });
  }

  async getInstance(sopInstanceUid: string): Promise<StoredInstance | undefined> {
    const r = this.#s.instanceBySop.get(sopInstanceUid);
    return r === undefined ? undefined : storedInstanceOf(r);
  }

  async query(level: QueryLevel, matchers: readonly Matcher[], opts?: QueryPage): Promise<QueryRow[]> {
    const depth = depthOf(level);
    const columns = columnsUpTo(depth);
    const counts = COUNTS.filter(([d]) => d <= depth);
    const select = [
      ...columns.map(([, c], n) => `${['p', 'st', 'se', 'i'][c.depth] ?? ''}.${c.column} AS v${n}`),
      ...counts.map(([, , sql], n) => `(${sql}) AS c${n}`),
    ];
    const where = whereClause(depth, matchers);
    const offset = opts?.offset !== undefined && opts.offset > 0 ? Math.floor(opts.offset) : 0;
    // SQLite takes an OFFSET only after a LIMIT; -1 is its "no limit".
    const limit =
      opts?.limit !== undefined && opts.limit > 0
        ? ` LIMIT ${Math.floor(opts.limit)}${offset > 0 ? ` OFFSET ${offset}` : ''}`
        : offset > 0
          ? ` LIMIT -1 OFFSET ${offset}`
          : '';
    const alias = ['p', 'st', 'se', 'i'][depth] ?? 'p';
    const sql = `SELECT ${select.join(', ')} ${fromClause(depth)} ${where.sql} ORDER BY ${alias}.pk${limit}`;
    return this.#run(sql, where.params).map((r) => {
      const row: QueryRow = { values: {} };
      columns.forEach(([key, c], n) => {
        row.values[key] = c.kind === 'int' ? int(r[`v${n}`]) : text(r[`v${n}`]);
      });
      counts.forEach(([, field], n) => {
        const v = r[`c${n}`];
        if (field === 'modalitiesInStudy' || field === 'sopClassesInStudy') {
          const list = splitSet(text(v));
          row[field] = list;
          if (field === 'modalitiesInStudy') row.values.modalitiesInStudy = list.join('\\');
        } else {
          row[field] = int(v) ?? 0;
        }
      });
      return row;
    });
  }

  async instancesMatching(level: QueryLevel, matchers: readonly Matcher[]): Promise<StoredInstance[]> {
    const where = whereClause(depthOf(level), matchers);
    const sql =
      `SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} ${where.sql}` + ` ORDER BY st.pk, ${IN_SERIES_ORDER}`;
    return this.#run(sql, where.params).map(storedInstanceOf);
  }

  async studyContents(studyInstanceUid: string): Promise<StudyContents | undefined> {
    const [first] = this.#run(
      `SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} WHERE st.study_instance_uid = ?
         ORDER BY st.pk, ${IN_SERIES_ORDER} LIMIT 1`,
      [studyInstanceUid],
    );
    if (first === undefined) return undefined;
    const kinds = this.#run(
      `SELECT se.modality, i.sop_class_uid, COUNT(*) AS instances, SUM(i.size) AS bytes ${ALL_LEVELS_FROM}
         WHERE st.study_instance_uid = ? GROUP BY se.modality, i.sop_class_uid
         ORDER BY MIN(se.series_number) NULLS LAST, MIN(se.pk)`,
      [studyInstanceUid],
    ).map((r) => ({
      modality: text(r['modality']),
      sopClassUid: text(r['sop_class_uid']) ?? '',
      instances: int(r['instances']) ?? 0,
      bytes: int(r['bytes']) ?? 0,
    }));
    return { first: storedInstanceOf(first), kinds };
  }

  async receivedBefore(cutoff: string, limit: number, kept: readonly string[] = []): Promise<StoredInstance[]> {
    return this.#run(
      `SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} WHERE i.received_at < ?
         AND st.study_instance_uid NOT IN (SELECT value FROM json_each(?)) ORDER BY i.received_at LIMIT ?`,
      [cutoff, JSON.stringify(kept), limit],
    ).map(storedInstanceOf);
  }

  async removeInstance(sopInstanceUid: string): Promise<StoredInstance | undefined> {
    const s = this.#s;
    // Durable before the caller deletes the blob: otherwise a power cut could bring back a row whose file is gone, or
    // recovery could index a blob that retention meant to purge.
    this.#db.exec('PRAGMA synchronous = FULL');
    try {
      return this.#transaction('removing an instance', () => {
        const found = s.instanceBySop.get(sopInstanceUid);
        const keys = s.instanceKeys.get(sopInstanceUid);
        if (found === undefined || keys === undefined) return undefined;
        const removed = storedInstanceOf(found);
        s.insertRemovedBlob.run(removed.blob.blobId, new Date().toISOString());
        s.deleteInstance.run(int(keys.ipk));
        if (isEmpty(s.seriesEmpty.get(int(keys.sepk)))) {
          s.deleteSeries.run(int(keys.sepk));
          if (isEmpty(s.studyEmpty.get(int(keys.stpk)))) {
            s.deleteStudy.run(int(keys.stpk));
            if (isEmpty(s.patientEmpty.get(int(keys.ppk)))) s.deletePatient.run(int(keys.ppk));
          }
        }
        return removed;
      });
    } finally {
      this.#db.exec('PRAGMA synchronous = NORMAL');
    }
  }

  async removedBlobIds(): Promise<Set<string>> {
    return this.#blobIds('SELECT blob_id FROM removed_blobs');
  }

  async forgetRemovedBlobs(blobIds: Iterable<string>): Promise<void> {
    this.#transaction('forgetting removed blobs', () => {
      for (const id of blobIds) this.#s.deleteRemovedBlob.run(id);
    });
  }

  async referencedBlobIds(): Promise<Set<string>> {
    return this.#blobIds('SELECT blob_id FROM instances');
  }

  #blobIds(sql: string): Set<string> {
    const ids = new Set<string>();
    for (const r of this.#db.prepare(sql).iterate()) {
      const id = text(r.blob_id);
      if (id !== null) ids.add(id);
    }
    return ids;
  }

  async stats(): Promise<IndexStats> {
    const r = this.#db
      .prepare(
        `SELECT (SELECT count(*) FROM patients) AS patients, (SELECT count(*) FROM studies) AS studies,
           (SELECT count(*) FROM series) AS series, (SELECT count(*) FROM instances) AS instances,
           (SELECT ifnull(sum(size), 0) FROM instances) AS bytes`,
      )
      .get();
    return {
      patients: int(r?.patients) ?? 0,
      studies: int(r?.studies) ?? 0,
      series: int(r?.series) ?? 0,
      instances: int(r?.instances) ?? 0,
      bytes: int(r?.bytes) ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  #transaction<T>(what: string, body: () => T): T {
    try {
      return inTransaction(this.#db, body);
    } catch (err) {
      throw asStoreError(err, what);
    }
  }

  /** Query shapes repeat (the same keys, other values), so their statements are prepared once and kept. */
  #run(sql: string, params: readonly SQLInputValue[]): Row[] {
    let stmt = this.#queries.get(sql);
    if (stmt === undefined) {
      if (this.#queries.size > 200) this.#queries.clear();
      stmt = this.#db.prepare(sql);
      this.#queries.set(sql, stmt);
    }
    try {
      return stmt.all(...params);
    } catch (err) {
      throw asStoreError(err, 'querying the index');
    }
  }
}

/** How a conflict names a patient; one without a Patient ID says so rather than showing an empty id. */
function patientLabel(patientId: string, issuer: string | null): string {
  return `${patientId === '' ? 'a patient without a Patient ID' : `patient ${patientId}`} (issuer ${issuer ?? 'none'})`;
}

function lower(v: string | null): string | null {
  return v === null ? null : v.toLowerCase();
}

function isEmpty(r: Row | undefined): boolean {
  return int(r?.empty) === 1;
}

function splitSet(v: string | null): string[] {
  if (v === null || v === '') return [];
  return [...new Set(v.split(','))].sort();
}
