#!/usr/bin/env node
// A/B of two ucr checkouts on one bench workload (bench/*.c), alternated run by run: CPU time of
// the whole command (user + sys of node and of everything it waited for: helper, writer, as
// /usr/bin/time counts it, in 10 ms steps), wall, library time (--json phases), peak RSS (the
// bench's sampler), medians. For comparing a change with the code before it (docs/performance.md).
//   node scripts/ab.mjs --a CHECKOUT_A --b CHECKOUT_B --w tree:9:10 [--runs 6] [--prefault MIB] [--phases]
// workloads: small | tree:C:G | tasks:C:G:FDS | maps:N | mem:MIB | threads:N
// The ucr of each checkout is its bin/ucr (run `npm run build` there first); the workloads are
// this checkout's bench/bin (`make -C bench`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { descendants, startWorkload, verify, waitGone } from './bench/procs.mjs';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(`--${k}`); return i >= 0 ? args[i + 1] : d; };
const A = opt('a', ROOT), B = opt('b'), W = opt('w', 'small'), RUNS = Number(opt('runs', 6)), PRE = Number(opt('prefault', 0));
const BIN = `${ROOT}/bench/bin`;
const [kind, ...p] = W.split(':');
const wl = {
  small: { bin: 'mem', args: ['--mapped', '8', '--touched', '8'] },
  tree: { bin: 'tree', args: ['--children', p[0] ?? '9', '--grandchildren', p[1] ?? '10'] },
  tasks: { bin: 'tree', args: ['--children', p[0] ?? '9', '--grandchildren', p[1] ?? '10', '--fds', p[2] ?? '400'] },
  maps: { bin: 'maps', args: ['--maps', p[0] ?? '10000'] },
  mem: { bin: 'mem', args: ['--mapped', p[0] ?? '1024', '--touched', p[0] ?? '1024'] },
  threads: { bin: 'threads', args: ['--threads', p[0] ?? '100'] },
}[kind];
if (!wl) throw new Error(`unknown workload ${W}`);
const dir = fs.mkdtempSync('/dev/shm/ab-');
function timed(checkout, cmdArgs, exclude) {
  if (PRE > 0) spawnSync(`${BIN}/prefault`, [String(PRE)], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    // bin/ucr as a user runs it, through its #! line
    const c = spawn('/usr/bin/time', ['-f', 'CPU %U %S', `${checkout}/bin/ucr`, ...cmdArgs, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', peak = new Map();
    const timer = setInterval(() => { for (const q of descendants(c.pid, new Set(exclude))) { try { const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${q}/status`, 'latin1')); if (m && +m[1] > (peak.get(q) ?? 0)) peak.set(q, +m[1]); } catch {} } }, 25);
    c.stdout.on('data', (d) => (out += d)); c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => {
      clearInterval(timer);
      const wall = (performance.now() - t0) / 1000;
      const m = /CPU ([\d.]+) ([\d.]+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${checkout} ${cmdArgs.join(' ')}: exit ${code}: ${err.trim()}`));
      const res = JSON.parse(out.trim().split('\n').pop());
      let rss = 0; for (const v of peak.values()) rss += v;
      resolve({ wall, cpu: +m[1] + +m[2], lib: Math.max(...res.phases.map((x) => x.endMs)) / 1000, rss: rss / 1024, durations: res.durations });
    });
  });
}
const res = { A: { c: [], r: [] }, B: { c: [], r: [] } };
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[(s.length - 1) >> 1] : NaN; };
try {
  for (let run = 0; run < RUNS; run++) {
    for (const side of run % 2 ? ['B', 'A'] : ['A', 'B']) {
      const co = side === 'A' ? A : B;
      const w = await startWorkload(`${BIN}/${wl.bin}`, wl.args, dir, 'ab');
      const img = path.join(dir, 'img.ucr');
      const c = await timed(co, ['checkpoint', String(w.pid), '-o', img, '--kill'], w.pids);
      await waitGone(w.pids);
      const r = await timed(co, ['restart', '-i', img, '--detach'], w.pids);
      await verify(w);
      fs.rmSync(img, { force: true });
      res[side].c.push(c); res[side].r.push(r);
      console.error(`run ${run} ${side}: ckpt cpu ${c.cpu.toFixed(3)} wall ${c.wall.toFixed(3)} lib ${c.lib.toFixed(3)} rss ${c.rss.toFixed(0)} | rst cpu ${r.cpu.toFixed(3)} wall ${r.wall.toFixed(3)} lib ${r.lib.toFixed(3)} rss ${r.rss.toFixed(0)}`);
    }
  }
  for (const op of ['c', 'r']) for (const k of ['cpu', 'wall', 'lib', 'rss']) {
    const a = med(res.A[op].map((x) => x[k])), b = med(res.B[op].map((x) => x[k]));
    console.log(`${op === 'c' ? 'checkpoint' : 'restart'} ${k.padEnd(4)} median A ${a.toFixed(3)}  B ${b.toFixed(3)}  B/A ${(b / a).toFixed(3)}`);
  }
  if (args.includes('--phases')) for (const side of ['A', 'B']) for (const op of ['c', 'r']) console.log(side, op, JSON.stringify(res[side][op].at(-1).durations));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
