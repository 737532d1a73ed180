import { readFileSync } from 'node:fs';
import type { TlsFilesConfig } from '../config/index.ts';
import type { TlsOptions } from '../dimse/index.ts';
import { BeeldbrugError } from '../errors/index.ts';

/** Reads certificate, key and CA files named in the configuration; a missing file stops the start with its name. */
export function readTlsFiles(files: TlsFilesConfig): TlsOptions {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new BeeldbrugError('KEY_FILE_PROBLEM', `cannot read the ${what} ${path}: ${(cause as Error).message}`, { cause });
    }
  };
  return { cert: read('certificate', files.certFile), key: read('private key', files.keyFile), ca: read('CA certificate', files.caFile) };
}
