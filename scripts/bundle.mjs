#!/usr/bin/env node
// Bundles the command line (dist/cli/main.js and everything it imports, commander included)
// into one CommonJS script, dist/ucr.cjs, that bin/ucr loads: one file to read and compile
// instead of ~70 modules to resolve, read and link (see docs/performance.md, "Start-up"). Run by
// `npm run build:ts` after tsc. pino stays outside (loaded with require() only when a log is
// asked for) and so does the native addon.
//
// The file holds the module already wrapped as Node wraps a CommonJS module (a function
// expression of exports, require, module, __filename, __dirname), so that bin/ucr compiles the
// text as read: no second 612 KB string for the wrapped copy (two such strings outgrow V8's young
// generation at once: a scavenge at every start-up). It is ASCII (esbuild's default charset;
// made sure of below), so bin/ucr reads it as latin1, without UTF-8 decoding.
//
// Then the V8 code cache of that script, dist/ucr.cjs.cache: bin/ucr hands it to vm.Script so
// that a command does not compile the bundle again (~15 ms of CPU per command). It is made here,
// at build time, by the node that builds (a cache that does not match the running node or the
// script is rejected by V8 and the script compiled as without one). Nothing writes it at run
// time.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// commander requires node:child_process at its top level, for executable subcommands (ucr has
// none): ~2 ms of every command's start-up. Its require gets an object that loads the module at
// the first use of one of its properties.
function lazyChildProcess() {
  return {
    name: 'lazy-child-process',
    setup(b) {
      const commander = `${path.sep}node_modules${path.sep}commander${path.sep}`;
      b.onResolve({ filter: /^node:child_process$/ }, (a) => (a.importer.includes(commander) ? { path: 'child_process', namespace: 'ucr-lazy' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'ucr-lazy' }, () => ({
        contents: "let m; module.exports = new Proxy({}, { get: (_, k) => (m ??= require('node:child_process'))[k] });",
        loader: 'js',
      }));
    },
  };
}

// dist/version.js reads package.json at run time (the library's modules); the bundle gets the
// version as a constant instead (one file read and a JSON parse less per command)
function versionConstant() {
  return {
    name: 'version-constant',
    setup(b) {
      b.onLoad({ filter: /[\\/]dist[\\/]version\.js$/ }, () => {
        const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
        return { contents: `export const VERSION = ${JSON.stringify(version)};\n`, loader: 'js' };
      });
    },
  };
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const outfile = path.join(root, 'dist', 'ucr.cjs');

// Written by rename, never in place: bin/ucr maps dist/ucr.cjs (and its cache) and V8 keeps
// the mapped text as the script's source for as long as a command runs (native/addon/mapfile.cc)
const replace = (file, data) => {
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
};

const { outputFiles } = await build({
  entryPoints: [path.join(root, 'dist', 'cli', 'main.js')],
  outfile,
  write: false,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['pino', '*.node'],
  // the modules find the native addon from their own directory (dist/ for the bundle), pino and
  // node:child_process from their own URL, made at its first use (pathToFileURL costs ~0.25 ms)
  define: { 'import.meta.url': '__ucrMeta.url', 'import.meta.dirname': '__dirname' },
  banner: {
    js: [
      "const __ucrMeta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };",
      // see below
      'const __nodeM = (m) => Object.create(m, { default: { value: m, enumerable: true } });',
    ].join('\n'),
  },
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [lazyChildProcess(), versionConstant()],
});
// esbuild's __toESM copies every export of a node module into a new object with a getter each,
// at every import of it (fs alone ~30 times: ~8 ms per command); an object whose prototype is the
// module gives the same properties and its `default`. Same length: the source map stays right.
// esbuild writes ASCII (its default charset escapes strings, regular expressions and names); a
// character that would still get through (a comment) is escaped the same way, so that latin1 is
// the text's exact reading
const out = (f) => {
  const o = outputFiles.find((x) => x.path === f);
  if (!o) throw new Error(`bundle: esbuild made no ${f}`);
  return o.text;
};
replace(`${outfile}.map`, out(`${outfile}.map`));
const text = out(outfile)
  .replaceAll('__toESM(require("node:', '__nodeM(require("node:')
  .replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
// the wrapper on the first line (the banner's, without mappings: the source map stays right),
// its end before the source map's comment
const WRAP = '(function (exports, require, module, __filename, __dirname) { ';
const tail = text.lastIndexOf('//# sourceMappingURL=');
if (tail < 0) throw new Error(`bundle: ${outfile} has no sourceMappingURL comment`);
replace(outfile, `${WRAP}${text.slice(0, tail)}\n});\n${text.slice(tail)}`);
// the ES module bundle of earlier builds, no longer loaded
rmSync(path.join(root, 'dist', 'ucr.mjs'), { force: true });
rmSync(path.join(root, 'dist', 'ucr.mjs.map'), { force: true });

const cache = `${outfile}.cache`;
rmSync(cache, { force: true });
// Every function compiled (V8's --no-lazy while compiling, so the cache holds them all: a
// checkpoint runs code all over the bundle once, and compiling it lazily cost ~10-15 ms of CPU
// per command), the flag back to its default before the cache is made: V8 accepts a cache only
// from the same flags. Checked by a fresh node; if it rejects it, a cache of the script's top
// level only (made without changing any flag).
const make = (eager) => `
const fs = require('node:fs'), vm = require('node:vm'), v8 = require('node:v8');
const file = ${JSON.stringify(outfile)};
${eager ? "v8.setFlagsFromString('--no-lazy');" : ''}
const script = new vm.Script(fs.readFileSync(file, 'latin1'), { filename: file });
${eager ? "v8.setFlagsFromString('--lazy');" : ''}
fs.writeFileSync(file + '.cache.tmp', script.createCachedData());
`;
const accepted = `
const fs = require('node:fs'), vm = require('node:vm');
const file = ${JSON.stringify(outfile)};
const s = new vm.Script(fs.readFileSync(file, 'latin1'), { filename: file, cachedData: fs.readFileSync(file + '.cache.tmp') });
process.exit(s.cachedDataRejected ? 3 : 0);
`;
const node = (code) => spawnSync(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'inherit'] }).status;
if (node(make(true)) !== 0 || node(accepted) !== 0) {
  if (node(make(false)) !== 0) throw new Error('bundle: making the code cache failed');
}
renameSync(`${cache}.tmp`, cache);
