import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BeeldbrugError, ErrorCatalog, type ErrorCode } from '../errors/index.ts';
import { problemForError, problemType } from './problem-details.ts';

function recorder(): { lines: unknown[]; error: (obj: unknown, msg?: string) => void } {
  const lines: unknown[] = [];
  return { lines, error: (obj: unknown) => void lines.push(obj) };
}

test('every catalog code maps to an HTTP error status and a problem type', () => {
  for (const [code, entry] of Object.entries(ErrorCatalog)) {
    assert.ok(Number.isInteger(entry.http) && entry.http >= 400 && entry.http <= 599, `${code}: ${entry.http}`);
    assert.ok(entry.summary.length > 0, code);
    assert.match(problemType(code as ErrorCode), /^https:\/\/beeldbrug\.nl\/problems\/[a-z0-9-]+$/);
  }
});

test('an unknown error answers a generic 500 and its details go to the log only', () => {
  const log = recorder();
  const p = problemForError(
    new Error('SQLITE_CONSTRAINT: UNIQUE failed at /srv/beeldbrug/src/store.ts:12'),
    'req-7',
    log as never,
  );
  assert.equal(p.status, 500);
  assert.equal(p.code, 'INTERNAL');
  assert.equal(p.detail, 'an unexpected error; details are in the node log');
  assert.doesNotMatch(JSON.stringify(p), /SQLITE|store\.ts|srv/);
  assert.equal(log.lines.length, 1);
  assert.equal((log.lines[0] as { requestId: string }).requestId, 'req-7');
});

test('a BeeldbrugError answers its own code, catalog status and message', () => {
  const log = recorder();
  const p = problemForError(
    new BeeldbrugError('PARTNER_UNKNOWN', 'organization 123 is not a partner'),
    'r1',
    log as never,
  );
  assert.deepEqual(
    [p.status, p.code, p.detail, p.title],
    [404, 'PARTNER_UNKNOWN', 'organization 123 is not a partner', ErrorCatalog.PARTNER_UNKNOWN.summary],
  );
  assert.equal(log.lines.length, 0);
});

test('fastify client errors are reworded', () => {
  const log = recorder();
  const tooLarge = Object.assign(new Error('Request body is too large'), {
    code: 'FST_ERR_CTP_BODY_TOO_LARGE',
    statusCode: 413,
  });
  assert.deepEqual(
    [problemForError(tooLarge, 'r', log as never).code, problemForError(tooLarge, 'r', log as never).status],
    ['BODY_TOO_LARGE', 413],
  );
  const invalid = Object.assign(new Error('body/x must be string'), { validation: [], statusCode: 400 });
  assert.equal(problemForError(invalid, 'r', log as never).code, 'REQUEST_INVALID');
  assert.doesNotMatch(JSON.stringify(problemForError(invalid, 'r', log as never)), /must be string/);
});
