#!/usr/bin/env node
// npm run demo: builds examples/ticker.c, starts it, checkpoints it with --kill, restarts it
// from the image, and shows that it carries on at the same pid from the same tick.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const ucr = path.join(root, 'bin', 'ucr');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucr-demo-'));
const bin = path.join(dir, 'ticker');
const log = path.join(dir, 'ticker.log');
const img = path.join(dir, 'ticker.ucr');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = (...args) => execFileSync(process.execPath, [ucr, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const lines = () => fs.readFileSync(log, 'utf8').trim().split('\n');
const say = (s) => console.log(`\x1b[1mdemo:\x1b[0m ${s}`);

execFileSync('cc', ['-O2', '-o', bin, path.join(root, 'examples', 'ticker.c')]);
const out = fs.openSync(log, 'a');
// stdio on a file, no other inherited fd (some environments leak pipes), own session
const closeRest = 'for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done 2>/dev/null';
const child = spawn('bash', ['-c', `${closeRest}; exec setsid "$0" 200`, bin], { stdio: ['ignore', out, out], detached: true });
await new Promise((r) => child.on('spawn', r));
fs.closeSync(out); // the log is the ticker's alone (else it is "external" stdio shared with us)
await sleep(1200);
const pid = Number(lines()[0].split(' ')[2]);
say(`ticker runs as pid ${pid}: "${lines().at(-1)}"`);

let t = performance.now();
run('checkpoint', String(pid), '-o', img, '--kill');
say(`checkpointed and killed in ${(performance.now() - t).toFixed(0)} ms; image ${img} (${fs.statSync(img).size} bytes)`);
const before = lines().at(-1);
console.log(run('inspect', img).split('\n').slice(0, 7).join('\n'));
while (fs.existsSync(`/proc/${pid}`)) await sleep(20); // wait until the pid is really free
say(`pid ${pid} is gone; last line before: "${before}"`);

t = performance.now();
run('restart', '-i', img, '--detach');
say(`restarted in ${(performance.now() - t).toFixed(0)} ms`);
await sleep(1000);
const after = lines();
const i = after.indexOf(before);
const next = after[i + 1] ?? '';
say(`first line after restart: "${next}"`);
const tick = (l) => Number(l.split(' ')[4]);
const ok = next.startsWith(`ticker pid ${pid} `) && tick(next) === tick(before) + 1 && fs.existsSync(`/proc/${pid}`);
try {
  process.kill(pid, 'SIGKILL');
} catch {}
fs.rmSync(dir, { recursive: true, force: true });
if (!ok) {
  say('FAILED: the restarted ticker did not carry on where it stopped');
  process.exit(1);
}
say(`OK: pid ${pid} carried on from tick ${tick(before)} to ${tick(next)} with its memory intact`);
