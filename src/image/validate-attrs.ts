/** Validation of a task's attributes (TaskImage.attrs: scheduling per thread, oom_score_adj,
 * membarrier, mlockall, loginuid): every field bounded to what the kernel itself accepts. */
import type { CborValue } from './cbor.js';
import { Where, arr, field, int, obj, pathText } from './check.js';
import type { TaskAttrs, ThreadSched } from './types.js';

/** SCHED_OTHER, FIFO, RR, BATCH, IDLE, DEADLINE */
const POLICIES = new Set([0, 1, 2, 3, 5, 6]);
const RT = new Set([1, 2]);
/** SCHED_FLAG_RESET_ON_FORK | RECLAIM | DL_OVERRUN: what sched_getattr reports */
const FLAGS = 7;
/** MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED | _PRIVATE_EXPEDITED | _SYNC_CORE | _RSEQ */
const MEMBARRIER_REGISTER = 4 | 16 | 64 | 256;

/** CPU numbers the kernel's masks hold (CONFIG_NR_CPUS at most 8192) */
export const MAX_CPUS = 8192;

/** An affinity: ascending CPU numbers, at least one. */
function cpuList(v: CborValue, w: Where): number[] {
  const a = arr(v, w, MAX_CPUS).map((y, j) => int(y, w.at(j), 0, MAX_CPUS - 1));
  if (a.length === 0) w.fail('an affinity without any CPU');
  a.forEach((c, j) => j && c <= a[j - 1]! && w.at(j).fail('CPUs not in ascending order'));
  return a;
}

/** PR_SET_THP_DISABLE: 1 (disabled), 3 (1 | PR_THP_DISABLE_EXCEPT_ADVISED) */
function thpValue(v: number, w: Where): number {
  if (v === 2) w.fail('PR_THP_DISABLE_EXCEPT_ADVISED without the disable bit');
  return v;
}

/** tids: the task's pid and its threads' tids, each of which must appear exactly once. */
export function checkAttrs(v: CborValue | undefined, w: Where, tids: number[]): TaskAttrs {
  const o = obj(v, w);
  const seen = new Set<number>();
  const sched = arr(o.sched, w.at('sched'), tids.length).map((x, i): ThreadSched => {
    const sw = w.at('sched').at(i);
    const s = obj(x, sw);
    const tid = field(s, 'tid', sw, (y, ww) => int(y, ww, 1, 4194303));
    if (!tids.includes(tid)) sw.at('tid').fail(`${tid} is not a thread of the task`);
    if (seen.has(tid)) sw.at('tid').fail(`thread ${tid} appears twice`);
    seen.add(tid);
    const policy = field(s, 'policy', sw, (y, ww) => int(y, ww, 0, 6));
    if (!POLICIES.has(policy)) sw.at('policy').fail(`unknown scheduling policy ${policy}`);
    const priority = field(s, 'priority', sw, (y, ww) => int(y, ww, 0, 99));
    if (RT.has(policy) !== priority > 0) sw.at('priority').fail(`priority ${priority} does not fit policy ${policy}`);
    const triple = (k: string, max: number) => {
      const a = arr(s[k], sw.at(k), 3).map((y, j) => int(y, sw.at(k).at(j), 0, max));
      if (a.length !== 3) sw.at(k).fail('expected three numbers');
      return a as [number, number, number];
    };
    const dl = s.dl === undefined ? undefined : triple('dl', 2 ** 53 - 1);
    if ((policy === 6) !== (dl !== undefined)) sw.at('dl').fail('deadline parameters belong to SCHED_DEADLINE, and only to it');
    // the bounds sched_setattr keeps a slice within (0.1 to 100 ms)
    const slice = s.slice === undefined ? undefined : int(s.slice, sw.at('slice'), 100_000, 100_000_000);
    if (slice !== undefined && policy !== 0 && policy !== 3) sw.at('slice').fail('a time slice belongs to SCHED_OTHER and SCHED_BATCH only');
    let util: [number, number] | undefined;
    if (s.util !== undefined) {
      const u = arr(s.util, sw.at('util'), 2).map((y, j) => int(y, sw.at('util').at(j), 0, 1024));
      if (u.length !== 2 || u[0]! > u[1]!) sw.at('util').fail('expected [min, max], min <= max');
      util = u as [number, number];
    }
    return {
      tid,
      policy,
      flags: field(s, 'flags', sw, (y, ww) => int(y, ww, 0, FLAGS)),
      nice: field(s, 'nice', sw, (y, ww) => int(y, ww, -20, 19)),
      priority,
      ...(dl ? { dl } : {}),
      ...(util ? { util } : {}),
      ...(slice !== undefined ? { slice } : {}),
      personality: field(s, 'personality', sw, (y, ww) => int(y, ww, 0, 0xffffffff)),
      ...(s.cpus !== undefined ? { cpus: cpuList(s.cpus, sw.at('cpus')) } : {}),
    };
  });
  const membarrier = field(o, 'membarrier', w, (y, ww) => int(y, ww, 0, 0xffff));
  if (membarrier & ~MEMBARRIER_REGISTER) w.at('membarrier').fail(`unknown registrations ${membarrier}`);
  const mlockall = field(o, 'mlockall', w, (y, ww) => int(y, ww, 0, 6));
  if (mlockall & 1 || mlockall === 4) w.at('mlockall').fail(`${mlockall}: expected MCL_FUTURE, with or without MCL_ONFAULT`);
  return {
    sched,
    oomScoreAdj: field(o, 'oomScoreAdj', w, (y, ww) => int(y, ww, -1000, 1000)),
    membarrier,
    mlockall,
    ...(o.thp !== undefined ? { thp: field(o, 'thp', w, (y, ww) => thpValue(int(y, ww, 1, 3), ww)) } : {}),
    ...(o.stopSignal !== undefined ? { stopSignal: field(o, 'stopSignal', w, (y, ww) => int(y, ww, 20, 22)) } : {}),
    loginuid: field(o, 'loginuid', w, (y, ww) => int(y, ww, 0, 0xffffffff)),
    ...(o.files !== undefined ? { files: field(o, 'files', w, (y, ww) => int(y, ww, 1, 4194303)) } : {}),
    ...(o.fs !== undefined ? { fs: field(o, 'fs', w, (y, ww) => int(y, ww, 1, 4194303)) } : {}),
    ...(o.root !== undefined ? { root: field(o, 'root', w, (y, ww) => pathText(y, ww, true)) } : {}),
  };
}
