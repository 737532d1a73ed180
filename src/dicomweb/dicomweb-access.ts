import type { FastifyRequest } from 'fastify';
import { Dataset, Tag } from '../dicom/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { actingAccessor } from '../http/index.ts';
import type { PatientData, PatientDataAccess, ReleasedInstance } from '../studies/index.ts';

export type Path = { study?: string; series?: string; instance?: string };

export interface AccessDeps {
  patientData: PatientData;
  /** This node's name, the audit records' access point. */
  node: string;
}

/** The access a DICOMweb request acts through: the signed-in person, or one of our systems, from where they called. */
export function accessFor(d: AccessDeps, req: FastifyRequest, purpose: 'query' | 'retrieve'): PatientDataAccess {
  return d.patientData.open({
    ...actingAccessor(req.acting),
    accessPoint: { node: d.node, ip: req.ip },
    purpose,
    authorization: 'DICOMweb, signed in',
  });
}

/** The C-FIND/C-MOVE identifier for the study, series or instance a path names. */
export function identifierOf(p: Path): Dataset {
  const identifier = new Dataset().set(Tag.SpecificCharacterSet, 'CS', 'ISO_IR 192');
  identifier.set(
    Tag.QueryRetrieveLevel,
    'CS',
    p.instance !== undefined ? 'IMAGE' : p.series !== undefined ? 'SERIES' : 'STUDY',
  );
  if (p.study !== undefined) identifier.set(Tag.StudyInstanceUID, 'UI', p.study);
  if (p.series !== undefined) identifier.set(Tag.SeriesInstanceUID, 'UI', p.series);
  if (p.instance !== undefined) identifier.set(Tag.SOPInstanceUID, 'UI', p.instance);
  return identifier;
}

/** The instances a WADO-RS path names, released through the access that records the retrieval. */
export async function releasedInPath(
  d: AccessDeps,
  req: FastifyRequest<{ Params: Path }>,
  what: string,
  path: Path = req.params,
  o: { viewing?: boolean } = {},
): Promise<ReleasedInstance[]> {
  const found = await accessFor(d, req, 'retrieve').retrieve(identifierOf(path), 'study-root', what, o);
  // The path names the study (and series): an instance of another study under this path is not it.
  const inPath = found.filter(
    (i) =>
      (path.study === undefined || i.stored.study.studyInstanceUid === path.study) &&
      (path.series === undefined || i.stored.series.seriesInstanceUid === path.series),
  );
  if (inPath.length === 0) throw new BeeldbrugError('NOT_FOUND', 'no such study, series or instance here');
  return inPath;
}
