/**
 * The checkpoint of one frozen task: asks the helper for what only ptrace or the task itself
 * can tell (registers, xstate, signal handlers, brk, rseq, limits, page runs) and reads the rest
 * from /proc. Pages are not touched here; the helper streams them later.
 */
import fs from 'node:fs';
import { UnsupportedError } from '../errors.js';
import type { FdImage, FileImage, SigactionImage, TaskImage, TreeEntry } from '../image/types.js';
import { native } from '../native/addon.js';
import { opsFor, type FdFacts } from './fds/registry.js';
import type { Helper } from './helper.js';
import { classify, mayHoldPrivatePages } from './memory.js';
import { listFds, readFdInfo, readLink, readSmaps, readStat, readStatus } from './proc.js';

interface StateEvent {
  regs: string;
  xstate: string;
  sigmask: string;
  rseq: [string, number, string, number];
  brk: string;
  pdeathsig: number;
  sigactions: [number, string, string, string, string][];
  rlimits: [string, string][];
}

/** A u64 from the helper's hex text: a number when exact, else a bigint. */
export function u64(hexText: string): bigint | number {
  const b = BigInt(hexText);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function num(hexText: string): number {
  const v = u64(hexText);
  if (typeof v === 'bigint') throw new Error(`value ${hexText} out of range`);
  return v;
}

function captureFiles(pid: number): { files: FileImage[]; fds: FdImage[] } {
  const files: FileImage[] = [];
  const fds: FdImage[] = [];
  const byInode = new Map<string, { fd: number; file: FileImage }[]>();
  for (const fd of listFds(pid)) {
    const link = readLink(`/proc/${pid}/fd/${fd}`);
    const facts: FdFacts = { pid, fd, link, stat: fs.statSync(`/proc/${pid}/fd/${fd}`), info: readFdInfo(pid, fd) };
    const ops = opsFor(facts);
    const cloexec = (facts.info.flags & 0o2000000) !== 0;
    const key = `${facts.stat.dev}:${facts.stat.ino}`;
    // fds that are one open file (dup, inherited) share one FileImage: kcmp decides.
    const same = (byInode.get(key) ?? []).find((c) => native().kcmpFiles(pid, c.fd, pid, fd) === 0);
    if (same) {
      fds.push({ fd, file: same.file.id, cloexec });
      continue;
    }
    const file: FileImage = { id: files.length, kind: ops.kind, ...ops.dump(facts) };
    files.push(file);
    fds.push({ fd, file: file.id, cloexec });
    byInode.set(key, [...(byInode.get(key) ?? []), { fd, file }]);
  }
  return { files, fds };
}

/** stateBefore: the /proc state letter read before freezing (frozen tasks all show 't'). */
export async function captureTask(h: Helper, pid: number, stateBefore: string): Promise<{ task: TaskImage; entry: TreeEntry }> {
  h.send('state');
  const st = (await h.next('state')) as unknown as StateEvent;
  const stat = readStat(pid);
  const status = readStatus(pid);
  const exe = readLink(`/proc/${pid}/exe`);
  if (exe.endsWith(' (deleted)'))
    throw new UnsupportedError(`process ${pid}: its executable ${exe} was deleted`, { pid, phase: 'memory' });

  const { vmas, specials } = classify(pid, readSmaps(pid));
  if (!specials.some((s) => s.name === '[vdso]') || !specials.some((s) => s.name === '[vvar]'))
    throw new UnsupportedError(`process ${pid}: no [vvar]/[vdso] mappings (a moved or unmapped vdso is not supported)`, { pid });
  const pageRuns: [number, number][] = [];
  for (const v of vmas) {
    if (!mayHoldPrivatePages(v)) continue;
    h.send(`runs ${v.start} ${v.end}`);
    const ev = (await h.next('runs')) as unknown as { runs: [number, number][] };
    if (ev.runs.length) v.fill = true;
    pageRuns.push(...ev.runs);
  }

  const sigactions: SigactionImage[] = st.sigactions
    .map(([sig, handler, flags, restorer, mask]) => ({ sig, handler: num(handler), flags: u64(flags), restorer: num(restorer), mask: u64(mask) }))
    .filter((a) => a.handler !== 0 || a.flags !== 0 || a.mask !== 0);
  const [rseqPtr, rseqLen, rseqSig] = st.rseq;
  const ids = (line: string | undefined) => (line ?? '').split(/\s+/).filter(Boolean).map(Number);
  const { files, fds } = captureFiles(pid);
  const task: TaskImage = {
    pid,
    comm: stat.comm,
    exe,
    cwd: readLink(`/proc/${pid}/cwd`),
    umask: parseInt(status.get('Umask') ?? '022', 8),
    creds: { uid: ids(status.get('Uid')), gid: ids(status.get('Gid')) },
    regs: Buffer.from(st.regs, 'hex'),
    xstate: Buffer.from(st.xstate, 'hex'),
    sigmask: u64(st.sigmask),
    rseq: num(rseqPtr) ? { ptr: num(rseqPtr), len: rseqLen, sig: num(rseqSig) } : null,
    pdeathsig: st.pdeathsig,
    sigactions,
    rlimits: st.rlimits.map(([c, m]) => [u64(c), u64(m)]),
    mm: {
      startCode: stat.startCode,
      endCode: stat.endCode,
      startData: stat.startData,
      endData: stat.endData,
      startBrk: stat.startBrk,
      brk: num(st.brk),
      startStack: stat.startStack,
      argStart: stat.argStart,
      argEnd: stat.argEnd,
      envStart: stat.envStart,
      envEnd: stat.envEnd,
    },
    auxv: fs.readFileSync(`/proc/${pid}/auxv`),
    specials,
    vmas,
    files,
    fds,
    pageRuns,
  };
  const threads = Number(status.get('Threads') ?? 1);
  const state = stateBefore === 'T' ? 'stopped' : stateBefore === 'Z' ? 'zombie' : 'running';
  return { task, entry: { pid, ppid: stat.ppid, pgid: stat.pgid, sid: stat.sid, comm: stat.comm, state, threads } };
}
