import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TlsFilesConfig } from '../config/index.ts';
import type { TlsOptions } from '../dimse/index.ts';
import { BeeldbrugError } from '../errors/index.ts';

/** Reads a key, certificate or secret file named in the configuration; a missing file stops the start with its name. */
export function readConfiguredFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new BeeldbrugError('KEY_FILE_PROBLEM', `cannot read the ${what} ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** Reads certificate, key and CA files named in the configuration. */
export function readTlsFiles(files: TlsFilesConfig): TlsOptions {
  return {
    cert: readConfiguredFile('certificate', files.certFile),
    key: readConfiguredFile('private key', files.keyFile),
    ca: readConfiguredFile('CA certificate', files.caFile),
  };
}

/** The PEM certificate an identity provider signs XUA assertions with; anything else stops the start. */
export function identityProviderCertificate(path: string, issuer: string): string {
  const pem = readConfiguredFile(`certificate of identity provider ${issuer}`, path).toString('utf8');
  try {
    new X509Certificate(pem);
  } catch (cause) {
    throw new BeeldbrugError('KEY_FILE_PROBLEM', `${path} is not a PEM certificate (identity provider ${issuer})`, {
      cause,
    });
  }
  return pem;
}
