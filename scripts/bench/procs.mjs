// Processes for the benchmark: workloads started in their own session (killed by group in
// cleanup, even on failure or Ctrl-C), ucr commands run with a sampler of the peak resident
// memory of ucr's own processes (the CLI's node, the helper, its tracer workers).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const groups = new Set(); // process groups of workloads (their root is a session leader)
const running = new Set(); // ucr commands in flight
const dirs = new Set();
const mounts = new Set();

/** Mounts a tmpfs with huge pages (huge=within_size) at a new directory under base; returns
 * the directory, or throws why not (needs root). Unmounted by cleanup. */
export function mountHugeTmpfs(base, sizeMiB) {
  const dir = fs.mkdtempSync(path.join(base, 'ucr-bench-huge-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `huge=within_size,size=${sizeMiB}m,mode=0700`, 'ucr-bench', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error((r.stderr || `mount exited ${r.status}`).trim().split('\n').pop());
  }
  mounts.add(dir);
  return dir;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function trackDir(d) {
  dirs.add(d);
  return d;
}

export function cleanup() {
  for (const p of running) {
    try {
      p.kill('SIGKILL'); // the helper dies with it (PDEATHSIG) and kills what it created
    } catch {}
  }
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {}
  }
  groups.clear();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
  for (const m of mounts) {
    spawnSync('umount', [m]);
    fs.rmSync(m, { recursive: true, force: true });
  }
  mounts.clear();
}

export function exists(pid) {
  return fs.existsSync(`/proc/${pid}`);
}

export async function waitUntil(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Every descendant of pid (pid included), from /proc/PID/task/TID/children. */
export function descendants(pid, skip = new Set()) {
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    if (skip.has(p)) continue;
    out.push(p);
    let tids = [];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, 'latin1').split(' ')) if (c.trim()) todo.push(Number(c));
      } catch {}
    }
  }
  return out;
}

/** Starts a workload (case.h protocol) in its own session; resolves once it is ready. pre: the
 * arguments before --out (a JVM's class path and class). */
export async function startWorkload(bin, args, dir, name, pre = []) {
  const out = path.join(dir, `${name}.out`);
  fs.rmSync(out, { force: true });
  fs.rmSync(`${out}.ready`, { force: true });
  const proc = spawn(bin, [...pre, '--out', out, ...args], { detached: true, stdio: 'ignore' });
  groups.add(proc.pid);
  let exited = false;
  proc.on('exit', () => (exited = true));
  await waitUntil(() => fs.existsSync(`${out}.ready`) || exited, 120_000, `${name} to be ready`);
  if (exited) throw new Error(`${name} failed to start: ${fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim() : 'no result'}`);
  return { pid: proc.pid, out, name, pids: descendants(proc.pid) };
}

/**
 * Asks a (restarted) workload to check itself; throws unless it writes PASS. Waits first until
 * every task of it sleeps (where the workloads wait for SIGTERM): `criu restore -d` can return
 * while a task still finishes CRIU's restorer, and a SIGTERM then is lost (seen here).
 */
export async function verify(w) {
  await waitUntil(() => w.pids.every((p) => !exists(p) || stateOf(p) === 'S'), 30_000, `${w.name} to settle`).catch(() => {});
  process.kill(w.pid, 'SIGTERM');
  await waitUntil(() => fs.existsSync(w.out) && fs.readFileSync(w.out, 'utf8').endsWith('\n'), 120_000, `${w.name} verdict`);
  const v = fs.readFileSync(w.out, 'utf8').trim();
  if (v !== 'PASS') throw new Error(`${w.name} after restart: ${v}`);
  await killGroup(w);
  // its memory is freed by the time it is a zombie (reaped late by init): wait for that, so
  // the next run does not share the CPU with the teardown
  await waitUntil(() => w.pids.every((p) => !exists(p) || zombie(p)), 30_000, `${w.name} to exit`);
}

function stateOf(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return st[st.lastIndexOf(')') + 2];
  } catch {
    return undefined;
  }
}

const zombie = (pid) => (stateOf(pid) ?? 'Z') === 'Z';

export async function killGroup(w) {
  try {
    process.kill(-w.pid, 'SIGKILL');
  } catch {}
  groups.delete(w.pid);
}

/** Waits until none of pids exists (zombies of a killed tree are reaped by init, late). */
export function waitGone(pids) {
  return waitUntil(() => pids.every((p) => !exists(p)), 30_000, `pids ${pids.slice(0, 3).join(',')}... to be free`);
}

function vmHwmKb(pid) {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs a command, sampling every few ms the peak resident set (VmHWM) of it and its
 * descendants, except the pids in `exclude` (the workload's tasks, also when they are being
 * recreated). The sum of the per-process peaks (an upper bound of the peak of all of them
 * together) comes back as rssMiB; wall is the command's wall time in seconds.
 */
export function runSampled(cmd, args, exclude = new Set(), env = process.env) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    running.add(p);
    const peak = new Map();
    const sample = () => {
      for (const q of descendants(p.pid, exclude)) {
        const kb = vmHwmKb(q);
        if (kb > (peak.get(q) ?? 0)) peak.set(q, kb);
      }
    };
    const timer = setInterval(sample, 25); // VmHWM is a high-water mark: sampling often only costs CPU
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code, sig) => {
      clearInterval(timer);
      running.delete(p);
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`${path.basename(args[1] ?? cmd)} ${args.slice(2).join(' ')}: exit ${code ?? sig}: ${stderr.trim()}`));
      let rssKb = 0;
      for (const v of peak.values()) rssKb += v;
      resolve({ wall, stdout, stderr, rssMiB: rssKb / 1024, procs: peak.size });
    });
  });
}
