/** Signal names and numbers (the kernel's, as os.constants gives them, and the real-time ones
 * by their distance from SIGRTMIN): below the layers that print them (the helper's end, the
 * CLI's names, --notify-signal). */
import os from 'node:os';

const SIGRTMIN = 34;

/** A signal number from a name (SIGUSR2, USR2) or number; undefined when there is none. */
export function signalNumber(s: string | number): number | undefined {
  if (typeof s === 'number') return Number.isInteger(s) && s >= 1 && s <= 64 ? s : undefined;
  if (/^\d+$/.test(s)) return signalNumber(Number(s));
  const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name);
  if (rt) return signalNumber(SIGRTMIN + Number(rt[1] ?? 0));
  return (os.constants.signals as Record<string, number>)[name];
}

let names: Map<number, string> | undefined;

/** "SIGTERM", "SIGRTMIN+3", "signal 32" */
export function signalName(n: number): string {
  if (!names) {
    // made at the first use, not at every command's start
    names = new Map();
    for (const [name, k] of Object.entries(os.constants.signals)) if (!names.has(k) && name !== 'SIGIOT' && name !== 'SIGPOLL' && name !== 'SIGUNUSED') names.set(k, name);
  }
  const name = names.get(n);
  if (name) return name;
  if (n >= SIGRTMIN && n <= 64) return n === SIGRTMIN ? 'SIGRTMIN' : `SIGRTMIN+${n - SIGRTMIN}`;
  return `signal ${n}`;
}
