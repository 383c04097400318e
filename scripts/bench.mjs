#!/usr/bin/env node
// `npm run bench`: ucr's checkpoint and restart, command line against command line with CRIU
// (when a working one is found), against the machine's memcpy and tmpfs write limits, and how
// both grow with tasks, threads, mappings and memory, all in one run. Not part of `npm test`.
//
//   node scripts/bench.mjs [--runs N] [--json] [--only name,...] [--prefault MIB] [--criu PATH]
//                          [--size MIB] [--tasks C:G] [--fds N] [--scale-max N]
//
// Groups (--only): startup (node -e 0, ucr --version), small (8 MiB process), real (python3,
// node, perl and a JVM found on this machine, bench/real/: each checks its data and its socket
// after the restart), dense (1 GiB
// dirty; also to disk), huge (the same to a tmpfs with huge pages), sparse, compress, tree
// (100 processes), and the scaling groups tasks (10, 100, 1,000 processes with --fds pipe fds
// each), threads (1, 100, 2,000), maps (10, 1,000, 10,000 mappings), memory (64 MiB, 512 MiB,
// 4 GiB). Default: all but huge and compress. --scale-max N: only the scaling rows of at most N
// units (tasks, threads, mappings; GiB for memory), e.g. 100 for the 10- and 100-task rows.
// "ucr s" is the whole command's wall time (Node start-up included) and "CRIU s" CRIU's; both
// get the same prefault, the tools alternate run by run, and each figure is the median of N
// runs (default 3) with min and max. "lib s" is the library's own time (from its phase
// timings: what a program that calls ucr's library pays). Peak RSS is the sum of the peak
// resident sets of the ucr command, its helper and tracers.
// CRIU: --criu PATH, else $CRIU, else criu on the PATH; used when `criu check` passes.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanup, mountHugeTmpfs, trackDir } from './bench/procs.mjs';
import { scenario, startup, tools } from './bench/run.mjs';
import { fmt, mm, stat, table } from './bench/stats.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const UCR = path.join(ROOT, 'bin', 'ucr');
const BIN = path.join(ROOT, 'bench', 'bin');
const GB = 1e9;
const MIB = 2 ** 20;

const argv = process.argv.slice(2);
const KNOWN = ['--runs', '--json', '--only', '--prefault', '--criu', '--size', '--tasks', '--fds', '--scale-max'];
if (argv.includes('--help') || argv.includes('-h')) {
  // the usage is the head comment of this file
  const head = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1).filter((l) => l.startsWith('//'));
  process.stdout.write(head.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
for (const a of argv) if (a.startsWith('-') && !KNOWN.includes(a)) throw new Error(`${a}: no such option (${KNOWN.join(' ')}, --help)`);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const RUNS = Math.max(1, Number(opt('--runs', 3)));
const SIZE_MIB = Number(opt('--size', 1024));
const [TREE_C, TREE_G] = opt('--tasks', '9:10').split(':').map(Number);
const FDS = Number(opt('--fds', 400));
const SCALE_MAX = Number(opt('--scale-max', Infinity));
const GROUPS = ['startup', 'small', 'real', 'dense', 'huge', 'sparse', 'compress', 'tree', 'tasks', 'threads', 'maps', 'memory'];
const DEFAULT_GROUPS = GROUPS.filter((g) => g !== 'huge' && g !== 'compress');
const ONLY = opt('--only', '')?.split(',').filter(Boolean);
for (const g of ONLY ?? []) if (!GROUPS.includes(g)) throw new Error(`--only: no group "${g}" (${GROUPS.join(', ')})`);
const JSON_OUT = argv.includes('--json');
// --prefault MIB: touch and free MIB of memory right before each timed command, ucr's and
// CRIU's alike (see bench/prefault.c): on a VM with free page reporting this takes the host's
// page faults out of the figures. Off by default: the default figures are what a user of this VM gets.
const PREFAULT_MIB = Number(opt('--prefault', 0));
const CRIU = opt('--criu', process.env.CRIU || 'criu');
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
  return { seconds: stat(secs), gbps: stat(secs.map((s) => (SIZE_MIB * MIB) / s / GB)) };
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

/** Where the shell finds cmd (a path or a name on the PATH), or undefined. */
function onPath(cmd) {
  const which = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** The CRIU to compare with: a path (or a name on the PATH) whose `criu check` passes. */
function criuStatus(bin) {
  const found = onPath(bin);
  if (!found) return { available: false, reason: `${bin} not found (give --criu PATH or CRIU=PATH)` };
  const chk = spawnSync(found, ['check'], { encoding: 'utf8' });
  if (chk.status !== 0) return { available: false, reason: `${found} check failed: ${(chk.stderr || chk.stdout).trim().split('\n').pop()}` };
  return { available: true, path: found, version: spawnSync(found, ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n').join(' ') };
}

/** The `real` group's programs found here (bench/real/; each holds 16 MiB of data): a
 * program that is missing is said, not measured. */
function realPrograms() {
  const dir = path.join(ROOT, 'bench', 'real');
  const list = [
    { name: 'python', label: 'python3 (16 MiB, a listening socket)', bin: path.join(dir, 'python.py'), needs: 'python3' },
    { name: 'node', label: 'node (16 MiB heap, an HTTP server)', bin: path.join(dir, 'node.cjs'), needs: 'node' },
    { name: 'perl', label: 'perl (16 MiB)', bin: path.join(dir, 'perl.pl'), needs: 'perl' },
    { name: 'java', label: 'java (9 threads, 16 MiB, a listening socket)', bin: 'java', pre: ['-Xmx128m', '-cp', BIN, 'Real'], needs: 'java', built: path.join(BIN, 'Real.class') },
  ];
  return list.filter((r) => {
    const why = !onPath(r.needs) ? `${r.needs} not found` : r.built && !fs.existsSync(r.built) ? 'no JDK to build bench/real/Real.java' : undefined;
    if (why) log(`bench: real: no ${r.name} here (${why}): not measured`);
    return !why;
  });
}

/** The scaling groups: one workload per size; units name what grows (per-unit figures are
 * the step from the row before: extra seconds per extra unit). */
const SCALES = {
  tasks: {
    unit: 'task',
    sizes: [
      [10, 3, 2],
      [100, 9, 10],
      [1000, 27, 36],
    ].map(([n, c, g]) => ({ n, label: `tree of ${n} processes, ${FDS} pipe fds each`, bin: 'tree', args: ['--children', String(c), '--grandchildren', String(g), '--fds', String(FDS)] })),
  },
  threads: {
    unit: 'thread',
    sizes: [1, 100, 2000].map((n) => ({ n, label: `1 process, ${n} thread${n > 1 ? 's' : ''}`, bin: 'threads', args: ['--threads', String(n)] })),
  },
  maps: {
    unit: 'mapping',
    sizes: [10, 1000, 10000].map((n) => ({ n, label: `1 process, ${n} mappings`, bin: 'maps', args: ['--maps', String(n)] })),
  },
  memory: {
    unit: 'GiB',
    sizes: [64, 512, 4096].map((mib) => ({ n: mib / 1024, label: `mem ${mib < 1024 ? `${mib} MiB` : `${mib / 1024} GiB`} dirty`, bin: 'mem', args: ['--mapped', String(mib), '--touched', String(mib)] })),
  },
};

async function main() {
  build();
  const mach = machine();
  const criu = criuStatus(CRIU);
  log(`bench: ${mach.cpu}, ${mach.cores} cores, kernel ${mach.kernel}, load ${mach.loadavg.join(' ')}`);
  log(`bench: CRIU: ${criu.available ? `${criu.path}: ${criu.version}` : `unavailable (${criu.reason})`}`);
  const t = tools({ ucr: UCR, criu: criu.available ? criu.path : undefined, prefault: path.join(BIN, 'prefault'), prefaultMiB: PREFAULT_MIB });
  const shm = trackDir(fs.mkdtempSync('/dev/shm/ucr-bench-'));
  const disk = trackDir(fs.mkdtempSync('/var/tmp/ucr-bench-'));
  const want = (n) => (ONLY?.length ? ONLY : DEFAULT_GROUPS).includes(n);
  const run = (s) => scenario(t, { runs: RUNS, log, ...s });

  // start-up first: nothing else has run yet, so nothing of the rest is in the page cache's way
  const boot = Object.fromEntries(Object.entries(await startup(t, UCR, Math.max(10, 3 * RUNS))).map(([k, v]) => [k, stat(v)]));
  // the start-up target compares with Node started as bin/ucr starts it: without
  // NODE_EXTRA_CA_CERTS when the environment has it (bin/ucr's #! line drops it), so a host's
  // certificate bundle does not count as Node's start-up
  const node0 = (boot['node -e 0 without NODE_EXTRA_CA_CERTS'] ?? boot['node -e 0']).median;
  log(`bench: start-up: ${Object.entries(boot).map(([k, v]) => `${k} ${mm(v)} s`).join(', ')}`);
  const needLimits = ['dense', 'huge', 'sparse', 'compress'].some(want);
  const limit = needLimits ? memcpyLimit() : undefined;
  if (limit) log(`bench: memcpy ${SIZE_MIB} MiB: ${mm(limit.gbps, 2)} GB/s`);
  const store = needLimits ? storeLimit(shm) : undefined;
  if (store) log(`bench: tmpfs write ${SIZE_MIB} MiB: ${mm(store.gbps, 2)} GB/s`);
  const reporting = pageReporting();
  const results = [];
  const row = (workload, op, list, { bytes, criuList, refused = [], criuFailed = [], units, unit, group } = {}) => {
    const ok = list?.length ? list : undefined;
    const secs = ok && stat(ok.map((x) => x.wall));
    const lib = ok && stat(ok.map((x) => x.lib));
    const criuS = criuList?.length ? stat(criuList.map((x) => x.wall)) : undefined;
    const gbps = ok && bytes ? stat(ok.map((x) => bytes / x.lib / GB)) : undefined;
    results.push({
      workload,
      op,
      group,
      seconds: secs,
      libSeconds: lib,
      criuSeconds: criuS,
      ucrToCriu: secs && criuS ? secs.median / criuS.median : undefined,
      libToCriu: lib && criuS ? lib.median / criuS.median : undefined,
      // the start-up target: ucr's command no slower than CRIU's plus a bare `node -e 0`
      overCriuPlusNode: secs && criuS ? secs.median - (criuS.median + node0) : undefined,
      gbps,
      ratioToMemcpy: gbps && limit ? gbps.median / limit.gbps.median : undefined,
      ratioToStore: gbps && store && op.includes('to tmpfs') ? gbps.median / store.gbps.median : undefined,
      peakRssMiB: ok && stat(ok.map((x) => x.rssMiB)),
      tasks: ok?.[0].res.tasks,
      units,
      unit,
      refused: ok ? undefined : refused[0] ?? 'no run',
      criuFailed: criuS ? undefined : criuFailed[0],
    });
  };
  // the rows of one workload: checkpoint and restart to tmpfs against CRIU's dump and restore
  const pair = (workload, m, extra = {}) => {
    row(workload, 'checkpoint to tmpfs', m['checkpoint:tmpfs'], { criuList: m['criu:dump'], refused: m.refused, criuFailed: m.criuFailed, ...extra });
    if (m.image) results.at(-1).imageMiB = stat(m.image.map((b) => b / MIB));
    row(workload, 'restart from tmpfs', m['restart:tmpfs'], { criuList: m['criu:restore'], refused: m.refused, criuFailed: m.criuFailed, ...extra });
  };
  const memArgs = (mib, ...more) => ['--mapped', String(mib), '--touched', String(mib), ...more];
  const shmOnly = [['tmpfs', shm, false]];
  if (want('small')) pair('small process (8 MiB dirty)', await run({ name: 'small', bin: path.join(BIN, 'mem'), args: memArgs(8), targets: shmOnly }), { bytes: 8 * MIB });
  if (want('real'))
    for (const r of realPrograms()) {
      const m = await run({ name: `real-${r.name}`, bin: r.bin, args: [], pre: r.pre, targets: shmOnly });
      pair(r.label, m);
    }
  const dense = `mem ${SIZE_MIB} MiB dirty`;
  let hugeStore;
  if (want('dense')) {
    const m = await run({ name: 'dense', bin: path.join(BIN, 'mem'), args: memArgs(SIZE_MIB), targets: [...shmOnly, ['disk', disk, true]] });
    const bytes = SIZE_MIB * MIB;
    row(dense, 'checkpoint to tmpfs', m['checkpoint:tmpfs'], { bytes, criuList: m['criu:dump'], criuFailed: m.criuFailed });
    row(dense, 'checkpoint to disk (fsync)', m['checkpoint:disk'], { bytes });
    row(dense, 'restart from tmpfs', m['restart:tmpfs'], { bytes, criuList: m['criu:restore'], criuFailed: m.criuFailed });
    row(dense, 'restart from disk (cold cache)', m['restart:disk'], { bytes });
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
      const m = await run({ name: 'huge', bin: path.join(BIN, 'mem'), args: memArgs(SIZE_MIB), targets: [['tmpfs', dir, false]], criu: false });
      const bytes = SIZE_MIB * MIB;
      const w = `${dense}, tmpfs huge=within_size`;
      row(w, 'checkpoint to tmpfs', m['checkpoint:tmpfs'], { bytes });
      results.at(-1).ratioToStore = results.at(-1).gbps.median / hstore.gbps.median;
      results.at(-1).store = hstore;
      row(w, 'restart from tmpfs', m['restart:tmpfs'], { bytes });
      hugeStore = hstore;
    }
  }
  if (want('sparse')) {
    const m = await run({ name: 'sparse', bin: path.join(BIN, 'mem'), args: ['--mapped', '4096', '--touched', '100'], targets: shmOnly });
    pair('mem 4 GiB mapped, 100 MiB touched', m, { bytes: 100 * MIB });
  }
  if (want('compress')) {
    // --compress: random memory (nothing shrinks: the cost of trying) and text-like memory
    for (const [fill, label] of [['random', 'random'], ['text', 'text-like']]) {
      const extra = fill === 'text' ? ['--fill', 'text'] : [];
      const m = await run({ name: `lz4-${fill}`, bin: path.join(BIN, 'mem'), args: memArgs(SIZE_MIB, ...extra), targets: shmOnly, criu: false, ckptArgs: ['--compress'] });
      pair(`mem ${SIZE_MIB} MiB ${label}, --compress`, m, { bytes: SIZE_MIB * MIB });
    }
  }
  if (want('tree')) {
    const n = 1 + TREE_C + TREE_C * TREE_G;
    const m = await run({ name: 'tree', bin: path.join(BIN, 'tree'), args: ['--children', String(TREE_C), '--grandchildren', String(TREE_G)], targets: shmOnly });
    pair(`tree of ${n} processes`, m, { units: n, unit: 'task' });
  }
  for (const [group, sc] of Object.entries(SCALES)) {
    if (!want(group)) continue;
    for (const size of sc.sizes.filter((z) => z.n <= SCALE_MAX)) {
      const m = await run({ name: `${group}-${size.n}`, bin: path.join(BIN, size.bin), args: size.args, targets: shmOnly });
      pair(size.label, m, { units: size.n, unit: sc.unit, group, ...(group === 'memory' ? { bytes: size.n * 2 ** 30 } : {}) });
    }
  }
  perUnit(results);
  const report = {
    machine: mach,
    runs: RUNS,
    sizeMiB: SIZE_MIB,
    prefaultMiB: PREFAULT_MIB,
    startup: boot,
    memcpy: limit ?? null,
    tmpfsWrite: store ?? null,
    hugeTmpfsWrite: hugeStore ?? null,
    pageReporting: reporting ?? null,
    criu,
    results,
    loadavgAfter: os.loadavg().map((x) => +x.toFixed(2)),
  };
  const text = render(report, node0);
  if (JSON_OUT) {
    log(text);
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else process.stdout.write(text + '\n');
}

/** Per unit of a scaling row: the step from the row before in its group (extra seconds per
 * extra task, thread, mapping or GiB, whole commands), for ucr and for CRIU; for a row with
 * units outside a group (the tree of 100), seconds per unit. */
function perUnit(results) {
  const prev = new Map();
  for (const r of results) {
    if (!r.units) continue;
    const key = `${r.group}:${r.op}`;
    const p = r.group ? prev.get(key) : undefined;
    if (r.group) prev.set(key, r);
    const step = (a, b) => (a !== undefined && b !== undefined ? (a - b) / (r.units - p.units) : undefined);
    if (p) {
      r.perUnit = step(r.seconds?.median, p.seconds?.median);
      r.criuPerUnit = step(r.criuSeconds?.median, p.criuSeconds?.median);
      r.libPerUnit = step(r.libSeconds?.median, p.libSeconds?.median);
    } else if (!r.group) {
      r.perUnit = r.seconds && r.seconds.median / r.units;
      r.criuPerUnit = r.criuSeconds && r.criuSeconds.median / r.units;
      r.libPerUnit = r.libSeconds && r.libSeconds.median / r.units;
    }
  }
}

const SCALE_OF = { task: [1e3, 'ms'], thread: [1e3, 'ms'], mapping: [1e6, 'µs'], GiB: [1, 's'] };

function render(report, node0) {
  const { machine: mach, startup: boot, memcpy: limit, tmpfsWrite: store, hugeTmpfsWrite: hugeStore, pageReporting: reporting, criu, results } = report;
  const headers = ['workload', 'operation', 'ucr s (median [min-max])', 'CRIU s', 'ucr/CRIU', 'ucr-(CRIU+node) s', 'lib s', 'lib/CRIU', 'per unit ucr / CRIU (lib)', 'GB/s (lib)', 'x memcpy', 'x tmpfs write', 'peak RSS MiB'];
  const unitFig = (r) => {
    if (r.perUnit === undefined && r.criuPerUnit === undefined) return '-';
    const [k, u] = SCALE_OF[r.unit];
    const v = (x) => (x === undefined ? 'n/a' : fmt(x * k, u === 's' ? 3 : 2));
    return `${v(r.perUnit)} / ${v(r.criuPerUnit)} (${v(r.libPerUnit)}) ${u}/${r.unit}`;
  };
  const rows = results.map((r) => [
    r.workload + (r.imageMiB ? ` (image ${fmt(r.imageMiB.median, 1)} MiB)` : ''),
    r.op,
    r.seconds ? mm(r.seconds) : 'refused',
    r.criuSeconds ? mm(r.criuSeconds) : criu.available && r.criuFailed ? 'failed' : 'n/a',
    r.ucrToCriu ? fmt(r.ucrToCriu, 2) : 'n/a',
    r.overCriuPlusNode !== undefined ? (r.overCriuPlusNode > 0 ? '+' : '') + fmt(r.overCriuPlusNode) : 'n/a',
    r.libSeconds ? fmt(r.libSeconds.median) : '-',
    r.libToCriu ? fmt(r.libToCriu, 2) : 'n/a',
    unitFig(r),
    r.gbps ? fmt(r.gbps.median, 2) : '-',
    r.ratioToMemcpy ? fmt(r.ratioToMemcpy, 2) : '-',
    r.ratioToStore ? fmt(r.ratioToStore, 2) : '-',
    r.peakRssMiB ? fmt(r.peakRssMiB.max, 0) : '-',
  ]);
  const notes = [];
  for (const r of results) {
    if (r.refused && !notes.some((n) => n.includes(r.workload))) notes.push(`ucr refused ${r.workload}: ${r.refused}`);
    if (r.criuFailed && !notes.some((n) => n.includes(`CRIU failed on ${r.workload}`))) notes.push(`CRIU failed on ${r.workload}: ${r.criuFailed}`);
  }
  return [
    `machine: ${mach.cpu}, ${mach.cores} cores, ${mach.memGiB} GiB, kernel ${mach.kernel}; load average ${mach.loadavg.join(' ')} before, ${report.loadavgAfter.join(' ')} after`,
    `start-up (median [min-max] of ${boot['node -e 0'].n}, alternated): ${Object.entries(boot).map(([k, v]) => `${k} ${mm(v)} s`).join(', ')}`,
    ...(limit ? [`memcpy ${report.sizeMiB} MiB into touched memory: ${mm(limit.gbps, 2)} GB/s (median [min-max] of ${limit.seconds.n})`] : []),
    ...(store ? [`tmpfs write of ${report.sizeMiB} MiB to a new file (one writer, 4 MiB pwrite, the image store's own limit): ${mm(store.gbps, 2)} GB/s = ${fmt(store.gbps.median / limit.gbps.median, 2)}x memcpy`] : []),
    ...(hugeStore ? [`the same on a tmpfs mounted huge=within_size (the "tmpfs huge=within_size" rows, x tmpfs write against this): ${mm(hugeStore.gbps, 2)} GB/s = ${fmt(hugeStore.gbps.median / limit.gbps.median, 2)}x memcpy`] : []),
    ...(reporting
      ? [
          `note: this VM reports free memory to its host (${reporting.order !== undefined ? `page_reporting_order=${reporting.order}` : 'virtio_balloon'}): memory freed a while ago takes a host fault on its first write, so checkpoints (fresh image pages) and restarts (fresh task pages) vary from run to run`,
        ]
      : []),
    `CRIU: ${criu.available ? `${criu.path}: ${criu.version}` : `unavailable (${criu.reason}): no CRIU column`}`,
    `${report.runs} runs each, ucr and CRIU alternated; whole commands (ucr s includes Node's start-up; ucr-(CRIU+node) uses Node as bin/ucr starts it, node -e 0 = ${fmt(node0)} s); peak RSS is the largest of the runs${report.prefaultMiB ? `; --prefault ${report.prefaultMiB}: ${report.prefaultMiB} MiB touched and freed before each timed command of either tool` : ''}`,
    '',
    table(headers, rows),
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
}

try {
  await main();
} catch (e) {
  log(`bench: ${e.message}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
