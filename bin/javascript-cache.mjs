// @ts-check
// The node's TypeScript as JavaScript stripped once, for every thread of every start after.
//
// Node 22 strips types with a WebAssembly build of swc, instantiated anew in each thread that loads a .ts module and
// never freed (a node at rest with its worker threads: 213 MB with it, 192 MB without). The launcher preloads this
// module in every thread (`--import`), and each of the node's modules loads from a file of stripped JavaScript named by
// the digest of its source, so a changed source never runs stale. Stripping only blanks the types out, so lines and
// columns, and with them stack traces, stay as in the source.
//
// `npm ci` fills the cache (the package's prepare script runs this file); a start that finds a module missing strips
// it as Node would and keeps it if it may write here. The cache holds code the node runs: in an installation it is as
// read-only to the node's user as the program itself (it sits under node_modules, written at install).
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { threadId } from 'node:worker_threads';

const root = fileURLToPath(new URL('..', import.meta.url));
const sources = pathToFileURL(join(root, 'src')).href + '/';
const preparing = process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url;
// Prepared at install, the cache is part of the program and readable like the rest of it (the node's user reads what
// root wrote); what a running node adds is its own, private as every file the node writes.
const modes = preparing ? { dir: 0o755, file: 0o644 } : { dir: 0o700, file: 0o600 };
const cacheDir =
  process.env['BEELDBRUG_JAVASCRIPT_CACHE'] ?? join(root, 'node_modules', '.cache', 'beeldbrug-javascript');

/** @param {string} source */
const cacheFileOf = (source) => join(cacheDir, `${createHash('sha256').update(source).digest('base64url')}.js`);

/**
 * @param {string} source
 * @param {string} file where its stripped form is kept
 */
function javascriptOf(source, file = cacheFileOf(source)) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // Not kept yet, or a cache this user may not read.
  }
  const javascript = stripTypeScriptTypes(source);
  keep(file, javascript);
  return javascript;
}

/**
 * Written beside and renamed, so a node starting at the same time reads a whole file or none. A cache the process may
 * not write (an installation's, for the node's own user) is left as it is: the module runs from memory this time.
 * @param {string} file
 * @param {string} javascript
 */
function keep(file, javascript) {
  const part = `${file}.${process.pid}.${threadId}.part`;
  try {
    mkdirSync(cacheDir, { recursive: true, mode: modes.dir });
    writeFileSync(part, javascript, { mode: modes.file, flag: 'wx' });
    renameSync(part, file);
  } catch {
    try {
      unlinkSync(part);
    } catch {
      // Never made.
    }
  }
}

if (preparing) {
  // Every module the node may load, stripped; files of sources that are gone or changed are removed.
  const wanted = new Set();
  const walk = (/** @type {string} */ dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.test.ts')) {
        const source = readFileSync(path, 'utf8');
        const file = cacheFileOf(source);
        javascriptOf(source, file);
        wanted.add(basename(file));
      }
    }
  };
  walk(join(root, 'src'));
  /** @type {Set<string>} */
  let kept = new Set();
  try {
    kept = new Set(readdirSync(cacheDir));
  } catch {
    // Not made: said below.
  }
  if ([...wanted].some((name) => !kept.has(name))) {
    console.error(`could not write the stripped modules into ${cacheDir}: the node will strip them at every start`);
    process.exit(1);
  }
  for (const name of kept) if (!wanted.has(name)) rmSync(join(cacheDir, name), { force: true });
  console.log(`${wanted.size} modules stripped of their types in ${cacheDir}`);
} else {
  registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith(sources) || !url.endsWith('.ts')) return nextLoad(url, context);
      const source = readFileSync(fileURLToPath(url), 'utf8');
      return { format: 'module', source: javascriptOf(source), shortCircuit: true };
    },
  });
}
