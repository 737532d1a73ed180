import type { SqlDatabase, SqlRow, SqlValue, Statements } from '../database/index.ts';
import { ALL_LEVELS_FROM, int, STORED_INSTANCE_COLUMNS, storedInstanceOf, text } from './index-rows.ts';
import { columnsUpTo, depthOf, fromClause, whereClause, type PatternDialect } from './query-sql.ts';
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

/**
 * Where an index keeps its tables: the embedded SQLite file or a PostgreSQL database. Each gives transactions and the
 * way it matches DICOM wildcards; the rules (patient identity, conflicts, C-FIND matching, retention) are the index's,
 * written once below in SQL both understand.
 */
export interface IndexDatabase extends SqlDatabase {
  readonly patterns: PatternDialect;
}

/** A study's instances in the order a PACS shows them: by series, then instance number. */
const IN_SERIES_ORDER = 'se.series_number NULLS LAST, se.pk, i.instance_number NULLS LAST, i.pk';

/** The distinct values of `column` over `from`, as one comma-separated string. */
function distinctList(column: string, from: string): string {
  return `SELECT string_agg(d.v, ',') FROM (SELECT DISTINCT ${column} AS v ${from}) d`;
}

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
  [1, 'modalitiesInStudy', distinctList('c2.modality', 'FROM series c2 WHERE c2.study_pk = st.pk')],
  [
    1,
    'sopClassesInStudy',
    distinctList(
      'c3.sop_class_uid',
      'FROM series c2 JOIN instances c3 ON c3.series_pk = c2.pk WHERE c2.study_pk = st.pk',
    ),
  ],
  [2, 'numberOfSeriesRelatedInstances', 'SELECT count(*) FROM instances c3 WHERE c3.series_pk = se.pk'],
];

const INSTANCE_BY_SOP = `SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} WHERE i.sop_instance_uid = ?`;

const INSTANCE_COLUMNS = `sop_instance_uid, sop_class_uid, instance_number, transfer_syntax_uid, blob_id, size, sha256,
  dataset_offset, received_at, via, calling_ae_title, remote_address`;

/**
 * Nearly every instance joins a series the index already holds, of the same study and of the same patient (Patient ID
 * and issuer, and a BSN that is the one stored or absent): then it is one statement, on PostgreSQL one round trip
 * instead of seven. Anything else (a new series, study or patient, a BSN to add or in conflict, a copy already
 * stored) inserts nothing here and takes record()'s transaction, which decides it.
 */
const INSTANCE_INTO_KNOWN_SERIES = `INSERT INTO instances (series_pk, ${INSTANCE_COLUMNS})
  SELECT se.pk, ?, ?, CAST(? AS INTEGER), ?, ?, CAST(? AS BIGINT), ?, CAST(? AS INTEGER), ?, ?, ?, ?
    FROM series se JOIN studies st ON st.pk = se.study_pk JOIN patients p ON p.pk = st.patient_pk
    WHERE se.series_instance_uid = ? AND st.study_instance_uid = ? AND p.patient_id = ?
      AND coalesce(p.issuer, '') = ? AND (CAST(? AS TEXT) IS NULL OR p.bsn = ?)
  ON CONFLICT (sop_instance_uid) DO NOTHING
  RETURNING pk`;

/** The values of an instance's row, in INSTANCE_COLUMNS' order. */
function instanceValues(x: NewInstance, blob: BlobRef, datasetOffset: number): SqlValue[] {
  const i = x.instance;
  const v = x.provenance;
  return [
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
  ];
}

function intoKnownSeriesParams(x: NewInstance, blob: BlobRef, datasetOffset: number): SqlValue[] {
  const p = x.patient;
  return [
    ...instanceValues(x, blob, datasetOffset),
    x.series.seriesInstanceUid,
    x.study.studyInstanceUid,
    p.patientId,
    p.issuerOfPatientId ?? '',
    p.bsn,
    p.bsn,
  ];
}

/** PostgreSQL takes an OFFSET alone, SQLite only after a LIMIT: this one means "no limit" to both. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * The study index over an IndexDatabase. One short transaction per recorded instance, with statements that all hit an
 * index; only start-up recovery and stats() read whole tables.
 */
export class SqlStudyIndex implements StudyIndex {
  readonly #db: IndexDatabase;

  constructor(db: IndexDatabase) {
    this.#db = db;
  }

  async recordInstance(x: NewInstance, blob: BlobRef, datasetOffset: number): Promise<RecordOutcome> {
    const what = 'recording an instance';
    const added = await this.#writeOne(what, INSTANCE_INTO_KNOWN_SERIES, intoKnownSeriesParams(x, blob, datasetOffset));
    if (added !== undefined) return { outcome: 'created' };
    return this.#write(what, (q) => record(q, x, blob, datasetOffset));
  }

  patientsAwaitingAttributes(): Promise<{ patientKey: number; blobId: string }[]> {
    return this.#read('reading the patients to restore', async (q) => {
      const out: { patientKey: number; blobId: string }[] = [];
      const rows = await q.all(
        `SELECT p.pk, (SELECT i.blob_id FROM series se JOIN instances i ON i.series_pk = se.pk
            WHERE se.study_pk = p.reread_from_study ORDER BY i.pk LIMIT 1) AS blob_id
           FROM patients p WHERE p.reread_from_study IS NOT NULL ORDER BY p.pk`,
      );
      for (const r of rows) {
        const patientKey = int(r.pk);
        const blobId = text(r.blob_id);
        if (patientKey !== null && blobId !== null) out.push({ patientKey, blobId });
      }
      return out;
    });
  }

  restorePatientAttributes(patientKey: number, p: PatientAttributes): Promise<void> {
    return this.#write('restoring patient attributes', async (q) => {
      await q.run(
        `UPDATE patients SET bsn = ?, patient_name = ?, patient_name_norm = ?, birth_date = ?, sex = ?,
           reread_from_study = NULL WHERE pk = ? AND reread_from_study IS NOT NULL`,
        [p.bsn, p.patientName, lower(p.patientName), p.birthDate, p.sex, patientKey],
      );
    });
  }

  getInstance(sopInstanceUid: string): Promise<StoredInstance | undefined> {
    return this.#read('reading an instance', async (q) => {
      const r = await q.one(INSTANCE_BY_SOP, [sopInstanceUid]);
      return r === undefined ? undefined : storedInstanceOf(r);
    });
  }

  query(level: QueryLevel, matchers: readonly Matcher[], opts?: QueryPage): Promise<QueryRow[]> {
    const depth = depthOf(level);
    const columns = columnsUpTo(depth);
    const counts = COUNTS.filter(([d]) => d <= depth);
    const select = [
      ...columns.map(([, c], n) => `${['p', 'st', 'se', 'i'][c.depth] ?? ''}.${c.column} AS v${n}`),
      ...counts.map(([, , sql], n) => `(${sql}) AS c${n}`),
    ];
    const where = whereClause(depth, matchers, this.#db.patterns);
    const alias = ['p', 'st', 'se', 'i'][depth] ?? 'p';
    const sql = `SELECT ${select.join(', ')} ${fromClause(depth)} ${where.sql} ORDER BY ${alias}.pk${page(opts)}`;
    return this.#read('querying the index', async (q) =>
      (await q.all(sql, where.params)).map((r) => {
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
      }),
    );
  }

  instancesMatching(level: QueryLevel, matchers: readonly Matcher[]): Promise<StoredInstance[]> {
    const where = whereClause(depthOf(level), matchers, this.#db.patterns);
    const sql = `SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} ${where.sql} ORDER BY st.pk, ${IN_SERIES_ORDER}`;
    return this.#read('querying the index', async (q) => (await q.all(sql, where.params)).map(storedInstanceOf));
  }

  studyContents(studyInstanceUid: string): Promise<StudyContents | undefined> {
    return this.#read('reading a study', async (q) => {
      const first = await q.one(
        `SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} WHERE st.study_instance_uid = ?
           ORDER BY st.pk, ${IN_SERIES_ORDER} LIMIT 1`,
        [studyInstanceUid],
      );
      if (first === undefined) return undefined;
      const kinds = (
        await q.all(
          `SELECT se.modality, i.sop_class_uid, count(*) AS instances, CAST(sum(i.size) AS BIGINT) AS bytes
             ${ALL_LEVELS_FROM} WHERE st.study_instance_uid = ? GROUP BY se.modality, i.sop_class_uid
             ORDER BY min(se.series_number) NULLS LAST, min(se.pk)`,
          [studyInstanceUid],
        )
      ).map((r) => ({
        modality: text(r.modality),
        sopClassUid: text(r.sop_class_uid) ?? '',
        instances: int(r.instances) ?? 0,
        bytes: int(r.bytes) ?? 0,
      }));
      return { first: storedInstanceOf(first), kinds };
    });
  }

  receivedBefore(cutoff: string, limit: number, kept: readonly string[] = []): Promise<StoredInstance[]> {
    const notKept = kept.length > 0 ? ` AND st.study_instance_uid NOT IN (${kept.map(() => '?').join(', ')})` : '';
    return this.#read('reading instances past retention', async (q) =>
      (
        await q.all(
          `SELECT ${STORED_INSTANCE_COLUMNS} ${ALL_LEVELS_FROM} WHERE i.received_at < ?${notKept}
             ORDER BY i.received_at LIMIT ?`,
          [cutoff, ...kept, limit],
        )
      ).map(storedInstanceOf),
    );
  }

  removeInstance(sopInstanceUid: string): Promise<StoredInstance | undefined> {
    // Durable before the caller deletes the blob: otherwise a power cut could bring back a row whose file is gone, or
    // recovery could index a blob that retention meant to purge.
    return this.#write('removing an instance', (q) => remove(q, sopInstanceUid), { durable: true });
  }

  removedBlobIds(): Promise<Set<string>> {
    return this.#blobIds('SELECT blob_id FROM removed_blobs');
  }

  forgetRemovedBlobs(blobIds: Iterable<string>): Promise<void> {
    return this.#write('forgetting removed blobs', async (q) => {
      for (const id of blobIds) await q.run('DELETE FROM removed_blobs WHERE blob_id = ?', [id]);
    });
  }

  referencedBlobIds(): Promise<Set<string>> {
    return this.#blobIds('SELECT blob_id FROM instances');
  }

  blobsReferenced(blobIds: readonly string[]): Promise<Set<string>> {
    if (blobIds.length === 0) return Promise.resolve(new Set());
    return this.#blobIds(
      `SELECT blob_id FROM instances WHERE blob_id IN (${blobIds.map(() => '?').join(', ')})`,
      blobIds,
    );
  }

  stats(): Promise<IndexStats> {
    return this.#read('counting the index', async (q) => {
      const r = await q.one(
        `SELECT (SELECT count(*) FROM patients) AS patients, (SELECT count(*) FROM studies) AS studies,
           (SELECT count(*) FROM series) AS series, (SELECT count(*) FROM instances) AS instances,
           (SELECT coalesce(CAST(sum(size) AS BIGINT), 0) FROM instances) AS bytes`,
      );
      return {
        patients: int(r?.patients) ?? 0,
        studies: int(r?.studies) ?? 0,
        series: int(r?.series) ?? 0,
        instances: int(r?.instances) ?? 0,
        bytes: int(r?.bytes) ?? 0,
      };
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  #blobIds(sql: string, params: readonly SqlValue[] = []): Promise<Set<string>> {
    return this.#read('listing blobs', async (q) => {
      const ids = new Set<string>();
      for (const r of await q.all(sql, params)) {
        const id = text(r.blob_id);
        if (id !== null) ids.add(id);
      }
      return ids;
    });
  }

  async #write<T>(what: string, work: (q: Statements) => Promise<T>, o?: { durable?: boolean }): Promise<T> {
    try {
      return await this.#db.write(work, o);
    } catch (err) {
      throw asStoreError(err, what);
    }
  }

  async #writeOne(what: string, sql: string, params: readonly SqlValue[]): Promise<SqlRow | undefined> {
    try {
      return await this.#db.writeOne(sql, params);
    } catch (err) {
      throw asStoreError(err, what);
    }
  }

  async #read<T>(what: string, work: (q: Statements) => Promise<T>): Promise<T> {
    try {
      return await this.#db.read(work);
    } catch (err) {
      throw asStoreError(err, what);
    }
  }
}

async function record(q: Statements, x: NewInstance, blob: BlobRef, datasetOffset: number): Promise<RecordOutcome> {
  const existing = await q.one(INSTANCE_BY_SOP, [x.instance.sopInstanceUid]);
  // The first copy wins: a resend must not replace what an earlier acknowledgement promised.
  if (existing !== undefined) return { outcome: 'duplicate', existing: storedInstanceOf(existing) };

  const p = x.patient;
  const study = await q.one(
    `SELECT st.pk, st.patient_pk, p.patient_id, p.issuer, p.bsn FROM studies st JOIN patients p ON p.pk = st.patient_pk
      WHERE st.study_instance_uid = ?`,
    [x.study.studyInstanceUid],
  );
  // Patients are keyed by Patient ID with its issuer. An empty Patient ID names nobody, so it never joins two studies
  // under one patient: its instance joins only the patient of its own study, when that one has no id either.
  const knownPatient =
    p.patientId !== ''
      ? // The patient_id <> '' term lets the database use the partial unique index.
        await q.one(
          `SELECT pk, bsn FROM patients WHERE patient_id = ? AND patient_id <> '' AND coalesce(issuer, '') = ?`,
          [p.patientId, p.issuerOfPatientId ?? ''],
        )
      : study !== undefined &&
          text(study.patient_id) === '' &&
          (text(study.issuer) ?? '') === (p.issuerOfPatientId ?? '')
        ? { pk: study.patient_pk, bsn: study.bsn }
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
  if (patientPk !== null && knownBsn === null && p.bsn !== null)
    await q.run('UPDATE patients SET bsn = ? WHERE pk = ? AND bsn IS NULL', [p.bsn, patientPk]);
  if (study !== undefined && (patientPk === null || int(study.patient_pk) !== patientPk)) {
    throw new StoreError(
      'STUDY_PATIENT_CONFLICT',
      `study ${x.study.studyInstanceUid} is already stored under ${patientLabel(text(study.patient_id) ?? '', text(study.issuer))},` +
        ` not ${patientLabel(p.patientId, p.issuerOfPatientId)}`,
    );
  }
  patientPk ??= await insert(
    q,
    'INSERT INTO patients (patient_id, issuer, bsn, patient_name, patient_name_norm, birth_date, sex) VALUES (?, ?, ?, ?, ?, ?, ?)',
    [p.patientId, p.issuerOfPatientId, p.bsn, p.patientName, lower(p.patientName), p.birthDate, p.sex],
  );
  const st = x.study;
  const studyPk =
    int(study?.pk) ??
    (await insert(
      q,
      `INSERT INTO studies (patient_pk, study_instance_uid, study_date, study_time, accession_number, study_description,
         referring_physician_name, referring_physician_name_norm, study_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        patientPk,
        st.studyInstanceUid,
        st.studyDate,
        st.studyTime,
        st.accessionNumber,
        st.studyDescription,
        st.referringPhysicianName,
        lower(st.referringPhysicianName),
        st.studyId,
      ],
    ));
  const se = x.series;
  const series = await q.one('SELECT pk, study_pk FROM series WHERE series_instance_uid = ?', [se.seriesInstanceUid]);
  if (series !== undefined && int(series.study_pk) !== studyPk) {
    throw new StoreError(
      'SERIES_STUDY_CONFLICT',
      `series ${se.seriesInstanceUid} is already stored under another study`,
    );
  }
  const seriesPk =
    int(series?.pk) ??
    (await insert(
      q,
      `INSERT INTO series (study_pk, series_instance_uid, modality, series_number, series_description, body_part_examined)
         VALUES (?, ?, ?, ?, ?, ?)`,
      [studyPk, se.seriesInstanceUid, se.modality, se.seriesNumber, se.seriesDescription, se.bodyPartExamined],
    ));
  await q.run(`INSERT INTO instances (series_pk, ${INSTANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    seriesPk,
    ...instanceValues(x, blob, datasetOffset),
  ]);
  return { outcome: 'created' };
}

/** Removes an instance and every parent it leaves empty, remembering its blob as removed. */
async function remove(q: Statements, sopInstanceUid: string): Promise<StoredInstance | undefined> {
  const found = await q.one(
    `SELECT ${STORED_INSTANCE_COLUMNS}, i.pk AS ipk, se.pk AS sepk, st.pk AS stpk, p.pk AS ppk ${ALL_LEVELS_FROM}
      WHERE i.sop_instance_uid = ?`,
    [sopInstanceUid],
  );
  if (found === undefined) return undefined;
  const removed = storedInstanceOf(found);
  await q.run('INSERT INTO removed_blobs (blob_id, removed_at) VALUES (?, ?) ON CONFLICT DO NOTHING', [
    removed.blob.blobId,
    new Date().toISOString(),
  ]);
  await q.run('DELETE FROM instances WHERE pk = ?', [int(found.ipk)]);
  // Each level goes only when nothing is left under it, from the series up.
  const levels = [
    ['series', 'instances', 'series_pk', found.sepk],
    ['studies', 'series', 'study_pk', found.stpk],
    ['patients', 'studies', 'patient_pk', found.ppk],
  ] as const;
  for (const [table, children, parentColumn, pk] of levels) {
    if ((await q.one(`SELECT 1 AS found FROM ${children} WHERE ${parentColumn} = ? LIMIT 1`, [int(pk)])) !== undefined)
      break;
    await q.run(`DELETE FROM ${table} WHERE pk = ?`, [int(pk)]);
  }
  return removed;
}

async function insert(q: Statements, sql: string, params: readonly SqlValue[]): Promise<number> {
  const row = await q.one<SqlRow>(`${sql} RETURNING pk`, params);
  const pk = int(row?.pk);
  if (pk === null) throw new Error(`no key returned by ${sql.slice(0, 40)}`);
  return pk;
}

function page(opts: QueryPage | undefined): string {
  const offset = opts?.offset !== undefined && opts.offset > 0 ? Math.floor(opts.offset) : 0;
  const limit = opts?.limit !== undefined && opts.limit > 0 ? Math.floor(opts.limit) : undefined;
  if (limit === undefined && offset === 0) return '';
  return ` LIMIT ${limit ?? NO_LIMIT}${offset > 0 ? ` OFFSET ${offset}` : ''}`;
}

/** How a conflict names a patient; one without a Patient ID says so rather than showing an empty id. */
function patientLabel(patientId: string, issuer: string | null): string {
  return `${patientId === '' ? 'a patient without a Patient ID' : `patient ${patientId}`} (issuer ${issuer ?? 'none'})`;
}

function lower(v: string | null): string | null {
  return v === null ? null : v.toLowerCase();
}

function splitSet(v: string | null): string[] {
  if (v === null || v === '') return [];
  return [...new Set(v.split(','))].sort();
}
