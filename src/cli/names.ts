/**
 * Numbers of the image by name, for people: open flags (O_RDWR|O_APPEND), protections
 * (PROT_READ|PROT_WRITE), MAP_SHARED/MAP_PRIVATE, signals and signal sets, system calls
 * (x86_64), and the kernel's internal restart codes a stopped task may show in rax.
 */
import { errnoName } from '../errno.js';
import { syscallName } from '../kernel/syscall-names.js';
import { signalName } from '../signals.js';

export { signalName, syscallName };

/** fcntl F_GETFL bits (x86_64, octal as in asm-generic/fcntl.h), after the access mode. */
const OPEN_FLAGS: [number, string][] = [
  [0o100, 'O_CREAT'],
  [0o200, 'O_EXCL'],
  [0o400, 'O_NOCTTY'],
  [0o1000, 'O_TRUNC'],
  [0o2000, 'O_APPEND'],
  [0o4000, 'O_NONBLOCK'],
  [0o4010000, 'O_SYNC'],
  [0o10000, 'O_DSYNC'],
  [0o20000, 'O_ASYNC'],
  [0o40000, 'O_DIRECT'],
  [0o100000, 'O_LARGEFILE'],
  [0o20200000, 'O_TMPFILE'],
  [0o200000, 'O_DIRECTORY'],
  [0o400000, 'O_NOFOLLOW'],
  [0o1000000, 'O_NOATIME'],
  [0o2000000, 'O_CLOEXEC'],
  [0o10000000, 'O_PATH'],
];

/** Names for the bits of a mask, in table order; bits left over as one octal or hex number. */
function bitNames(v: number, table: [number, string][], rest: (n: number) => string): string[] {
  const out: string[] = [];
  let left = v;
  for (const [bits, name] of table)
    if ((left & bits) === bits) {
      out.push(name);
      left &= ~bits;
    }
  if (left) out.push(rest(left));
  return out;
}

/** "O_RDWR|O_APPEND" */
export function openFlags(flags: number): string {
  const mode = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'][flags & 3]!;
  return [mode, ...bitNames(flags & ~3, OPEN_FLAGS, (n) => `0${n.toString(8)}`)].join('|');
}

/** "PROT_READ|PROT_EXEC", "PROT_NONE" */
export function protText(prot: number): string {
  const names = bitNames(prot, [[1, 'PROT_READ'], [2, 'PROT_WRITE'], [4, 'PROT_EXEC']], (n) => `0x${n.toString(16)}`);
  return names.length ? names.join('|') : 'PROT_NONE';
}

export function mapText(shared: boolean): string {
  return shared ? 'MAP_SHARED' : 'MAP_PRIVATE';
}

/** The signals of a sigset_t (bit n-1 is signal n), by name; "none" when empty. */
export function sigsetText(mask: bigint | number): string {
  const m = BigInt(mask);
  const out: string[] = [];
  for (let i = 0; i < 64; i++) if ((m >> BigInt(i)) & 1n) out.push(signalName(i + 1));
  return out.join(' ') || 'none';
}

/** The kernel's internal "restart the call" codes (include/linux/errno.h), seen in the rax of a
 * task stopped inside a system call. */
const RESTART_CODES: Record<number, string> = { 512: 'ERESTARTSYS', 513: 'ERESTARTNOINTR', 514: 'ERESTARTNOHAND', 515: 'ENOIOCTLCMD', 516: 'ERESTART_RESTARTBLOCK' };

/** A system call's return value: "-516 (ERESTART_RESTARTBLOCK)", "-4 (EINTR)", "3" */
export function returnText(rax: bigint): string {
  if (rax >= 0n || rax < -4095n) return String(rax);
  const n = Number(-rax);
  const name = RESTART_CODES[n] ?? errnoName(n);
  return name ? `${rax} (${name})` : String(rax);
}
