import { type Dataset, Tag } from '../dicom/index.ts';
import { reportLinesOf } from '../studies/index.ts';

const ENCAPSULATED_PDF = '1.2.840.10008.5.1.4.1.1.104.1';

/** A report of a share as a PDF a recipient opens without a DICOM viewer: its name in the zip, and its bytes. */
export interface ReportPdf {
  /** "2014-06-18 MRI hersenen.pdf": the study's date and what it is, as a person would name the file. */
  fileName: string;
  pdf: Buffer;
}

const dicomDate = (da: string | undefined): string =>
  da !== undefined && /^\d{8}$/.test(da) ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` : '';

const personName = (pn: string | undefined): string => {
  const [family = '', given = ''] = (pn ?? '').split('=')[0]!.split('^');
  return [given, family].filter((s) => s !== '').join(' ');
};

/** A file name that every zip tool and file system takes: no path separators or control characters, not too long. */
const safeName = (s: string): string =>
  s
    .replace(/[\\/:*?"<>|\p{Cc}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 80);

/**
 * The PDF of a report instance: an encapsulated PDF as it was stored (PS3.3 A.45: Encapsulated Document, its padding
 * taken off by its length), a structured report rendered from its content tree (title, patient, study, the text). Any
 * other instance has none.
 */
export async function reportPdf(ds: Dataset, hospital: string): Promise<ReportPdf | undefined> {
  const sopClass = ds.string(Tag.SOPClassUID);
  const date = dicomDate(ds.string(Tag.StudyDate) ?? ds.string(Tag.ContentDate));
  const what = ds.string(Tag.StudyDescription) ?? ds.string(Tag.DocumentTitle) ?? 'verslag';
  const fileName = `${safeName(`${date} ${what}`) || 'verslag'}.pdf`;
  if (sopClass === ENCAPSULATED_PDF) {
    const bytes = ds.get(Tag.EncapsulatedDocument)?.bytes;
    if (bytes === undefined) return undefined;
    const length = ds.number(Tag.EncapsulatedDocumentLength);
    return { fileName, pdf: length !== undefined && length <= bytes.length ? bytes.subarray(0, length) : bytes };
  }
  const lines = reportLinesOf(ds);
  if (lines.length === 0) return undefined;
  const title = ds.items(Tag.ConceptNameCodeSequence)[0]?.string(Tag.CodeMeaning) ?? 'Verslag';
  return { fileName, pdf: await renderPdf(title, hospital, ds, lines) };
}

async function renderPdf(title: string, hospital: string, ds: Dataset, lines: readonly string[]): Promise<Buffer> {
  // Loaded when the first structured report is rendered: its fonts cost memory a node that never renders one keeps.
  const { default: PDFDocument } = await import('pdfkit');
  const doc = new PDFDocument({ size: 'A4', margin: 56, info: { Title: title, Producer: 'Beeldbrug' } });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.font('Helvetica-Bold').fontSize(16).text(title);
  doc.font('Helvetica').fontSize(10).fillColor('#555555').text(hospital).moveDown();
  const facts: [string, string][] = [
    ['Patiënt', personName(ds.string(Tag.PatientName))],
    ['Geboortedatum', dicomDate(ds.string(Tag.PatientBirthDate))],
    ['Onderzoek', ds.string(Tag.StudyDescription) ?? ''],
    ['Datum', dicomDate(ds.string(Tag.StudyDate))],
    ['Accessienummer', ds.string(Tag.AccessionNumber) ?? ''],
  ];
  doc.fillColor('#000000');
  for (const [k, v] of facts)
    if (v !== '') doc.font('Helvetica-Bold').text(`${k}: `, { continued: true }).font('Helvetica').text(v);
  doc.moveDown().fontSize(11);
  for (const line of lines) doc.text(line, { paragraphGap: 4 });
  doc.end();
  return done;
}
