/**
 * Checks decoded metadata against what a restart may safely act on: types, ranges, page
 * alignment, addresses inside the user address space, sorted non-overlapping mappings, page runs
 * inside mappings that carry pages, fd numbers, file references, pids. Throws ImageError naming
 * the field. (The FILES record: validate-files.ts; the primitives: check.ts.)
 */
import type { CborValue } from './cbor.js';
import { MAX_FD, PID_MAX, Where, addr, arr, bool, bytes, field, int, isInt, isMap, obj, pathText, shown, str, u64 } from './check.js';
import { CGROUP_SETS_MAX, checkCgroupSets } from './cgroups.js';
import { MAX_TASKS, MAX_TREE_DEPTH, PAGE_SIZE } from './format.js';
import type {
  CapSets,
  ImageHeader,
  ImageTree,
  MmImage,
  PosixTimer,
  SigactionImage,
  SpecialVma,
  TaskImage,
  ThreadImage,
  ThreadSignals,
  TreeEntry,
  Trailer,
} from './types.js';

import { checkAttrs } from './validate-attrs.js';
import { checkSeccomp } from './validate-seccomp.js';
import { checkRuns } from './validate-vmas.js';
import { checkPacked, keepPacked } from './packed-task.js';
import { unpackRuns, unpackVmas } from './vma-pack.js';
import { checkOtherVmas } from './file-vma-pack.js';
import { checkFdp } from './fd-pack.js';
import { checkSame } from './same-parts.js';
import { compact, xstateOf } from './task-compact.js';

export { checkFiles } from './validate-files.js';

/** src/kernel/memory.ts SPECIAL_NAMES */
const SPECIALS = ['[vvar]', '[vvar_vclock]', '[vdso]', '[vsyscall]'];
/** queued signals saved per thread or process (native/helper/core/proto.h MAX_PENDING) */
export const MAX_PENDING = 1 << 17;

export function checkHeader(v: CborValue, path: string): ImageHeader {
  const w = new Where(path);
  const o = obj(v, w);
  if (o.arch !== 'x86_64') w.at('arch').fail(`architecture ${shown(o.arch)} is not x86_64`);
  const kernel = obj(o.kernel, w.at('kernel'));
  const cpu = obj(o.cpu, w.at('cpu'));
  const owner = obj(o.owner, w.at('owner'));
  const pageSize = field(o, 'pageSize', w, (x, ww) => int(x, ww));
  if (pageSize !== PAGE_SIZE) w.at('pageSize').fail(`page size ${pageSize} is not ${PAGE_SIZE}`);
  return {
    arch: 'x86_64',
    pageSize,
    kernel: { release: field(kernel, 'release', w.at('kernel'), str), version: field(kernel, 'version', w.at('kernel'), str) },
    cpu: {
      xcr0: field(cpu, 'xcr0', w.at('cpu'), u64),
      xstateSize: field(cpu, 'xstateSize', w.at('cpu'), (x, ww) => int(x, ww, 512, 65536)),
      flags: arr(cpu.flags, w.at('cpu').at('flags'), 4096).map((f, i) => str(f, w.at('cpu').at('flags').at(i), 64)),
    },
    createdAt: field(o, 'createdAt', w, str),
    tool: field(o, 'tool', w, str),
    owner: { uid: field(owner, 'uid', w.at('owner'), (x, ww) => int(x, ww, 0, 0xffffffff)), gid: field(owner, 'gid', w.at('owner'), (x, ww) => int(x, ww, 0, 0xffffffff)) },
    root: field(o, 'root', w, (x, ww) => int(x, ww, 1, PID_MAX)),
    ...(o.compress === undefined ? {} : { compress: compression(o.compress, w.at('compress')) }),
  };
}

function compression(v: CborValue, w: Where): 'lz4' {
  if (v !== 'lz4') w.fail(`compression ${shown(v)} is not lz4`);
  return 'lz4';
}

/** [tid, set] pairs, each thread once (threads of the task: checked against its TASK record). */
function threadSets(v: CborValue, w: Where): [number, number][] {
  const seen = new Set<number>();
  return arr(v, w, PID_MAX).map((x, i) => {
    const p = arr(x, w.at(i), 2);
    if (p.length !== 2) w.at(i).fail('expected [tid, set]');
    const tid = int(p[0], w.at(i).at(0), 1, PID_MAX);
    if (seen.has(tid)) w.at(i).fail(`thread ${tid} appears twice`);
    seen.add(tid);
    return [tid, int(p[1], w.at(i).at(1), 0, CGROUP_SETS_MAX - 1)];
  });
}

export function checkTree(v: CborValue, path: string): ImageTree {
  const w = new Where(path);
  const o = obj(v, w);
  const seen = new Set<number>();
  const tasks = arr(o.tasks, w.at('tasks'), MAX_TASKS).map((t, i): TreeEntry => {
    const tw = w.at('tasks').at(i);
    const e = obj(t, tw);
    const pid = field(e, 'pid', tw, (x, ww) => int(x, ww, 1, PID_MAX));
    if (seen.has(pid)) tw.fail(`pid ${pid} appears twice`);
    seen.add(pid);
    const state = field(e, 'state', tw, str);
    if (state !== 'running' && state !== 'stopped' && state !== 'zombie') tw.at('state').fail(`unknown state ${shown(state)}`);
    return {
      pid,
      ppid: field(e, 'ppid', tw, (x, ww) => int(x, ww, 0, PID_MAX)),
      pgid: field(e, 'pgid', tw, (x, ww) => int(x, ww, 0, PID_MAX)),
      sid: field(e, 'sid', tw, (x, ww) => int(x, ww, 0, PID_MAX)),
      comm: field(e, 'comm', tw, (x, ww) => str(x, ww, 16)),
      state: state as TreeEntry['state'],
      threads: field(e, 'threads', tw, (x, ww) => int(x, ww, 1, PID_MAX)),
      exitStatus: e.exitStatus === undefined ? undefined : field(e, 'exitStatus', tw, (x, ww) => int(x, ww, 0, 0xffff)),
      nsPid: e.nsPid === undefined ? undefined : field(e, 'nsPid', tw, (x, ww) => int(x, ww, 1, PID_MAX)),
      ...(e.cgroup === undefined ? {} : { cgroup: field(e, 'cgroup', tw, (x, ww) => int(x, ww, 0, CGROUP_SETS_MAX - 1)) }),
      ...(e.threadCgroups === undefined ? {} : { threadCgroups: threadSets(e.threadCgroups, tw.at('threadCgroups')) }),
    };
  });
  if (tasks.length === 0) w.at('tasks').fail('no tasks');
  if (tasks[0]!.state === 'zombie') w.at('tasks').fail('the root is a zombie');
  tasks.forEach((t, i) => {
    if (t.state === 'zombie' && t.exitStatus === undefined) w.at('tasks').at(i).fail('zombie without exit status');
  });
  checkDepth(tasks, w.at('tasks'));
  if (o.cgroups === undefined) {
    if (tasks.some((t) => t.cgroup !== undefined || t.threadCgroups)) w.at('tasks').fail('a cgroup index without cgroups');
    return { tasks };
  }
  // every live task names one set, zombies none
  const cgroups = checkCgroupSets(o.cgroups, w.at('cgroups'));
  tasks.forEach((t, i) => {
    if ((t.state === 'zombie') !== (t.cgroup === undefined) || (t.cgroup ?? 0) >= cgroups.length) w.at('tasks').at(i).at('cgroup').fail('not one of the cgroups sets (every live task has one, a zombie none)');
    if (t.threadCgroups?.some(([tid, j]) => j >= cgroups.length || tid === t.pid) || (t.threadCgroups && t.state === 'zombie'))
      w.at('tasks').at(i).at('threadCgroups').fail('a thread\'s set is not one of the cgroups sets, or names the process itself or a zombie');
  });
  return { tasks, cgroups };
}

/** Parents in the image form a tree of bounded depth below the root and the orphans (whose
 * parents are not in the image): no cycle, no chain deeper than MAX_TREE_DEPTH. Linear. */
function checkDepth(tasks: TreeEntry[], w: Where): void {
  const index = new Map(tasks.map((t, i) => [t.pid, i]));
  const depth = new Array<number>(tasks.length).fill(-1);
  const chain: number[] = [];
  for (let i = 0; i < tasks.length; i++) {
    let j: number | undefined = i;
    chain.length = 0;
    // walk up to a task whose depth is known, or the top (the root, an orphan)
    while (j !== undefined && depth[j] === -1) {
      depth[j] = -2; // on this walk
      chain.push(j);
      j = j === 0 ? undefined : index.get(tasks[j]!.ppid);
    }
    if (j !== undefined && depth[j] === -2) w.at(j).at('ppid').fail(`process ${tasks[j]!.pid} is its own ancestor`);
    let d = j === undefined ? 0 : depth[j]! + 1;
    for (let k = chain.length - 1; k >= 0; k--, d++) {
      if (d > MAX_TREE_DEPTH) w.at(chain[k]!).fail(`process ${tasks[chain[k]!]!.pid} is more than ${MAX_TREE_DEPTH} generations below the top of the tree`);
      depth[chain[k]!] = d;
    }
  }
}

function checkMm(v: CborValue | undefined, w: Where): MmImage {
  const o = obj(v, w);
  const keys = ['startCode', 'endCode', 'startData', 'endData', 'startBrk', 'brk', 'startStack', 'argStart', 'argEnd', 'envStart', 'envEnd'] as const;
  const mm = Object.fromEntries(keys.map((k) => [k, field(o, k, w, (y, ww) => addr(y, ww))])) as unknown as MmImage;
  if (mm.brk < mm.startBrk) w.fail('brk is below start_brk');
  if (mm.endCode <= mm.startCode) w.fail('end_code is not above start_code');
  return mm;
}

function capSets(v: CborValue, w: Where): CapSets {
  const o = obj(v, w);
  const mask = (k: string) => {
    const x = field(o, k, w, (y, ww) => str(y, ww, 16));
    if (!/^[0-9a-f]{16}$/.test(x)) w.at(k).fail('expected 16 hex digits');
    return x;
  };
  return { inheritable: mask('inheritable'), permitted: mask('permitted'), effective: mask('effective'), bounding: mask('bounding'), ambient: mask('ambient') };
}

function ids4(v: CborValue | undefined, w: Where): number[] {
  const a = arr(v, w, 4).map((u, i) => int(u, w.at(i), 0, 0xffffffff));
  if (a.length !== 4) w.fail('expected real, effective, saved and fs ids');
  return a;
}

/** parent: the task of the TREE entry's ppid when its record came before (format 1.8: this
 * record may take parts from it, same-parts.ts) */
export function checkTask(v: CborValue, path: string, parent?: TaskImage, ppid = 0): TaskImage {
  const w = new Where(path);
  const o = obj(v, w);
  const same = checkSame(o, w.at('same'), parent, ppid);
  const sameMaps = same.has('vmas');
  // format 1.6: the plain anonymous mappings packed (vma-pack.ts), the others as before; kept
  // packed when they and the runs pass (packed-task.ts), else unpacked, which says what is wrong
  // format 1.10: its file mappings packed too (file-vma-pack.ts), merged with the other maps first
  const rest = sameMaps || o.vmap === undefined ? undefined : checkOtherVmas(o, w);
  const packed = rest && o.pageRuns === undefined && o.inherited === undefined && o.guards === undefined ? checkPacked(o.vmap, rest, o.runp) : undefined;
  const vmas = sameMaps ? parent!.vmas : !rest ? checkOtherVmas(o, w) : packed ? [] : unpackVmas(o.vmap, rest, w.at('vmap'));
  // fds as rows of (fd, file, cloexec): a tree of 1,000 tasks holds 400,000 of them, as objects
  // ~21 MB of heap that survive until the plan is made (fdRows, below)
  // (format 1.8: packed, fd-pack.ts; never both)
  if (o.fdp !== undefined && o.fds !== undefined) w.fail('both fds and fdp');
  const fdsIn = o.fdp !== undefined ? [] : arr(o.fds, w.at('fds'));
  const rows = o.fdp !== undefined ? checkFdp(o.fdp, w.at('fdp')) : new Int32Array(fdsIn.length * 3);
  let prevFd = -1;
  for (let i = 0; i < fdsIn.length; i++) {
    const x = fdsIn[i];
    // a well-formed entry is taken without a Where per field; anything else goes the long way,
    // which says what is wrong
    let fd: number, file: number, cloexec: boolean;
    if (isMap(x) && isInt(x.fd, prevFd + 1, MAX_FD) && isInt(x.file, 0, 1 << 30) && typeof x.cloexec === 'boolean') {
      fd = x.fd as number;
      file = x.file as number;
      cloexec = x.cloexec;
    } else {
      const fw = w.at('fds').at(i);
      const f = obj(x, fw);
      fd = field(f, 'fd', fw, (y, ww) => int(y, ww, 0, MAX_FD));
      if (fd <= prevFd) fw.fail(`fd ${fd} is out of order or appears twice`);
      file = field(f, 'file', fw, (y, ww) => int(y, ww, 0, 1 << 30));
      cloexec = field(f, 'cloexec', fw, bool);
    }
    prevFd = fd;
    rows[3 * i] = fd;
    rows[3 * i + 1] = file;
    rows[3 * i + 2] = cloexec ? 1 : 0;
  }
  const sigactions = same.has('sigactions') ? parent!.sigactions : arr(o.sigactions, w.at('sigactions'), 64).map((x, i): SigactionImage => {
    const sw = w.at('sigactions').at(i);
    const s = obj(x, sw);
    return {
      sig: field(s, 'sig', sw, (y, ww) => int(y, ww, 1, 64)),
      handler: field(s, 'handler', sw, (y, ww) => int(y, ww)),
      flags: field(s, 'flags', sw, u64),
      restorer: field(s, 'restorer', sw, (y, ww) => int(y, ww)),
      mask: field(s, 'mask', sw, u64),
    };
  });
  const rlimits = same.has('rlimits') ? parent!.rlimits : arr(o.rlimits, w.at('rlimits'), 16).map((x, i) => {
    const r = arr(x, w.at('rlimits').at(i), 2);
    return [u64(r[0], w.at('rlimits').at(i)), u64(r[1], w.at('rlimits').at(i))] as [bigint | number, bigint | number];
  });
  const specials = same.has('specials') ? parent!.specials : arr(o.specials, w.at('specials'), 16).map((x, i): SpecialVma => {
    const sw = w.at('specials').at(i);
    const s = obj(x, sw);
    const name = field(s, 'name', sw, str);
    if (!SPECIALS.includes(name)) sw.at('name').fail(`unknown special mapping ${shown(name)}`);
    const start = field(s, 'start', sw, (y, ww) => addr(y, ww, true));
    const end = field(s, 'end', sw, (y, ww) => addr(y, ww, true));
    if (end <= start) sw.fail('mapping ends before it starts');
    if (end - start > 1 << 20) sw.fail('larger than 1 MiB'); // the kernel's are a few pages (restore_vdso.c)
    return { name, start, end };
  });
  // any part of the [vvar][vvar_vclock][vdso] group may be missing (unmapped, or vdso=0), each once
  if (!same.has('specials'))
    for (const [i, x] of specials.entries())
      if (specials.some((y, j) => j < i && (y.name === x.name || (y.start < x.end && x.start < y.end))))
        w.at('specials').at(i).fail(`${x.name} twice, or over another special mapping`);
  const creds = same.has('creds') ? {} : obj(o.creds, w.at('creds'));
  const rseqOf = (v: CborValue | undefined, rw: Where) => {
    if (v === null) return null;
    const r = obj(v, rw);
    return {
      ptr: field(r, 'ptr', rw, (y, ww) => addr(y, ww)),
      len: field(r, 'len', rw, (y, ww) => int(y, ww, 0, 4095)),
      sig: field(r, 'sig', rw, (y, ww) => int(y, ww, 0, 0xffffffff)),
    };
  };
  const sigs = (v: CborValue | undefined, sw: Where): ThreadSignals => {
    const o2 = obj(v, sw);
    const alt = arr(o2.altstack, sw.at('altstack'), 3).map((x, i) => int(x, sw.at('altstack').at(i)));
    if (alt.length !== 3) sw.at('altstack').fail('expected [sp, flags, size]');
    const pending = field(o2, 'pending', sw, (y, ww) => bytes(y, ww, 0, MAX_PENDING * 128));
    if (pending.length % 128) sw.at('pending').fail('not whole siginfos');
    const rb = o2.robust === undefined ? undefined : arr(o2.robust, sw.at('robust'), 2);
    if (rb && rb.length !== 2) sw.at('robust').fail('expected [head, length]');
    const robust: [number, number] | undefined = rb && [addr(rb[0], sw.at('robust').at(0)), int(rb[1], sw.at('robust').at(1), 24, 24)];
    return { altstack: alt as [number, number, number], pending, ...(robust ? { robust } : {}) };
  };
  const threadSeen = new Set<number>();
  const threads = arr(o.threads, w.at('threads'), PID_MAX).map((x, i): ThreadImage => {
    const tw = w.at('threads').at(i);
    const t = obj(x, tw);
    const tid = field(t, 'tid', tw, (y, ww) => int(y, ww, 1, PID_MAX));
    if (threadSeen.has(tid)) tw.fail(`tid ${tid} appears twice`);
    threadSeen.add(tid);
    return {
      tid,
      comm: field(t, 'comm', tw, (y, ww) => str(y, ww, 16)),
      regs: field(t, 'regs', tw, (y, ww) => bytes(y, ww, 216, 216)),
      xstate: field(t, 'xstate', tw, (y, ww) => bytes(y, ww, 512, 16384)),
      sigmask: field(t, 'sigmask', tw, u64),
      rseq: rseqOf(t.rseq, tw.at('rseq')),
      tidAddress: field(t, 'tidAddress', tw, (y, ww) => addr(y, ww)),
      signals: sigs(t.signals, tw.at('signals')),
    };
  });
  const mainSignals = sigs(o.signals, w.at('signals'));
  const shared = field(obj(o.signals, w.at('signals')), 'shared', w.at('signals'), (y, ww) => bytes(y, ww, 0, MAX_PENDING * 128));
  if (shared.length % 128) w.at('signals').at('shared').fail('not whole siginfos');
  // queued signals are charged to RLIMIT_SIGPENDING (resource 11): never more than it allowed
  const queued = (shared.length + mainSignals.pending.length + threads.reduce((n, t) => n + t.signals.pending.length, 0)) / 128;
  const sigLimit = rlimits[11]?.[0];
  if (sigLimit !== undefined && queued > 64 && BigInt(queued) > BigInt(sigLimit)) w.at('signals').fail(`${queued} signals pending, more than its RLIMIT_SIGPENDING (${sigLimit})`);
  const itimers = same.has('itimers') ? parent!.itimers : arr(o.itimers, w.at('itimers'), 3).map((x, i) => arr(x, w.at('itimers').at(i), 4).map((y, j) => int(y, w.at('itimers').at(i).at(j))));
  if (!same.has('itimers') && (itimers.length !== 3 || itimers.some((t) => t.length !== 4))) w.at('itimers').fail('expected 3 timers of 4 numbers');
  // the XSAVE area kept without its trailing zeros, the fds as rows (task-compact.ts adds the
  // fds and xstate accessors)
  const xs = xstateOf(field(o, 'xstate', w, (y, ww) => bytes(y, ww, 512, 16384)));
  const task: Omit<TaskImage, 'fds' | 'xstate'> = {
    pid: field(o, 'pid', w, (y, ww) => int(y, ww, 1, PID_MAX)),
    comm: field(o, 'comm', w, (y, ww) => str(y, ww, 16)),
    exe: field(o, 'exe', w, (y, ww) => pathText(y, ww)),
    cwd: field(o, 'cwd', w, (y, ww) => pathText(y, ww)),
    ...(o.cwdObj !== undefined ? { cwdObj: field(o, 'cwdObj', w, (y, ww) => int(y, ww, 0, (1 << 30) - 1)) } : {}),
    umask: field(o, 'umask', w, (y, ww) => int(y, ww, 0, 0o777)),
    creds: same.has('creds') ? parent!.creds : {
      uid: ids4(creds.uid, w.at('creds').at('uid')),
      gid: ids4(creds.gid, w.at('creds').at('gid')),
      groups: arr(creds.groups, w.at('creds').at('groups'), 64).map((u, i) => int(u, w.at('creds').at('groups').at(i), 0, 0xffffffff)),
      dumpable: field(creds, 'dumpable', w.at('creds'), (y, ww) => int(y, ww, 0, 2)),
      caps: creds.caps === undefined ? undefined : capSets(creds.caps, w.at('creds').at('caps')),
    },
    regs: field(o, 'regs', w, (y, ww) => bytes(y, ww, 216, 216)),
    sigmask: field(o, 'sigmask', w, u64),
    rseq: rseqOf(o.rseq, w.at('rseq')),
    pdeathsig: field(o, 'pdeathsig', w, (y, ww) => int(y, ww, 0, 64)),
    sigactions,
    rlimits,
    mm: same.has('mm') ? parent!.mm : checkMm(o.mm, w.at('mm')),
    auxv: same.has('auxv') ? parent!.auxv : field(o, 'auxv', w, (y, ww) => bytes(y, ww, 0, 1024)),
    tidAddress: field(o, 'tidAddress', w, (y, ww) => addr(y, ww)),
    threads,
    leaderExited: field(o, 'leaderExited', w, bool),
    signals: { ...mainSignals, shared },
    itimers,
    subreaper: field(o, 'subreaper', w, bool),
    ...(o.ctty !== undefined ? { ctty: field(o, 'ctty', w, (y, ww) => int(y, ww, 0, 1 << 20)) } : {}),
    ...(o.tpgid !== undefined ? { tpgid: field(o, 'tpgid', w, (y, ww) => int(y, ww, 1, PID_MAX)) } : {}),
    personality: field(o, 'personality', w, (y, ww) => int(y, ww, 0, 0xffffffff)),
    noNewPrivs: field(o, 'noNewPrivs', w, bool),
    ...(o.attrs !== undefined ? { attrs: checkAttrs(o.attrs, w.at('attrs'), [field(o, 'pid', w, (y, ww) => int(y, ww, 1, PID_MAX)), ...threads.map((t) => t.tid)]) } : {}),
    ...(o.seccomp !== undefined ? { seccomp: checkSeccomp(o.seccomp, w.at('seccomp'), [field(o, 'pid', w, (y, ww) => int(y, ww, 1, PID_MAX)), ...threads.map((t) => t.tid)]) } : {}),
    posixTimers: arr(o.posixTimers, w.at('posixTimers'), 512).map((x, i): PosixTimer => {
      const pw = w.at('posixTimers').at(i);
      const t = obj(x, pw);
      const notify = field(t, 'notify', pw, (y, ww) => str(y, ww, 8));
      if (!['signal', 'thread', 'none'].includes(notify)) pw.at('notify').fail(`unknown notification ${shown(notify)}`);
      const pair = (k: string): [number, number] => {
        const a = arr(t[k], pw.at(k), 2).map((y, j) => int(y, pw.at(k).at(j)));
        if (a.length !== 2) pw.at(k).fail('expected [s, ns]');
        return a as [number, number];
      };
      return {
        id: field(t, 'id', pw, (y, ww) => int(y, ww, 0, 0x7fffffff)),
        clock: field(t, 'clock', pw, (y, ww) => int(y, ww, 0, 15)),
        notify,
        signo: field(t, 'signo', pw, (y, ww) => int(y, ww, 0, 64)),
        sigval: field(t, 'sigval', pw, u64),
        tid: field(t, 'tid', pw, (y, ww) => int(y, ww, 0, PID_MAX)),
        interval: pair('interval'),
        value: pair('value'),
        ...(t.overrun !== undefined ? { overrun: field(t, 'overrun', pw, (y, ww) => int(y, ww, 1, 0x7fffffff)) } : {}),
      };
    }),
    specials,
    vmas,
    // format 1.6: packed with the mappings (vma-pack.ts), never both
    pageRuns: same.has('pageRuns') ? parent!.pageRuns : packed ? [] : o.runp === undefined ? checkRuns(o.pageRuns, vmas, w.at('pageRuns')) : o.pageRuns !== undefined ? w.fail('page runs both packed and not') : checkRuns(unpackRuns(o.runp, w.at('runp')), vmas, w.at('runp')),
    ...(o.inherited !== undefined ? { inherited: checkRuns(o.inherited, vmas, w.at('inherited')) } : {}),
    ...(o.guards !== undefined ? { guards: checkRuns(o.guards, vmas, w.at('guards'), false) } : {}),
  };
  const t = compact(task, rows, xs);
  if (packed) keepPacked(t, packed);
  return t;
}

export function checkTrailer(v: CborValue, path: string): Trailer {
  const w = new Where(path);
  const o = obj(v, w);
  return {
    records: field(o, 'records', w, (y, ww) => int(y, ww)),
    pageBytes: field(o, 'pageBytes', w, (y, ww) => int(y, ww)),
    digest: field(o, 'digest', w, (y, ww) => int(y, ww, 0, 0xffffffff)),
  };
}
