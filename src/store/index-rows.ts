import type { StoredInstance } from './types.ts';

type Row = Record<string, unknown>;

/** Every column of an instance and its parents, for one SELECT over the four tables joined as p, st, se, i. */
export const STORED_INSTANCE_COLUMNS = `
  p.patient_id, p.issuer, p.bsn, p.patient_name, p.birth_date, p.sex,
  st.study_instance_uid, st.study_date, st.study_time, st.accession_number, st.study_description,
  st.referring_physician_name, st.study_id,
  se.series_instance_uid, se.modality, se.series_number, se.series_description, se.body_part_examined,
  i.sop_instance_uid, i.sop_class_uid, i.instance_number, i.transfer_syntax_uid, i.blob_id, i.size, i.sha256,
  i.dataset_offset, i.received_at, i.via, i.calling_ae_title, i.remote_address`;

export const ALL_LEVELS_FROM = `FROM instances i JOIN series se ON se.pk = i.series_pk
  JOIN studies st ON st.pk = se.study_pk JOIN patients p ON p.pk = st.patient_pk`;

export function text(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function requiredText(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function int(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return null;
}

export function storedInstanceOf(r: Row): StoredInstance {
  return {
    patient: {
      patientId: requiredText(r.patient_id),
      issuerOfPatientId: text(r.issuer),
      bsn: text(r.bsn),
      patientName: text(r.patient_name),
      birthDate: text(r.birth_date),
      sex: text(r.sex),
    },
    study: {
      studyInstanceUid: requiredText(r.study_instance_uid),
      studyDate: text(r.study_date),
      studyTime: text(r.study_time),
      accessionNumber: text(r.accession_number),
      studyDescription: text(r.study_description),
      referringPhysicianName: text(r.referring_physician_name),
      studyId: text(r.study_id),
    },
    series: {
      seriesInstanceUid: requiredText(r.series_instance_uid),
      modality: text(r.modality),
      seriesNumber: int(r.series_number),
      seriesDescription: text(r.series_description),
      bodyPartExamined: text(r.body_part_examined),
    },
    instance: {
      sopInstanceUid: requiredText(r.sop_instance_uid),
      sopClassUid: requiredText(r.sop_class_uid),
      instanceNumber: int(r.instance_number),
      transferSyntaxUid: requiredText(r.transfer_syntax_uid),
    },
    provenance: {
      receivedAt: requiredText(r.received_at),
      via: requiredText(r.via),
      callingAeTitle: text(r.calling_ae_title),
      remoteAddress: text(r.remote_address),
    },
    blob: { blobId: requiredText(r.blob_id), size: int(r.size) ?? 0, sha256: requiredText(r.sha256) },
    datasetOffset: int(r.dataset_offset) ?? 0,
  };
}
