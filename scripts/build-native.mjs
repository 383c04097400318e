#!/usr/bin/env node
// Builds the native addon and the ucr-helper executable with node-gyp against the headers of
// the Node that runs this script (never downloading headers), then checks both exist.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

// A C toolchain is needed (node-gyp, the helper, the test cases). Debian machines of this kind
// have it; if not and we are root, install it from Debian's packages.
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
// Installs Debian packages when we are root and have apt-get (waiting for another apt run's lock
// rather than failing on it), else says what to install and exits.
function require_(what, pkgs, hint) {
  if (process.getuid?.() === 0 && has('apt-get')) {
    console.error(`ucr: installing ${what} (${pkgs.join(' ')}) with apt-get`);
    const lock = ['-o', 'DPkg::Lock::Timeout=600'];
    for (const args of [[...lock, 'update'], [...lock, 'install', '-y', '--no-install-recommends', ...pkgs]]) {
      const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
  } else {
    console.error(`ucr: ${what} is required: install ${pkgs.join(', ')} (e.g. apt-get install ${hint})`);
    process.exit(1);
  }
}
if (!(has('cc') && has('c++') && has('make'))) require_('a C toolchain', ['gcc', 'g++', 'make'], 'build-essential');
// The helper compresses pages with LZ4 (checkpoint --compress): it needs liblz4's header.
if (!existsSync('/usr/include/lz4.h')) require_('the LZ4 library headers', ['liblz4-dev'], 'liblz4-dev');
const nodedir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`ucr: Node headers not found under ${nodedir}/include/node (set npm_config_nodedir)`);
  process.exit(1);
}
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) {
  console.error(`ucr: node-gyp not found (tried ${candidates.join(', ')})`);
  process.exit(1);
}
// the protocol's C half is generated from protocol/schema.mjs first (scripts/gen-protocol.mjs)
const gen = spawnSync(process.execPath, [path.join(root, 'scripts', 'gen-protocol.mjs')], { stdio: 'inherit' });
if (gen.status !== 0) process.exit(gen.status ?? 1);
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
for (const f of ['build/Release/ucr_native.node', 'build/Release/ucr-helper']) {
  if (!existsSync(path.join(root, f))) {
    console.error(`ucr: build did not produce ${f}`);
    process.exit(1);
  }
}
