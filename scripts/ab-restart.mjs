#!/usr/bin/env node
// Restart-only A/B of two ucr checkouts: one image of the mem workload (bench/mem.c, MIB dirty),
// checkpointed once by A, then restarted alternately by A and B (the restored process is killed
// between runs), each after the prefault; medians of wall, CPU (/usr/bin/time), library time
// and the memory phase. Half the runtime of scripts/ab.mjs and no checkpoint noise in between;
// B's last restart is verified (the workload checks its memory).
//   node scripts/ab-restart.mjs --a CHECKOUT_A --b CHECKOUT_B [--runs 6] [--mib 1024] [--ea K=V] [--eb K=V]
// --ea/--eb: one environment variable for A's / B's commands (to compare settings of one build).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startWorkload, verify, waitGone } from './bench/procs.mjs';
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : d; };
const A = opt('a'), B = opt('b'), RUNS = +opt('runs', 6), MIB = opt('mib', '1024');
const BIN = path.join(path.resolve(path.dirname(new URL(import.meta.url).pathname), '..'), 'bench', 'bin');
const dir = fs.mkdtempSync('/dev/shm/rr-');
const envOf = (s) => { const e = opt(s === 'A' ? 'ea' : 'eb'); return e ? Object.fromEntries([e.split('=')]) : {}; };
const run = (co, a, env = {}) => new Promise((res, rej) => {
  spawnSync(`${BIN}/prefault`, ['2048']);
  const t0 = performance.now();
  const c = spawn('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, `${co}/bin/ucr`, ...a, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '', err = ''; c.stdout.on('data', (d) => (out += d)); c.stderr.on('data', (d) => (err += d));
  c.on('close', (code) => { if (code) return rej(new Error(err)); const m = /CPU ([\d.]+) ([\d.]+)/.exec(err); const j = JSON.parse(out.trim().split('\n').pop());
    res({ wall: (performance.now() - t0) / 1000, cpu: +m[1] + +m[2], lib: Math.max(...j.phases.map((x) => x.endMs)) / 1000, mem: j.durations.memory ?? j.durations['write-pages'] }); });
});
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[(s.length - 1) >> 1]; };
const r = { A: [], B: [] };
try {
  let w = await startWorkload(`${BIN}/mem`, ['--mapped', MIB, '--touched', MIB], dir, 'rr');
  const img = `${dir}/img.ucr`;
  await run(A, ['checkpoint', String(w.pid), '-o', img, '--kill']); await waitGone(w.pids);
  for (let i = 0; i < RUNS; i++) for (const s of i % 2 ? ['B', 'A'] : ['A', 'B']) {
    const x = await run(s === 'A' ? A : B, ['restart', '-i', img, '--detach'], envOf(s));
    r[s].push(x);
    for (const p of w.pids) try { process.kill(p, 'SIGKILL'); } catch {}
    await waitGone(w.pids);
    console.error(`${s} wall ${x.wall.toFixed(3)} cpu ${x.cpu.toFixed(2)} lib ${x.lib.toFixed(3)} mem ${x.mem.toFixed(1)}`);
  }
  // last: verify B's restart works
  await run(B, ['restart', '-i', img, '--detach']); await verify(w);
  for (const k of ['wall', 'cpu', 'lib', 'mem']) console.log(`${k} A ${med(r.A.map((x) => x[k])).toFixed(3)} B ${med(r.B.map((x) => x[k])).toFixed(3)}`);
} finally { fs.rmSync(dir, { recursive: true, force: true }); }
