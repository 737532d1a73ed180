import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import ZipStream from 'zip-stream';
import type { Deidentifier } from '../deid/index.ts';
import { encodePart10, HeaderReader, isDocumentSopClass, readPart10, Tag } from '../dicom/index.ts';
import type { ReleasedInstance } from '../studies/index.ts';
import { DIRECTORY_TAGS, type DirectoryEntry, dicomdir, directoryKeysOf } from './dicomdir.ts';
import { OFFLINE_VIEWER_NAME } from './offline-viewer.ts';
import { type ReportPdf, reportPdf } from './report-pdf.ts';

/** Where the reports go as PDF, beside the DICOM folder: readable without a DICOM viewer. */
const REPORTS_FOLDER = 'VERSLAGEN';

/** A share's zip as it streams, and where its pieces go once their bytes are sent (or copied). */
export interface ShareZip {
  stream: Readable;
  /** A piece of `stream` its consumer is done with: its memory serves the store's next reads. */
  done(piece: Buffer): void;
}

/** How much of a file the header reader is given at a time, as a copy. */
const HEADER_PIECE = 64 * 1024;

/** What the zip says to its recipient beside the files: who sent it, and how to open it. */
export interface ZipTexts {
  hospital: string;
  /** The hospital's disclaimer, also shown before the download. */
  disclaimer: string;
  /** The offline viewer page (see offline-viewer.ts), when the web app is built. */
  viewer?: string | undefined;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** The instances in the order a viewer and DICOMDIR list them: study as shared, then series and instance number. */
function ordered(instances: readonly ReleasedInstance[]): ReleasedInstance[] {
  const studyOrder = new Map<string, number>();
  for (const i of instances)
    if (!studyOrder.has(i.stored.study.studyInstanceUid))
      studyOrder.set(i.stored.study.studyInstanceUid, studyOrder.size);
  const key = (i: ReleasedInstance): [number, number, string, number] => [
    studyOrder.get(i.stored.study.studyInstanceUid) ?? 0,
    i.stored.series.seriesNumber ?? Number.MAX_SAFE_INTEGER,
    i.stored.series.seriesInstanceUid,
    i.stored.instance.instanceNumber ?? Number.MAX_SAFE_INTEGER,
  ];
  return [...instances].sort((a, b) => {
    const [a1, a2, a3, a4] = key(a);
    const [b1, b2, b3, b4] = key(b);
    return a1 - b1 || a2 - b2 || a3.localeCompare(b3) || a4 - b4;
  });
}

/** What de-identification left for the recipient to know: reports left out, series that may show text in the pixels. */
interface DeidSummary {
  reportsLeftOut: number;
  textInPixels: Set<string>;
}

/**
 * A share as a zip, streamed as it is written (never whole in memory or on disk): the DICOM files in the standard
 * media layout (DICOM/ST001/SE001/IM00001, PS3.10 8.5: at most 8 characters per component, no extension), a DICOMDIR
 * that lists them (written last, from each file's own header, read on the way through), the reports as PDF in
 * VERSLAGEN (an encapsulated PDF as stored, a structured report rendered), and a LEESMIJ.TXT. Files are
 * stored, not deflated: images hardly shrink, and a recipient's download should not wait on compression.
 *
 * With a de-identifier, each instance is read whole (one at a time), de-identified and written anew; reports (SR and
 * encapsulated documents) are left out, as their free text cannot be de-identified mechanically.
 */
export function shareZip(
  instances: readonly ReleasedInstance[],
  texts: ZipTexts,
  deidentifier?: Deidentifier,
): ShareZip {
  const zip = new ZipStream({ store: true });
  /** The stored files' pieces, by their memory, with the instance whose store may have it back. */
  const owners = new WeakMap<ArrayBufferLike, ReleasedInstance>();
  const entry = (source: Readable | Buffer, name: string): Promise<void> =>
    new Promise((resolve, reject) => {
      zip.entry(source, { name, store: true, date: new Date() }, (err) => (err !== null ? reject(err) : resolve()));
    });
  // The next file is read while this one goes out: the reader thread and the event loop work side by side instead of in
  // turns (one file ahead; each is a piece or two). A zip given up on lets go of it.
  let ahead: { i: ReleasedInstance; file: Readable } | undefined;
  zip.on('close', () => ahead?.file.destroy());
  const fill = async (): Promise<void> => {
    const entries: DirectoryEntry[] = [];
    const studies = new Map<string, number>();
    const series = new Map<string, { number: number; images: number }>();
    const reports: ReportPdf[] = [];
    const deid: DeidSummary | undefined =
      deidentifier !== undefined ? { reportsLeftOut: 0, textInPixels: new Set() } : undefined;
    const all = ordered(instances);
    for (const [k, i] of all.entries()) {
      const s = i.stored;
      if (deid !== undefined && isDocumentSopClass(s.instance.sopClassUid)) {
        deid.reportsLeftOut++;
        continue;
      }
      if (!studies.has(s.study.studyInstanceUid)) studies.set(s.study.studyInstanceUid, studies.size + 1);
      const seriesKey = s.series.seriesInstanceUid;
      let se = series.get(seriesKey);
      if (se === undefined) {
        se = { number: series.size + 1, images: 0 };
        series.set(seriesKey, se);
      }
      se.images++;
      const fileId = [
        'DICOM',
        `ST${pad(studies.get(s.study.studyInstanceUid) ?? 0, 3)}`,
        `SE${pad(se.number, 3)}`,
        `IM${pad(se.images, 5)}`,
      ];
      if (deidentifier !== undefined && deid !== undefined) {
        const { dataset, transferSyntaxUid } = readPart10(await buffer(i.openFile()));
        if (deidentifier.apply(dataset).burnedIn !== 'no')
          deid.textInPixels.add(`${fileId[1]}/${fileId[2]} (${s.series.modality ?? '?'})`);
        await entry(Readable.from(encodePart10(dataset, transferSyntaxUid)), fileId.join('/'));
        entries.push({
          fileId,
          sopClassUid: s.instance.sopClassUid,
          sopInstanceUid: dataset.string(Tag.SOPInstanceUID) ?? '',
          transferSyntaxUid,
          header: directoryKeysOf(dataset),
        });
        continue;
      }
      // A report's header is read whole (its text goes into the PDF); of an image, only what the DICOMDIR copies.
      const reader = new HeaderReader(
        s.instance.transferSyntaxUid,
        isDocumentSopClass(s.instance.sopClassUid) ? {} : { keep: DIRECTORY_TAGS },
      );
      const file = ahead?.i === i ? ahead.file : (i.openFile() as Readable);
      const next = all[k + 1];
      ahead = next !== undefined ? { i: next, file: next.openFile() as Readable } : undefined;
      ahead?.file.read(0);
      const own = (piece: Buffer): void => void owners.set(piece.buffer, i);
      await entry(Readable.from(teeHeader(file, s.datasetOffset, reader, own)), fileId.join('/'));
      const header = reader.end();
      entries.push({
        fileId,
        sopClassUid: s.instance.sopClassUid,
        sopInstanceUid: s.instance.sopInstanceUid,
        transferSyntaxUid: s.instance.transferSyntaxUid,
        header: directoryKeysOf(header),
      });
      if (isDocumentSopClass(s.instance.sopClassUid)) {
        const report = await reportPdf(header, texts.hospital);
        if (report !== undefined) reports.push(report);
      }
    }
    await entry(dicomdir(entries, 'BEELDBRUG'), 'DICOMDIR');
    const names = new Set<string>();
    for (const r of reports) {
      // Two reports of one day and kind get a number, not one in place of the other.
      let name = r.fileName;
      for (let n = 2; names.has(name); n++) name = r.fileName.replace(/\.pdf$/, ` (${n}).pdf`);
      names.add(name);
      await entry(r.pdf, `${REPORTS_FOLDER}/${name}`);
    }
    if (texts.viewer !== undefined) await entry(Buffer.from(texts.viewer, 'utf8'), OFFLINE_VIEWER_NAME);
    await entry(Buffer.from(readme(texts, entries.length, reports.length, deid), 'utf8'), 'LEESMIJ.TXT');
    zip.finalize();
  };
  void fill().catch((err: unknown) => {
    ahead?.file.destroy();
    zip.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return {
    stream: zip as unknown as Readable,
    // By the piece's memory: the zip's streams may pass on another view of it.
    done: (piece) => owners.get(piece.buffer)?.giveBack(piece),
  };
}

/** The file's bytes as they go into the zip; its data set's header is read from them on the way (for the DICOMDIR). */
async function* teeHeader(
  file: Readable,
  datasetOffset: number,
  header: HeaderReader,
  own: (piece: Buffer) => void,
): AsyncGenerator<Buffer> {
  let skip = datasetOffset;
  for await (const chunk of file as AsyncIterable<Buffer>) {
    // The header reader gets copies (a header is a few KB): once sent, nothing here holds on to the piece.
    for (let at = Math.min(skip, chunk.length); !header.done && at < chunk.length; at += HEADER_PIECE)
      header.push(Buffer.from(chunk.subarray(at, at + HEADER_PIECE)));
    skip = Math.max(0, skip - chunk.length);
    own(chunk);
    yield chunk;
  }
}

function readme(t: ZipTexts, files: number, reports: number, deid: DeidSummary | undefined): string {
  const deidText =
    deid === undefined
      ? []
      : [
          'De beelden zijn gede-identificeerd volgens het Basic Profile van DICOM (PS3.15 bijlage E): naam,',
          'patientnummer, geboortedatum en andere gegevens die de patient herkenbaar maken zijn eruit gehaald.',
          ...(deid.reportsLeftOut > 0
            ? [
                `${deid.reportsLeftOut} verslag(en) zijn niet meegestuurd: vrije tekst is niet automatisch te ontdoen van namen.`,
              ]
            : []),
          ...(deid.textInPixels.size > 0
            ? [
                'Let op: in deze series kan tekst in het beeld zelf staan (bijvoorbeeld een naam of datum), die niet is verwijderd:',
                ...[...deid.textInPixels].map((s) => `  ${s}`),
              ]
            : []),
          '',
        ];
  return [
    `Medische beelden van ${t.hospital}`,
    '',
    `Deze map bevat ${files} DICOM-bestanden in de map DICOM, met een DICOMDIR die ze opsomt.`,
    'Een DICOM-viewer (bijvoorbeeld die van uw ziekenhuis of huisarts) opent de DICOMDIR en toont de beelden.',
    ...(t.viewer !== undefined
      ? [
          `Zonder DICOM-viewer: pak de zip uit, open ${OFFLINE_VIEWER_NAME} in uw browser en kies de uitgepakte map.`,
          'De beelden blijven dan op uw computer.',
        ]
      : []),
    ...(reports > 0 ? [`De map ${REPORTS_FOLDER} bevat de verslagen als PDF, te openen zonder DICOM-viewer.`] : []),
    '',
    ...deidText,
    t.disclaimer,
    '',
  ].join('\r\n');
}
