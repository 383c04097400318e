/**
 * How a task caught inside a system call resumes. The registers are put back verbatim and the
 * helper detaches from a ptrace stop, so the kernel's own restart logic runs on them:
 * -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND re-issue the call (rip -= 2, rax = orig_rax).
 * -ERESTART_RESTARTBLOCK needs the task's restart block, which a new task does not have, so the
 * kernel would return EINTR. For the sleeps, where that is visible to programs that never
 * expect EINTR, ucr re-issues the call itself when it can do so exactly:
 *   clock_nanosleep with TIMER_ABSTIME    the same call again (same deadline)
 *   nanosleep / clock_nanosleep, relative, with a `rem` pointer
 *                                         the kernel wrote the remaining time to *rem when it
 *                                         stopped; the call is re-issued with req = rem, so the
 *                                         remaining time counts from the restart
 * Otherwise (a relative sleep without rem, poll, futex waits with timeouts...) the task sees
 * EINTR, as after a restart in CRIU.
 */
import { REG, regValue } from '../image/types.js';

const ERESTARTNOINTR = -513n;
const ERESTART_RESTARTBLOCK = -516n;
const NR_NANOSLEEP = 35n;
const NR_CLOCK_NANOSLEEP = 230n;
const TIMER_ABSTIME = 1n;
const SLOT = { rdi: 14, rsi: 13, rdx: 12, r10: 7 };

function set(regs: Buffer, slot: number, v: bigint): void {
  regs.writeBigUInt64LE(BigInt.asUintN(64, v), slot * 8);
}

/** Returns the registers to restore (a copy when changed). */
export function restartFixup(regsIn: Uint8Array): Uint8Array {
  const rax = BigInt.asIntN(64, regValue(regsIn, REG.rax));
  if (rax !== ERESTART_RESTARTBLOCK) return regsIn;
  const nr = regValue(regsIn, REG.orig_rax);
  const regs = Buffer.from(regsIn);
  if (nr === NR_NANOSLEEP) {
    const rem = regValue(regs, SLOT.rsi);
    if (rem === 0n) return regsIn;
    set(regs, SLOT.rdi, rem);
  } else if (nr === NR_CLOCK_NANOSLEEP) {
    const flags = regValue(regs, SLOT.rsi);
    if (!(flags & TIMER_ABSTIME)) {
      const rem = regValue(regs, SLOT.r10);
      if (rem === 0n) return regsIn;
      set(regs, SLOT.rdx, rem);
    }
  } else {
    return regsIn;
  }
  set(regs, REG.rax, ERESTARTNOINTR);
  return regs;
}
