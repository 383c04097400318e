/** Validation of a task's seccomp state (TaskImage.seccomp) and of the filters across the
 * image: every program is checked as the kernel checks a seccomp filter (seccomp_check_filter,
 * bpf_check_classic) before anything is created, and the kernel checks it again when the task
 * installs it. A filter that can hand a system call to a listener (SECCOMP_RET_USER_NOTIF) is
 * refused: its listener is not saved. */
import type { CborValue } from './cbor.js';
import { Where, arr, bytes, field, int, obj } from './check.js';
import type { SeccompFilter, SeccompImage, TaskImage } from './types.js';

/** BPF_MAXINSNS, and the kernel's bound on a chain: its instructions plus 4 per filter below
 * the newest (MAX_INSNS_PER_PATH) */
export const SECCOMP_MAX_INSNS = 4096;
const MAX_INSNS_PER_PATH = 32768;
/** SECCOMP_FILTER_FLAG_LOG: the only flag a filter keeps (PTRACE_SECCOMP_GET_METADATA) */
export const SECCOMP_FLAG_LOG = 2;
const SECCOMP_DATA_SIZE = 64;
const RET_USER_NOTIF = 0x7fc00000;

/** Classic BPF opcodes seccomp accepts (ld/ldx len become immediates) */
const ALU = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0].flatMap((op) => [0x04 | op, 0x0c | op]);
const JMP = [0x10, 0x20, 0x30, 0x40].flatMap((op) => [0x05 | op, 0x0d | op]);
const OPS = new Set([0x06, 0x16, 0x20, 0x80, 0x81, 0x00, 0x01, 0x02, 0x03, 0x60, 0x61, 0x07, 0x87, 0x84, 0x05, ...ALU, ...JMP]);

/** What is wrong with a seccomp program (undefined: nothing the kernel would refuse, and no
 * listener's action). */
export function bpfProblem(prog: Uint8Array): string | undefined {
  if (prog.length % 8 || prog.length < 8 || prog.length > SECCOMP_MAX_INSNS * 8) return `${prog.length} bytes: not 1 to ${SECCOMP_MAX_INSNS} instructions of 8 bytes`;
  const b = Buffer.from(prog.buffer, prog.byteOffset, prog.byteLength);
  const n = prog.length / 8;
  for (let pc = 0; pc < n; pc++) {
    const code = b.readUInt16LE(pc * 8), jt = b[pc * 8 + 2]!, jf = b[pc * 8 + 3]!, k = b.readUInt32LE(pc * 8 + 4);
    if (!OPS.has(code)) return `instruction ${pc}: opcode 0x${code.toString(16)} is not allowed in a seccomp filter`;
    if (code === 0x20 && (k >= SECCOMP_DATA_SIZE || k & 3)) return `instruction ${pc}: loads offset ${k}, outside struct seccomp_data`;
    if ((code === 0x60 || code === 0x61 || code === 0x02 || code === 0x03) && k >= 16) return `instruction ${pc}: scratch memory slot ${k}`;
    if (code === 0x34 && k === 0) return `instruction ${pc}: division by zero`;
    if ((code === 0x64 || code === 0x74) && k >= 32) return `instruction ${pc}: shift by ${k}`;
    if (code === 0x05 && k >= n - pc - 1) return `instruction ${pc}: jumps past the end`;
    if ((code & 0x07) === 0x05 && code !== 0x05 && (pc + jt + 1 >= n || pc + jf + 1 >= n)) return `instruction ${pc}: jumps past the end`;
    if (code === 0x16) return `instruction ${pc}: returns a computed action (BPF_RET|BPF_A), which may be SECCOMP_RET_USER_NOTIF (its listener is not saved)`;
    if (code === 0x06 && (k & 0xffff0000) >>> 0 === RET_USER_NOTIF) return `instruction ${pc}: returns SECCOMP_RET_USER_NOTIF (its listener is not saved)`;
  }
  const last = b.readUInt16LE((n - 1) * 8);
  return last === 0x06 ? undefined : 'the last instruction is not a return';
}

/** tids: the task's pid and its threads' tids. Filter ids and what they refer to across the
 * image are checked by seccompProblem. */
export function checkSeccomp(v: CborValue | undefined, w: Where, tids: number[]): SeccompImage {
  const o = obj(v, w);
  const filters = arr(o.filters, w.at('filters'), MAX_INSNS_PER_PATH).map((x, i): SeccompFilter => {
    const fw = w.at('filters').at(i);
    const f = obj(x, fw);
    const id = field(f, 'id', fw, (y, ww) => int(y, ww, 0, (1 << 30) - 1));
    const flags = field(f, 'flags', fw, (y, ww) => int(y, ww, 0, SECCOMP_FLAG_LOG));
    if (flags & ~SECCOMP_FLAG_LOG) fw.at('flags').fail(`unknown filter flags ${flags}`);
    const prog = field(f, 'prog', fw, (y, ww) => bytes(y, ww, 8, SECCOMP_MAX_INSNS * 8));
    const bad = bpfProblem(prog);
    if (bad) fw.at('prog').fail(bad);
    return { id, prev: field(f, 'prev', fw, (y, ww) => int(y, ww, -1, id - 1)), flags, prog };
  });
  const seen = new Set<number>();
  const threads = arr(o.threads, w.at('threads'), tids.length).map((x, i): [number, number, number] => {
    const tw = w.at('threads').at(i);
    const t = arr(x, tw, 3);
    const tid = int(t[0], tw.at(0), 1, 4194303);
    if (!tids.includes(tid)) tw.at(0).fail(`${tid} is not a thread of the task`);
    if (seen.has(tid)) tw.at(0).fail(`thread ${tid} appears twice`);
    seen.add(tid);
    const mode = int(t[1], tw.at(1), 1, 2);
    const filter = int(t[2], tw.at(2), -1, (1 << 30) - 1);
    if ((mode === 1) !== (filter === -1)) tw.at(2).fail(`mode ${mode} with filter ${filter}: strict mode has none, filter mode its newest`);
    return [tid, mode, filter];
  });
  return { filters, threads };
}

/** Across the tasks in image order: ids 0, 1, 2..., each filter on one defined before it, every
 * thread's filter defined in its task or an earlier one, every chain within the kernel's bound.
 * The problem as text, or undefined. */
export function seccompProblem(tasks: TaskImage[]): string | undefined {
  const cost: number[] = [];
  for (const t of tasks) {
    for (const f of t.seccomp?.filters ?? []) {
      if (f.id !== cost.length) return `${t.pid}: seccomp filter ${f.id} where filter ${cost.length} comes next`;
      const c = f.prog.length / 8 + (f.prev >= 0 ? cost[f.prev]! + 4 : 0);
      if (c > MAX_INSNS_PER_PATH) return `${t.pid}: seccomp filter ${f.id} makes a chain of ${c} instructions, more than the kernel's ${MAX_INSNS_PER_PATH}`;
      cost.push(c);
    }
    for (const [tid, , filter] of t.seccomp?.threads ?? [])
      if (filter >= cost.length) return `${t.pid}: thread ${tid} names seccomp filter ${filter}, which is not defined by then`;
  }
  return undefined;
}
