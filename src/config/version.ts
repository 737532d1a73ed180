import { readFileSync } from 'node:fs';

/** This installation's version, from its package.json: what `--version` and the API description say. */
export const BEELDBRUG_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
