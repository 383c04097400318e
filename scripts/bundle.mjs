#!/usr/bin/env node
// Bundles the command line (dist/cli/main.js and everything it imports, commander included)
// into one file, dist/ucr.mjs, that bin/ucr loads: one file to read and compile instead of
// ~70 modules to resolve, read and link, which is most of a command's fixed cost (see
// docs/performance.md, "Start-up"). Run by `npm run build:ts` after tsc. pino stays outside
// (loaded with require() only when a log is asked for) and so does the native addon.
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

await build({
  entryPoints: [path.join(root, 'dist', 'cli', 'main.js')],
  outfile: path.join(root, 'dist', 'ucr.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['pino', '*.node'],
  // commander is CommonJS: its require() of node's modules needs a real require in an ES module
  banner: { js: "import { createRequire as __ucrRequire } from 'node:module'; const require = __ucrRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
