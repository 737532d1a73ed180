import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { CommanderError, InvalidArgumentError } from 'commander';
import { ConfigInvalidError } from '../config/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import { exitCodeOf, jsonErrorOf, reportError, wantsJson } from './cli-output.ts';

test('exit codes: 0 for help and version, 2 for the command line, 1 for everything that failed', () => {
  const cases: [unknown, number][] = [
    [new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), 0],
    [new CommanderError(0, 'commander.version', '0.1.0'), 0],
    [new CommanderError(0, 'commander.help', '(outputHelp)'), 0],
    [new CommanderError(1, 'commander.help', '(outputHelp)'), 2],
    [new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), 2],
    [new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'dir'"), 2],
    [new InvalidArgumentError('a URA number is 8 digits'), 2],
    [new BeeldbrugError('COMMAND_LINE_INVALID', 'init wrote nothing'), 2],
    [new BeeldbrugError('CONFIG_NOT_FOUND', 'no such file'), 1],
    [new BeeldbrugError('ACCOUNT_INVALID', 'a password has at least 12 characters'), 1],
    [new Error('a bug'), 1],
    ['not even an Error', 1],
  ];
  for (const [err, code] of cases) assert.equal(exitCodeOf(err), code, String(err));
});

test('an error as JSON: the catalog code and meaning, the detail, the exit code, and config issues by key path', () => {
  assert.deepEqual(jsonErrorOf(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'")), {
    code: 'COMMAND_LINE_INVALID',
    title:
      'the command line is not valid: an unknown command or option, a missing or invalid value (the CLI exits 2; --help shows the usage)',
    detail: "unknown option '--x'",
    exitCode: 2,
  });
  const invalid = jsonErrorOf(
    new ConfigInvalidError('configuration', 'x.yaml', [
      { path: 'dimse.aeTitel', message: 'unknown key; did you mean aeTitle?' },
    ]),
  );
  assert.deepEqual(invalid.issues, [{ path: 'dimse.aeTitel', message: 'unknown key; did you mean aeTitle?' }]);
  assert.equal(invalid.code, 'CONFIG_INVALID');
  const bug = jsonErrorOf(new TypeError('x is undefined'));
  assert.equal(bug.code, 'INTERNAL');
  assert.equal(bug.detail, 'x is undefined');
  assert.match(bug.stack ?? '', /TypeError: x is undefined/);
});

test('reportError writes one JSON document with --json, the operator line without, and nothing for a help request', () => {
  const read = (err: unknown, json: boolean, shown = false): string => {
    const out = new PassThrough();
    reportError(err, json, out, shown);
    out.end();
    return String(out.read() ?? '');
  };
  assert.equal(
    read(new BeeldbrugError('CONFIG_NOT_FOUND', 'no such file'), false),
    'beeldbrug: CONFIG_NOT_FOUND: no such file\n',
  );
  assert.equal(
    (JSON.parse(read(new BeeldbrugError('CONFIG_NOT_FOUND', 'no such file'), true)) as { code: string }).code,
    'CONFIG_NOT_FOUND',
  );
  assert.equal(read(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), true), '');
  assert.equal(
    read(new CommanderError(1, 'commander.unknownOption', 'error: unknown option'), false, true),
    '',
    'commander printed it already',
  );
  assert.equal(
    read(new InvalidArgumentError('wants URA:name'), false),
    'beeldbrug: COMMAND_LINE_INVALID: wants URA:name\n',
    'thrown by an action: not printed yet',
  );
});

test('--json counts only before a --', () => {
  assert.equal(wantsJson(['node', 'main.ts', 'doctor', '--config', 'x', '--json']), true);
  assert.equal(wantsJson(['node', 'main.ts', 'doctor', '--config', 'x']), false);
  assert.equal(wantsJson(['node', 'main.ts', 'synth', '--', '--json']), false);
});
