/**
 * What a failed or killed ucr may have left behind, for the reliability tests: the state of
 * each task of a tree (run state, tracer, memory map), ucr-helper processes of this worktree,
 * System V objects, files in a directory, the threads of a process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './harness.js';

export interface TaskLook {
  pid: number;
  /** State letter from /proc/PID/stat */
  state: string;
  tracer: number;
  maps: string;
}

/** The run state, tracer and memory map of each pid (undefined when it is gone). */
export function lookAt(pid: number): TaskLook | undefined {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      pid,
      state: st[st.lastIndexOf(')') + 2]!,
      tracer: Number(/TracerPid:\s+(\d+)/.exec(status)![1]),
      maps: fs.readFileSync(`/proc/${pid}/maps`, 'utf8'),
    };
  } catch {
    return undefined;
  }
}

/** Every thread of pid: tid, state letter (R and S alike), tracer (a thread that ends while
 * it is read is left out). */
export function threadsOf(pid: number): string[] {
  return fs
    .readdirSync(`/proc/${pid}/task`)
    .map(Number)
    .sort((a, b) => a - b)
    .flatMap((tid) => {
      try {
        const st = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
        const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        return [`${tid} ${st[st.lastIndexOf(')') + 2]!.replace('R', 'S')} tracer ${/TracerPid:\s+(\d+)/.exec(status)![1]}`];
      } catch {
        return [];
      }
    });
}

/** The test worker a process was started from (vitest runs test files in parallel workers, each
 * with its own VITEST_POOL_ID, which every process it starts inherits). */
function poolOf(pid: string): string | undefined {
  const env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
  return /(?:^|\0)VITEST_POOL_ID=([^\0]*)/.exec(env)?.[1];
}

/** ucr-helper processes (and their tracer workers) of this worktree's build, started from this
 * test worker (a test file running in parallel has helpers of its own). */
export function helperPids(): number[] {
  const mine = path.join(ROOT, 'build', 'Release', 'ucr-helper');
  const pool = process.env.VITEST_POOL_ID;
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readlinkSync(`/proc/${d}/exe`) === mine && (pool === undefined || poolOf(d) === pool)) out.push(Number(d));
    } catch {
      /* gone or a kernel thread */
    }
  }
  return out;
}

/** System V objects of the machine with these ids ("key id" per kind), to compare before and
 * after (other programs create objects too: only the ids a test cares about count). */
export function sysvObjects(ids: number[]): string {
  return ['shm', 'sem', 'msg']
    .map((k) =>
      fs
        .readFileSync(`/proc/sysvipc/${k}`, 'utf8')
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/).slice(0, 2))
        .filter((f) => f.length === 2 && ids.includes(Number(f[1])))
        .map((f) => f.join(' '))
        .sort()
        .join(','),
    )
    .join(' | ');
}

/** Every file under dir, sorted (relative names). */
export function filesIn(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** Names of the bound unix sockets of this network namespace (paths and @abstract), sorted. */
export function unixNames(): string[] {
  return fs
    .readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[7])
    .filter((n): n is string => !!n)
    .sort();
}
