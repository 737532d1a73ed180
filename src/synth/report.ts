/**
 * The radiology report that goes into every synthetic study: a Basic Text SR (PS3.3 A.35.1, content tree per
 * C.17.3: a CONTAINER root with CONTAINER headings holding TEXT items) or an Encapsulated PDF (PS3.3 A.45.1).
 */
import { codeItem, Dataset, SopClass, studyEvidence, Tag } from '../dicom/index.ts';
import { makePdf } from './pdf.ts';
import type { Rng } from './random.ts';
import { instanceHeader, type PatientInfo, type SeriesInfo, type StudyInfo } from './study-header.ts';

export interface ReportText {
  title: string;
  findings: string;
  conclusion: string;
  radiologist: string;
}

/** What a report lists as its evidence: the study's images by series. */
export interface EvidenceSeries {
  seriesInstanceUid: string;
  instances: { sopClassUid: string; sopInstanceUid: string }[];
}

const FINDINGS: Readonly<Record<string, readonly string[]>> = {
  CT: [
    'Geen aanwijzingen voor longembolie.',
    'Kleine noduli in de rechter bovenkwab, max. 4 mm.',
    'Geen vrij vocht, geen lymfadenopathie.',
    'Normale aspect van lever, milt en nieren.',
  ],
  MR: [
    'Geen diffusierestrictie.',
    'Enkele aspecifieke witte-stof-afwijkingen.',
    'Intacte kruisbanden, geen meniscusscheur.',
    'Geen intracraniële ruimte-innemende processen.',
  ],
  CR: ['Normale hartgrootte.', 'Geen consolidaties of pleuravocht.', 'Geen pneumothorax.'],
  DX: ['Normale hartgrootte.', 'Geen consolidaties of pleuravocht.', 'Geen fractuur zichtbaar.'],
};
const CONCLUSIONS = [
  'Geen afwijkingen.',
  'Geen acute pathologie.',
  'Controle over 12 maanden geadviseerd.',
  'Bevindingen passend bij leeftijd.',
];

export function reportText(rng: Rng, modality: string, description: string, radiologist: string): ReportText {
  const options = FINDINGS[modality] ?? FINDINGS['CT'] ?? [];
  const findings = [rng.pick(options), rng.pick(options)].filter((v, i, a) => a.indexOf(v) === i).join(' ');
  return { title: `Verslag ${description}`, findings, conclusion: rng.pick(CONCLUSIONS), radiologist };
}

function textItem(conceptValue: string, meaning: string, text: string): Dataset {
  return new Dataset()
    .set(Tag.RelationshipType, 'CS', 'CONTAINS')
    .set(Tag.ValueType, 'CS', 'TEXT')
    .set(Tag.ConceptNameCodeSequence, 'SQ', [codeItem(conceptValue, 'DCM', meaning)])
    .set(Tag.TextValue, 'UT', text);
}

function heading(conceptValue: string, meaning: string, children: Dataset[]): Dataset {
  return new Dataset()
    .set(Tag.RelationshipType, 'CS', 'CONTAINS')
    .set(Tag.ValueType, 'CS', 'CONTAINER')
    .set(Tag.ConceptNameCodeSequence, 'SQ', [codeItem(conceptValue, 'DCM', meaning)])
    .set(Tag.ContinuityOfContent, 'CS', 'SEPARATE')
    .set(Tag.ContentSequence, 'SQ', children);
}

export function basicTextSr(
  p: PatientInfo,
  s: StudyInfo,
  series: SeriesInfo,
  sopInstanceUid: string,
  text: ReportText,
  referenced: readonly EvidenceSeries[],
): Dataset {
  return instanceHeader(p, s, series, SopClass.BasicTextSRStorage, sopInstanceUid)
    .set(Tag.InstanceNumber, 'IS', 1)
    .set(Tag.ReferencedPerformedProcedureStepSequence, 'SQ', [])
    .set(Tag.ValueType, 'CS', 'CONTAINER')
    .set(Tag.ConceptNameCodeSequence, 'SQ', [codeItem('18748-4', 'LN', 'Diagnostic imaging report')])
    .set(Tag.ContinuityOfContent, 'CS', 'SEPARATE')
    .set(Tag.CompletionFlag, 'CS', 'COMPLETE')
    .set(Tag.VerificationFlag, 'CS', 'VERIFIED')
    .set(Tag.VerifyingObserverSequence, 'SQ', [
      new Dataset()
        .set(Tag.VerifyingOrganization, 'LO', s.institution)
        .set(Tag.VerificationDateTime, 'DT', `${s.studyDate}${series.seriesTime}`)
        .set(Tag.VerifyingObserverName, 'PN', text.radiologist)
        .set(Tag.VerifyingObserverIdentificationCodeSequence, 'SQ', []),
    ])
    .set(Tag.CurrentRequestedProcedureEvidenceSequence, 'SQ', [studyEvidence(s.studyInstanceUid, referenced)])
    .set(Tag.PerformedProcedureCodeSequence, 'SQ', [])
    .set(Tag.ContentSequence, 'SQ', [
      heading('121070', 'Findings', [textItem('121071', 'Finding', text.findings)]),
      heading('121076', 'Conclusions', [textItem('121077', 'Conclusion', text.conclusion)]),
    ]);
}

export function encapsulatedPdf(
  p: PatientInfo,
  s: StudyInfo,
  series: SeriesInfo,
  sopInstanceUid: string,
  text: ReportText,
): Dataset {
  const pdf = makePdf(text.title, [
    `Patient: ${p.name.replace('^', ', ')}   Geboortedatum: ${p.birthDate}   BSN: ${p.bsn}`,
    `Onderzoek: ${s.description}   Datum: ${s.studyDate}   Accessienummer: ${s.accessionNumber}`,
    '',
    'Bevindingen:',
    text.findings,
    '',
    'Conclusie:',
    text.conclusion,
    '',
    `Radioloog: ${text.radiologist.replace('^', ', ')}`,
  ]);
  return instanceHeader(p, s, series, SopClass.EncapsulatedPDFStorage, sopInstanceUid)
    .set(Tag.ConversionType, 'CS', 'WSD')
    .set(Tag.InstanceNumber, 'IS', 1)
    .set(Tag.AcquisitionDateTime, 'DT', `${s.studyDate}${series.seriesTime}`)
    .set(Tag.BurnedInAnnotation, 'CS', 'YES')
    .set(Tag.DocumentTitle, 'ST', text.title)
    .set(Tag.ConceptNameCodeSequence, 'SQ', [codeItem('18748-4', 'LN', 'Diagnostic imaging report')])
    .set(Tag.MIMETypeOfEncapsulatedDocument, 'LO', 'application/pdf')
    .set(Tag.EncapsulatedDocumentLength, 'UL', pdf.length)
    .set(Tag.EncapsulatedDocument, 'OB', pdf);
}
