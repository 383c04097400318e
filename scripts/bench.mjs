#!/usr/bin/env node
// `npm run bench`: ucr's checkpoint and restart against the machine's memcpy bandwidth (and
// CRIU when a working one is on the PATH), all in one run. Not part of `npm test`.
//
//   node scripts/bench.mjs [--runs N] [--json] [--size MIB] [--tasks C:G] [--only name,...] [--prefault MIB]
//
// Workloads (bench/*.c, built here): mem (dirty random anonymous memory; also to a tmpfs with
// huge pages mounted here: --only huge; also sparse; with
// --compress on random and on text-like memory: --only compress) and tree (1 + C + C*G processes). Each figure is the median of N runs (default 3) with min and max.
// "ucr s" is the library's own time for the operation (from its phase timings: the CLI's
// Node start-up and module loading are not in it); "wall s" is the whole command's.
// Peak RSS is the sum of the peak resident sets of the ucr command, its helper and tracers.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanup, killGroup, mountHugeTmpfs, runSampled, startWorkload, trackDir, verify, waitGone } from './bench/procs.mjs';
import { fmt, mm, stat, table } from './bench/stats.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const UCR = path.join(ROOT, 'bin', 'ucr');
const BIN = path.join(ROOT, 'bench', 'bin');
const GB = 1e9;

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const RUNS = Math.max(1, Number(opt('--runs', 3)));
const SIZE_MIB = Number(opt('--size', 1024));
const [TREE_C, TREE_G] = opt('--tasks', '9:10').split(':').map(Number);
const ONLY = opt('--only', '')?.split(',').filter(Boolean);
const JSON_OUT = argv.includes('--json');
// --prefault MIB: touch and free MIB of memory right before each timed ucr command (see
// bench/prefault.c): on a VM with free page reporting this takes the host's page faults out of
// the figures. Off by default: the default figures are what a user of this VM gets.
const PREFAULT_MIB = Number(opt('--prefault', 0));
const log = (s) => process.stderr.write(s + '\n');

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(sig, () => {
    log(`bench: ${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  });

function build() {
  const r = spawnSync('make', ['-s', '-C', path.join(ROOT, 'bench')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cannot build bench/');
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('run npm run build first');
}

function machine() {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'latin1'))?.[1] ?? '?';
  return { cpu, cores: os.cpus().length, kernel: os.release(), memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), loadavg: os.loadavg().map((x) => +x.toFixed(2)) };
}

/** A limit program of bench/ (one line of seconds per repetition of SIZE_MIB): its figures. */
function limitOf(name, args) {
  const r = spawnSync(path.join(BIN, name), [...args, String(SIZE_MIB), String(Math.max(5, RUNS))], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  const secs = r.stdout.trim().split('\n').map(Number);
  return { seconds: stat(secs), gbps: stat(secs.map((s) => (SIZE_MIB * 2 ** 20) / s / GB)) };
}

const memcpyLimit = () => limitOf('memcpy', []);

/** The image store's limit: one writer filling a new file in dir (bench/storewrite.c). */
const storeLimit = (dir) => limitOf('storewrite', [dir]);

/** Free page reporting (a VM giving free memory back to its host): memory freed a while ago
 * costs a host fault on its first write, so anything that allocates fresh memory varies. */
function pageReporting() {
  const cmd = fs.readFileSync('/proc/cmdline', 'latin1');
  const m = /page_reporting\.page_reporting_order=(\d+)/.exec(cmd);
  const balloon = fs.existsSync('/sys/bus/virtio/drivers/virtio_balloon');
  return m || balloon ? { order: m ? Number(m[1]) : undefined, balloon } : undefined;
}

/** The library's own duration of a --json result: the end of its last phase. */
const opSeconds = (res) => Math.max(...res.phases.map((p) => p.endMs)) / 1000;

async function ucr(args, exclude) {
  if (PREFAULT_MIB > 0) {
    const p = spawnSync(path.join(BIN, 'prefault'), [String(PREFAULT_MIB)], { stdio: 'ignore' });
    if (p.status !== 0) throw new Error('prefault failed');
  }
  const r = await runSampled(process.execPath, [UCR, ...args, '--json'], new Set(exclude));
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ...r, res, op: opSeconds(res) };
}

function criuStatus() {
  const which = spawnSync('sh', ['-c', 'command -v criu'], { encoding: 'utf8' });
  if (which.status !== 0) return { available: false, reason: 'criu is not on the PATH' };
  const chk = spawnSync('criu', ['check'], { encoding: 'utf8' });
  if (chk.status !== 0) return { available: false, reason: `criu check failed: ${(chk.stderr || chk.stdout).trim().split('\n').pop()}` };
  return { available: true, version: spawnSync('criu', ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] };
}

async function criuRound(w, dir) {
  const img = trackDir(fs.mkdtempSync(path.join(dir, 'criu-')));
  const d = await runSampled('criu', ['dump', '-t', String(w.pid), '-D', img], new Set(w.pids));
  await waitGone(w.pids);
  const r = await runSampled('criu', ['restore', '-D', img, '-d'], new Set(w.pids));
  await verify(w);
  fs.rmSync(img, { recursive: true, force: true });
  return { dump: d.wall, restore: r.wall };
}

/**
 * One workload, RUNS times: start, checkpoint --kill to each image dir, restart (--detach,
 * until every task runs), verify. Returns per-figure lists.
 */
async function scenario(name, bin, args, targets, criu, ckptArgs = []) {
  const m = {};
  const add = (k, v) => (m[k] ??= []).push(v);
  for (let run = 0; run < RUNS; run++) {
    for (const [where, dir, dropCache] of targets) {
      const w = await startWorkload(bin, args, dir, name);
      const img = path.join(dir, `${name}.ucr`);
      const c = await ucr(['checkpoint', String(w.pid), '-o', img, '--kill', ...ckptArgs], w.pids);
      add(`checkpoint:${where}`, c);
      await waitGone(w.pids);
      if (dropCache) spawnSync('dd', [`if=${img}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
      const r = await ucr(['restart', '-i', img, '--detach'], w.pids);
      add(`restart:${where}`, r);
      add('image', fs.statSync(img).size);
      await verify(w);
      fs.rmSync(img, { force: true });
      log(`bench: ${name} run ${run + 1} ${where}: checkpoint ${c.op.toFixed(3)} s, restart ${r.op.toFixed(3)} s, rss ${c.rssMiB.toFixed(0)}/${r.rssMiB.toFixed(0)} MiB`);
    }
    if (criu.available) {
      const w = await startWorkload(bin, args, targets[0][1], name);
      const cr = await criuRound(w, targets[0][1]);
      add('criu:dump', cr.dump);
      add('criu:restore', cr.restore);
    }
  }
  return m;
}

async function main() {
  build();
  const mach = machine();
  const criu = criuStatus();
  log(`bench: ${mach.cpu}, ${mach.cores} cores, kernel ${mach.kernel}, load ${mach.loadavg.join(' ')}`);
  log(`bench: CRIU: ${criu.available ? criu.version : `unavailable (${criu.reason})`}`);
  const shm = trackDir(fs.mkdtempSync('/dev/shm/ucr-bench-'));
  const disk = trackDir(fs.mkdtempSync('/var/tmp/ucr-bench-'));
  const want = (n) => !ONLY?.length || ONLY.includes(n);

  const limit = memcpyLimit();
  log(`bench: memcpy ${SIZE_MIB} MiB: ${mm(limit.gbps, 2)} GB/s`);
  const store = storeLimit(shm);
  log(`bench: tmpfs write ${SIZE_MIB} MiB: ${mm(store.gbps, 2)} GB/s`);
  const reporting = pageReporting();
  const results = [];
  const row = (workload, op, list, bytes, criuList) => {
    const secs = stat(list.map((x) => x.op));
    const gbps = bytes ? stat(list.map((x) => bytes / x.op / GB)) : undefined;
    results.push({
      workload,
      op,
      seconds: secs,
      wallSeconds: stat(list.map((x) => x.wall)),
      gbps,
      ratioToMemcpy: gbps ? gbps.median / limit.gbps.median : undefined,
      ratioToStore: gbps && op.includes('to tmpfs') ? gbps.median / store.gbps.median : undefined,
      peakRssMiB: stat(list.map((x) => x.rssMiB)),
      tasks: list[0].res.tasks,
      perTaskMs: (secs.median * 1000) / list[0].res.tasks,
      criuSeconds: criuList ? stat(criuList) : undefined,
      ucrToCriu: criuList ? secs.median / stat(criuList).median : undefined,
    });
  };
  const dense = `mem ${SIZE_MIB} MiB dirty`;
  let hugeStore;
  if (want('dense')) {
    const m = await scenario('dense', path.join(BIN, 'mem'), ['--mapped', String(SIZE_MIB), '--touched', String(SIZE_MIB)], [['tmpfs', shm, false], ['disk', disk, true]], criu);
    const bytes = SIZE_MIB * 2 ** 20;
    row(dense, 'checkpoint to tmpfs', m['checkpoint:tmpfs'], bytes, m['criu:dump']);
    row(dense, 'checkpoint to disk (fsync)', m['checkpoint:disk'], bytes);
    row(dense, 'restart from tmpfs', m['restart:tmpfs'], bytes, m['criu:restore']);
    row(dense, 'restart from disk (cold cache)', m['restart:disk'], bytes);
  }
  if (want('huge')) {
    // the same process to a tmpfs with huge pages: a store that writes about twice as fast as
    // /dev/shm here, so what is left is ucr's own speed (mounted here; needs root)
    let dir;
    try {
      dir = mountHugeTmpfs('/tmp', 2 * SIZE_MIB + 256);
    } catch (e) {
      log(`bench: no tmpfs with huge pages (${e.message}): no such rows`);
    }
    if (dir) {
      const hstore = storeLimit(dir);
      log(`bench: tmpfs (huge=within_size) write ${SIZE_MIB} MiB: ${mm(hstore.gbps, 2)} GB/s`);
      const m = await scenario('huge', path.join(BIN, 'mem'), ['--mapped', String(SIZE_MIB), '--touched', String(SIZE_MIB)], [['tmpfs', dir, false]], { available: false });
      const bytes = SIZE_MIB * 2 ** 20;
      const w = `${dense}, tmpfs huge=within_size`;
      row(w, 'checkpoint to tmpfs', m['checkpoint:tmpfs'], bytes);
      results.at(-1).ratioToStore = results.at(-1).gbps.median / hstore.gbps.median;
      results.at(-1).store = hstore;
      row(w, 'restart from tmpfs', m['restart:tmpfs'], bytes);
      hugeStore = hstore;
    }
  }
  if (want('sparse')) {
    const m = await scenario('sparse', path.join(BIN, 'mem'), ['--mapped', '4096', '--touched', '100'], [['tmpfs', shm, false]], criu);
    const bytes = 100 * 2 ** 20;
    row('mem 4 GiB mapped, 100 MiB touched', 'checkpoint to tmpfs', m['checkpoint:tmpfs'], bytes, m['criu:dump']);
    results.at(-1).imageMiB = stat(m.image.map((b) => b / 2 ** 20));
    row('mem 4 GiB mapped, 100 MiB touched', 'restart from tmpfs', m['restart:tmpfs'], bytes, m['criu:restore']);
  }
  if (want('compress')) {
    // --compress: random memory (nothing shrinks: the cost of trying) and text-like memory
    const bytes = SIZE_MIB * 2 ** 20;
    const none = { available: false };
    for (const [fill, label] of [['random', 'random'], ['text', 'text-like']]) {
      const extra = fill === 'text' ? ['--fill', 'text'] : [];
      const m = await scenario(`lz4-${fill}`, path.join(BIN, 'mem'), ['--mapped', String(SIZE_MIB), '--touched', String(SIZE_MIB), ...extra], [['tmpfs', shm, false]], none, ['--compress']);
      const w = `mem ${SIZE_MIB} MiB ${label}, --compress`;
      row(w, 'checkpoint to tmpfs', m['checkpoint:tmpfs'], bytes);
      results.at(-1).imageMiB = stat(m.image.map((b) => b / 2 ** 20));
      row(w, 'restart from tmpfs', m['restart:tmpfs'], bytes);
    }
  }
  if (want('tree')) {
    const n = 1 + TREE_C + TREE_C * TREE_G;
    const m = await scenario('tree', path.join(BIN, 'tree'), ['--children', String(TREE_C), '--grandchildren', String(TREE_G)], [['tmpfs', shm, false]], criu);
    row(`tree of ${n} processes`, 'checkpoint to tmpfs', m['checkpoint:tmpfs'], 0, m['criu:dump']);
    row(`tree of ${n} processes`, 'restart from tmpfs', m['restart:tmpfs'], 0, m['criu:restore']);
  }
  const report = { machine: mach, runs: RUNS, sizeMiB: SIZE_MIB, prefaultMiB: PREFAULT_MIB, memcpy: limit, tmpfsWrite: store, hugeTmpfsWrite: hugeStore ?? null, pageReporting: reporting ?? null, criu, results, loadavgAfter: os.loadavg().map((x) => +x.toFixed(2)) };
  const headers = ['workload', 'operation', 'ucr s (median [min-max])', 'GB/s', 'x memcpy', 'x tmpfs write', 'wall s', 'peak RSS MiB', 'per task ms', 'CRIU s', 'ucr/CRIU'];
  const rows = results.map((r) => [
    r.workload + (r.imageMiB ? ` (image ${fmt(r.imageMiB.median, 1)} MiB)` : ''),
    r.op,
    mm(r.seconds),
    r.gbps ? fmt(r.gbps.median, 2) : '-',
    r.ratioToMemcpy ? fmt(r.ratioToMemcpy, 2) : '-',
    r.ratioToStore ? fmt(r.ratioToStore, 2) : '-',
    fmt(r.wallSeconds.median),
    fmt(r.peakRssMiB.max, 0),
    r.tasks > 1 ? fmt(r.perTaskMs, 2) : '-',
    r.criuSeconds ? fmt(r.criuSeconds.median) : 'n/a',
    r.ucrToCriu ? fmt(r.ucrToCriu, 2) : 'n/a',
  ]);
  const text = [
    `machine: ${mach.cpu}, ${mach.cores} cores, ${mach.memGiB} GiB, kernel ${mach.kernel}; load average ${mach.loadavg.join(' ')} before, ${report.loadavgAfter.join(' ')} after`,
    `memcpy ${SIZE_MIB} MiB into touched memory: ${mm(limit.gbps, 2)} GB/s (median [min-max] of ${limit.seconds.n})`,
    `tmpfs write of ${SIZE_MIB} MiB to a new file (one writer, 4 MiB pwrite, the image store's own limit): ${mm(store.gbps, 2)} GB/s = ${fmt(store.gbps.median / limit.gbps.median, 2)}x memcpy`,
    ...(hugeStore ? [`the same on a tmpfs mounted huge=within_size (the "tmpfs huge=within_size" rows, x tmpfs write against this): ${mm(hugeStore.gbps, 2)} GB/s = ${fmt(hugeStore.gbps.median / limit.gbps.median, 2)}x memcpy`] : []),
    ...(reporting
      ? [
          `note: this VM reports free memory to its host (${reporting.order !== undefined ? `page_reporting_order=${reporting.order}` : 'virtio_balloon'}): memory freed a while ago takes a host fault on its first write, so checkpoints (fresh image pages) and restarts (fresh task pages) vary from run to run`,
        ]
      : []),
    `CRIU: ${criu.available ? criu.version : `unavailable (${criu.reason}): no CRIU column`}`,
    `${RUNS} runs each; peak RSS is the largest of the runs${PREFAULT_MIB ? `; --prefault ${PREFAULT_MIB}: ${PREFAULT_MIB} MiB touched and freed before each ucr command` : ''}`,
    '',
    table(headers, rows),
  ].join('\n');
  if (JSON_OUT) {
    log(text);
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else process.stdout.write(text + '\n');
}

try {
  await main();
} catch (e) {
  log(`bench: ${e.message}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
