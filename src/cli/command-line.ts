// What the command line itself needs before any command runs: the names of the configuration files and the parsers of
// option values. Light on purpose (commander only): `beeldbrug --help` and a mistyped option answer without loading the
// node (program.ts loads each command's module when that command runs).
import { InvalidArgumentError } from 'commander';
import type { TemplateValues } from '../config/index.ts';

export const CONFIG_FILE_NAME = 'beeldbrug.yaml';
export const REGISTRY_CONFIG_FILE_NAME = 'registry.yaml';

/** "90s", "10m", "2h" or a number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h)?$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  return m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : n;
}

/** `AE@host:port` or `AE@host` on the command line; a commander argument parser, so a mistake is a usage error. */
export function parsePeerOption(text: string): TemplateValues['peers'][number] {
  const m = /^([^@]{1,16})@([^:@]+)(?::(\d{1,5}))?$/.exec(text);
  if (m === null || m[1] === undefined || m[2] === undefined) {
    throw new InvalidArgumentError(
      'write the PACS or modality as AE@host or AE@host:port, for example PACS@10.0.0.5:104 (an AE title is at most 16 characters)',
    );
  }
  return {
    aeTitle: m[1],
    host: m[2],
    ...(m[3] !== undefined ? { port: Number(m[3]) } : {}),
    description: 'added by beeldbrug init',
  };
}

export const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected a whole number (0, 1, 2, ...)');
  return n;
};

export const durationOption = (v: string): number => {
  const seconds = parseDuration(v);
  if (seconds === undefined || seconds <= 0) throw new InvalidArgumentError('expected a time such as 90s, 10m or 2h');
  return seconds;
};

export const portNumber =
  (lowest: 0 | 1) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < lowest || n > 65535)
      throw new InvalidArgumentError(`a TCP port is a number from ${lowest} to 65535`);
    return n;
  };

export const uraNumber = (v: string): string => {
  if (!/^\d{8}$/.test(v))
    throw new InvalidArgumentError('a URA number (UZI register) is 8 digits, for example 12345678');
  return v;
};

export const repeatable =
  <T>(parse: (v: string) => T) =>
  (v: string, acc: T[]): T[] => [...acc, parse(v)];

/** `--client URA:name` of registry init. */
export function registryClient(v: string): { ura: string; name: string } {
  const m = /^(\d{8}):(.+)$/.exec(v);
  if (m?.[1] === undefined || m[2] === undefined)
    throw new InvalidArgumentError(
      'write an organization as its 8-digit URA, a colon and its name, for example 10000001:"Ziekenhuis Noord"',
    );
  return { ura: m[1], name: m[2] };
}
