// The launcher runs the node's modules as JavaScript stripped of their types once (bin/javascript-cache.mjs): what it
// keeps, that it runs what it kept, that a source's file is named by its digest, and that a cache it may not write
// costs nothing but the stripping.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { test } from 'node:test';
import { run } from './support/processes.ts';
import { tempDir } from './support/tmp.ts';

const repo = resolve(import.meta.dirname, '..');
const launcher = join(repo, 'bin/beeldbrug');
const cacheFileOf = (dir: string, source: string): string =>
  join(dir, `${createHash('sha256').update(source).digest('base64url')}.js`);
const mainSource = readFileSync(join(repo, 'src/main.ts'), 'utf8');
const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;

function launch(cache: string, args: readonly string[]): ReturnType<typeof run> {
  return run(launcher, args, 120_000, { env: { ...process.env, BEELDBRUG_JAVASCRIPT_CACHE: cache } });
}

test('a start keeps each module it loads as stripped JavaScript, private, and the next start runs what was kept', async (t) => {
  const cache = join(tempDir(t), 'javascript');
  const first = await launch(cache, ['--version']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim(), version);
  assert.equal(statSync(cache).mode & 0o777, 0o700);
  const kept = readdirSync(cache);
  assert.ok(kept.length > 10, `${kept.length} modules kept`);
  for (const name of kept) assert.equal(statSync(join(cache, name)).mode & 0o777, 0o600, name);
  const mainFile = cacheFileOf(cache, mainSource);
  // The types blanked out, every line where it was: stack traces point into the source.
  assert.equal(readFileSync(mainFile, 'utf8'), stripTypeScriptTypes(mainSource));

  // What the cache holds is what runs (which is why an installation's cache is as read-only as the program).
  writeFileSync(mainFile, 'console.log("from the cache");\n');
  const second = await launch(cache, ['--version']);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout.trim(), 'from the cache');
});

test('a cache the process may not write leaves the node working, stripped in memory', async (t) => {
  const dir = tempDir(t);
  const notAFolder = join(dir, 'a-file');
  writeFileSync(notAFolder, '');
  const r = await launch(join(notAFolder, 'javascript'), ['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
  assert.equal(r.stderr, '');
});

test('preparing at install strips every module of the node, drops what no source needs any more, and says when it cannot', async (t) => {
  const dir = tempDir(t);
  const prepare = (cache: string): ReturnType<typeof run> =>
    run(
      join(repo, 'node_modules/.bin/node'),
      ['--disable-warning=ExperimentalWarning', join(repo, 'bin/javascript-cache.mjs')],
      120_000,
      { env: { ...process.env, BEELDBRUG_JAVASCRIPT_CACHE: cache } },
    );
  const cache = join(dir, 'javascript');
  const first = await prepare(cache);
  assert.equal(first.code, 0, first.stderr);
  const modules = readdirSync(cache);
  assert.match(first.stdout, new RegExp(`^${modules.length} modules stripped of their types in `));
  assert.ok(modules.includes(basename(cacheFileOf(cache, mainSource))));
  // Part of the program, which the node's own user reads.
  assert.equal(statSync(join(cache, modules[0]!)).mode & 0o777, 0o644);
  writeFileSync(join(cache, 'an-old-source.js'), '');
  assert.equal((await prepare(cache)).code, 0);
  assert.deepEqual(readdirSync(cache), modules);

  writeFileSync(join(dir, 'a-file'), '');
  const refused = await prepare(join(dir, 'a-file', 'javascript'));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /could not write the stripped modules into .*: the node will strip them at every start/);
});
