/**
 * Test harness for the self-checking C cases (test/cases/*.c, protocol in case.h):
 * start a case through the launcher (only the fds it means to have, stdio on files), wait for
 * it to be ready, checkpoint it with the real CLI, kill it, wait until its pid is really free,
 * restart it, then ask it to verify (SIGTERM) and read PASS or the reason.
 * Every process a test starts is recorded and killed in cleanup(), even on failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const UCR = path.join(ROOT, 'bin', 'ucr');
export const CASES = path.join(ROOT, 'test', 'cases', 'bin');

const started = new Set<number>();
/** The start time of each tracked pid when it was first seen: cleanup() kills a pid only while it is
 * still that process (a pid reused by someone else's process after ours ended is left alone). */
const seen = new Map<number, string>();
function remember(pid: number): void {
  if (seen.has(pid)) return;
  try {
    seen.set(pid, startTime(pid));
  } catch {
    /* not there yet (a restored copy): remembered at cleanup */
  }
}
function ours(pid: number): boolean {
  const t = seen.get(pid);
  if (t === undefined) return true;
  try {
    if (startTime(pid) === t) return true;
    // another process at that pid: a restored copy of ours runs one of the repository's programs
    return fs.readlinkSync(`/proc/${pid}/exe`).startsWith(ROOT + path.sep);
  } catch {
    return false;
  }
}
const children = new Set<ChildProcess>();
const dirs: string[] = [];

/** Registers a pid the test caused to exist (e.g. a restored copy), so cleanup() kills it. */
export function trackPid(pid: number): void {
  started.add(pid);
  seen.delete(pid);
  remember(pid);
}

/** Registers a process the test started itself, so cleanup() kills it. */
export function track(p: ChildProcess): ChildProcess {
  children.add(p);
  if (p.pid) {
    started.add(p.pid);
    remember(p.pid);
  }
  return p;
}

export function tmpdir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `ucr-${tag}-`));
  dirs.push(d);
  return d;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Some thread of pid runs (a process whose main thread exited shows 'Z' for pid itself). A
 * thread that ends between the listing of /proc/PID/task and the read of its stat (ENOENT or
 * ESRCH: a process whose threads come and go, or one joining its threads before its verdict)
 * is one thread gone, not the process: only when no listed thread is left running is it dead.
 * `proc` is for the harness's own test. */
export function alive(pid: number, proc = '/proc'): boolean {
  try {
    return fs.readdirSync(`${proc}/${pid}/task`).some((t) => {
      let st: string;
      try {
        st = fs.readFileSync(`${proc}/${pid}/task/${t}/stat`, 'latin1');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return false;
        throw e;
      }
      return st[st.lastIndexOf(')') + 2] !== 'Z';
    });
  } catch {
    return false;
  }
}

export function exists(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

/** The first of n consecutive free pids from about 1000 past near, below kernel.pid_max
 * (wrapping past it to 1000, as the kernel's own allocation does), none of them in avoid. */
export function freePids(near: number, n = 1, avoid: number[] = []): number {
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  let free = near + 1000;
  for (let tries = 0; tries < max; tries++, free += n) {
    if (free + n > max) free = 1000;
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = !exists(free + i) && !avoid.includes(free + i);
    if (ok) return free;
  }
  throw new Error(`no ${n} free pids`);
}

export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export interface Case {
  name: string;
  pid: number;
  out: string;
  dir: string;
  /** write end of the case's stdin when started with stdin: 'pipe' */
  stdin?: NodeJS.WritableStream;
  proc: ChildProcess;
}

export interface StartOptions {
  args?: string[];
  /** stdin: /dev/null (default), a pipe from the test, or a path the launcher opens (a FIFO
   * blocks it until a writer opens the FIFO) */
  stdin?: 'null' | 'pipe' | { path: string };
  /** The launcher keeps the dead case a zombie this long before reaping it. */
  holdZombieMs?: number;
  /** Stay in the test's session (a group of its own, like a shell job) instead of setsid(). */
  noSetsid?: boolean;
  /** Run the case as user nobody (uid/gid 65534, groups 65534 and 100) through setpriv, with
   * these further setpriv options. */
  asNobody?: string[];
  /** With asNobody: these supplementary groups instead of 65534 and 100. */
  groups?: number[];
  /** Words that run the case (and exec it in place), e.g. ['unshare', '--ipc']. */
  prefix?: string[];
}

/** Starts test/cases/bin/<name> through the launcher and waits for FILE.ready. */
export async function startCase(name: string, opt: StartOptions = {}): Promise<Case> {
  const dir = tmpdir(name);
  const out = path.join(dir, 'result');
  const user = opt.asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', `--groups=${(opt.groups ?? [65534, 100]).join(',')}`, ...opt.asNobody] : [];
  if (opt.asNobody) {
    // the user's own output files: a restart opens them again with the task's credentials
    fs.chmodSync(dir, 0o777);
    for (const f of ['stdout', 'stderr']) {
      fs.writeFileSync(path.join(dir, f), '', { mode: 0o600 });
      fs.chownSync(path.join(dir, f), 65534, 65534);
    }
  }
  const stdinArg = opt.stdin === 'pipe' ? '-' : typeof opt.stdin === 'object' ? opt.stdin.path : '/dev/null';
  const proc = spawn(
    path.join(CASES, 'launcher'),
    [...(opt.holdZombieMs !== undefined ? ['--hold-zombie', String(opt.holdZombieMs)] : []), ...(opt.noSetsid ? ['--no-setsid'] : []), '--stdin', stdinArg, '--stdout', path.join(dir, 'stdout'), '--stderr', path.join(dir, 'stderr'), '--', ...user, ...(opt.prefix ?? []), path.join(CASES, name), '--out', out, ...(opt.args ?? [])],
    { stdio: [opt.stdin === 'pipe' ? 'pipe' : 'ignore', 'ignore', 'ignore'], cwd: dir },
  );
  children.add(proc);
  if (proc.pid) started.add(proc.pid);
  await waitFor(() => fs.existsSync(out + '.ready') || fs.existsSync(out), 20_000, `${name} to be ready`);
  if (!fs.existsSync(out + '.ready')) throw new Error(`${name} failed to set up: ${fs.readFileSync(out, 'utf8').trim()}`);
  const pid = Number(fs.readFileSync(out + '.ready', 'utf8').trim());
  started.add(pid);
  return { name, pid, out, dir, stdin: proc.stdin ?? undefined, proc };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the ucr CLI to completion. */
export function ucr(args: string[], opt: { input?: string | Buffer; stdio?: ('pipe' | 'ignore' | 'inherit' | number)[]; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(process.execPath, [UCR, ...args], {
    input: opt.input,
    stdio: opt.stdio as never,
    timeout: opt.timeoutMs ?? 60_000,
    maxBuffer: 1 << 30,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

/** Starts the ucr CLI in the background. */
export function ucrAsync(args: string[], stdio: ('pipe' | 'ignore' | 'inherit' | number)[] = ['ignore', 'pipe', 'pipe']): ChildProcess {
  const p = spawn(process.execPath, [UCR, ...args], { stdio: stdio as never });
  children.add(p);
  return p;
}

export function exitOf(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  p.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

export function checkpointCase(c: Case, img: string, extra: string[] = []): RunResult {
  const r = ucr(['checkpoint', String(c.pid), '-o', img, ...extra]);
  if (r.code !== 0) throw new Error(`checkpoint of ${c.name} (${c.pid}) failed: ${r.stderr.trim()}`);
  return r;
}

/** SIGKILL and wait until the pid is gone for good (not even a zombie). */
export async function killAndWait(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already dead */
  }
  await waitFor(() => !exists(pid), 10_000, `pid ${pid} to be released`);
}

export function restartDetached(img: string, stdio: ('pipe' | 'ignore' | 'inherit' | number)[] = ['ignore', 'pipe', 'pipe']): RunResult {
  const r = ucr(['restart', '-i', img, '--detach'], { stdio });
  if (r.code !== 0) throw new Error(`restart of ${img} failed (${r.code}): ${r.stderr.trim()}`);
  return r;
}

/** Asks the case to verify itself and returns its one-line verdict. */
export async function verdict(c: Case, signal: NodeJS.Signals | null = 'SIGTERM', ms = 20_000): Promise<string> {
  if (signal) process.kill(c.pid, signal);
  const written = () => fs.existsSync(c.out) && fs.readFileSync(c.out, 'utf8').endsWith('\n');
  await waitFor(() => written() || !alive(c.pid), ms, `${c.name} to write its verdict`);
  await sleep(20);
  if (!written()) return `FAIL: ${c.name} (pid ${c.pid}) died without a verdict`;
  return fs.readFileSync(c.out, 'utf8').trim();
}

/** Asks a running manythreads case for one round (SIGHUP): every worker must answer. */
export async function manyThreadsRound(c: Case): Promise<string> {
  const file = `${c.out}.round`;
  fs.rmSync(file, { force: true });
  process.kill(c.pid, 'SIGHUP');
  await waitFor(() => fs.existsSync(file), 60_000, `${c.name} to answer a round`);
  return fs.readFileSync(file, 'utf8').trim();
}

/** checkpoint → kill → restart → verify, the standard round trip. */
export async function roundTrip(name: string, opt: StartOptions = {}): Promise<{ c: Case; verdict: string }> {
  const c = await startCase(name, opt);
  const img = path.join(c.dir, 'image.ucr');
  const before = startTime(c.pid);
  checkpointCase(c, img);
  await killAndWait(c.pid);
  restartDetached(img);
  if (startTime(c.pid) === before) throw new Error(`${name}: pid ${c.pid} was not restarted`);
  return { c, verdict: await verdict(c) };
}

/** The case's process and all its descendants. */
export function treeOf(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  return [pid, ...kids.flatMap(treeOf)];
}

/** Checkpoint --kill the case's tree and wait until every pid of it is free; returns them. */
export async function checkpointKill(c: Case, img: string): Promise<number[]> {
  const pids = treeOf(c.pid);
  checkpointCase(c, img, ['--kill']);
  for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
  return pids;
}

/** A case started and checkpointed with --kill into its directory's image.ucr (a failed
 * checkpoint throws), every pid of its tree free again. */
export async function killedCase(name: string, opt: StartOptions = {}): Promise<{ c: Case; img: string; pids: number[] }> {
  const c = await startCase(name, opt);
  const img = path.join(c.dir, 'image.ucr');
  return { c, img, pids: await checkpointKill(c, img) };
}

/** Like roundTrip for a case with children: checkpoint --kill, every pid free, restart. */
export async function treeRoundTrip(name: string, opt: StartOptions = {}): Promise<{ c: Case; verdict: string; pids: number[] }> {
  const { c, img, pids } = await killedCase(name, opt);
  restartDetached(img);
  return { c, verdict: await verdict(c), pids };
}

export async function cleanup(): Promise<void> {
  const tree: number[] = [];
  for (const pid of started) {
    remember(pid);
    if (!ours(pid)) continue;
    // its descendants too: a child in a session of its own outlives the case's process when a
    // test fails before the case's verdict ends them (seen: sharedfiles --siblings-setsid)
    const all = treeOf(pid);
    tree.push(...all.slice(1));
    for (const p of all.reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const pid of started) await waitFor(() => !alive(pid) || !ours(pid), 5_000, `pid ${pid} to die`).catch(() => {});
  for (const pid of tree) await waitFor(() => !alive(pid), 5_000, `pid ${pid} to die`).catch(() => {});
  started.clear();
  seen.clear();
  children.clear();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Waits until pid is blocked in system call nr (or one of nrs; from /proc/PID/syscall), so a
 * checkpoint really catches it there. */
export async function waitBlockedIn(pid: number, nr: number | number[]): Promise<void> {
  const nrs = (Array.isArray(nr) ? nr : [nr]).map(String);
  await waitFor(
    () => {
      try {
        return nrs.includes(fs.readFileSync(`/proc/${pid}/syscall`, 'latin1').split(' ')[0]!);
      } catch {
        return false;
      }
    },
    10_000,
    `pid ${pid} to block in syscall ${nr}`,
  );
  await sleep(20);
}

/** The kernel's start time of pid (field 22 of stat): a restarted task has a new one. */
export function startTime(pid: number): string {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return st.slice(st.lastIndexOf(')') + 2).split(' ')[19]!;
}

/** A FIFO opened read-write: an fd to give a process as stdin, and one to write to it.
 * (Node destroys a child's stdin pipe when the child exits; this one outlives it.) */
export function fifo(dir: string): { fd: number; write(s: string): void } {
  const p = path.join(dir, 'stdin.fifo');
  spawnSync('mkfifo', [p]);
  const fd = fs.openSync(p, 'r+');
  return { fd, write: (s) => fs.writeSync(fd, s) };
}

/** Waits until pid is a fully restored, running task: its exe is the case and nobody traces it. */
export async function waitRestored(pid: number, name: string): Promise<void> {
  await waitFor(
    () => {
      try {
        return fs.readlinkSync(`/proc/${pid}/exe`).endsWith(`/${name}`) && /TracerPid:\s+0\n/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    },
    10_000,
    `pid ${pid} to be restored`,
  );
}
