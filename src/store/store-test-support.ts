import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FsBlobStore } from './fs-blob-store.ts';
import type { BlobStore, BlobRef, NewInstance } from './types.ts';

/** Test-only helpers shared by the store's tests (not exported from index.ts). */

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Reads until the stream ends or fails; returns what arrived before a failure, and the failure. */
export async function readUntilError(stream: NodeJS.ReadableStream): Promise<{ data: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
    return { data: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { data: Buffer.concat(chunks), error };
  }
}

/**
 * Temp files under `dataDir` of no blob being written (the spares that create() prepares for the next writes are being
 * written).
 */
export function strayTempFiles(dataDir: string, blobs: FsBlobStore): string[] {
  return readdirSync(join(dataDir, 'tmp')).filter((name) => !blobs.isInFlight(name.replace(/\.tmp$/, '')));
}

/** Writes `data` in chunks of the given sizes, cycling through them. */
export async function writeBlob(
  blobs: BlobStore,
  data: Buffer,
  chunkSizes: readonly number[] = [65536],
): Promise<BlobRef> {
  const w = await blobs.create();
  let at = 0;
  let n = 0;
  while (at < data.length) {
    const size = chunkSizes[n % chunkSizes.length] ?? 1;
    await w.write(data.subarray(at, at + size));
    at += size;
    n += 1;
  }
  return w.commit();
}

export function testKey(): Buffer {
  return randomBytes(32);
}

export function newInstance(
  o: {
    patientId?: string;
    issuer?: string | null;
    patientName?: string | null;
    birthDate?: string | null;
    study?: string;
    studyDate?: string | null;
    studyTime?: string | null;
    accession?: string | null;
    referring?: string | null;
    series?: string;
    modality?: string | null;
    seriesNumber?: number | null;
    sop?: string;
    sopClass?: string;
    instanceNumber?: number | null;
  } = {},
): NewInstance {
  return {
    patient: {
      patientId: o.patientId ?? 'P1',
      issuerOfPatientId: o.issuer === undefined ? 'HOSP' : o.issuer,
      bsn: null,
      patientName: o.patientName === undefined ? 'Jansen^Piet' : o.patientName,
      birthDate: o.birthDate === undefined ? '19700101' : o.birthDate,
      sex: 'M',
    },
    study: {
      studyInstanceUid: o.study ?? '1.2.3.1',
      studyDate: o.studyDate === undefined ? '20260101' : o.studyDate,
      studyTime: o.studyTime === undefined ? '101500' : o.studyTime,
      accessionNumber: o.accession === undefined ? 'ACC1' : o.accession,
      studyDescription: 'CT thorax',
      referringPhysicianName: o.referring === undefined ? 'de Vries^Anna' : o.referring,
      studyId: '1',
    },
    series: {
      seriesInstanceUid: o.series ?? '1.2.3.1.1',
      modality: o.modality === undefined ? 'CT' : o.modality,
      seriesNumber: o.seriesNumber === undefined ? 1 : o.seriesNumber,
      seriesDescription: 'axial',
      bodyPartExamined: 'CHEST',
    },
    instance: {
      sopInstanceUid: o.sop ?? '1.2.3.1.1.1',
      sopClassUid: o.sopClass ?? '1.2.840.10008.5.1.4.1.1.2',
      instanceNumber: o.instanceNumber === undefined ? 1 : o.instanceNumber,
      transferSyntaxUid: '1.2.840.10008.1.2.1',
    },
    provenance: {
      receivedAt: '2026-11-22T23:00:00.000Z',
      via: 'dimse',
      callingAeTitle: 'MODALITY',
      remoteAddress: '127.0.0.1',
    },
  };
}

export function fakeBlob(n: number): BlobRef {
  return { blobId: n.toString(16).padStart(32, '0'), size: 1000 + n, sha256: 'ab'.repeat(32) };
}
