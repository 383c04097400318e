/**
 * Self-checkpoint: a program checkpoints its own tree by running `ucr checkpoint` on itself
 * (or an ancestor), typically through system(). ucr is then a descendant of the target, and so
 * are the shell and anything else between the caller and ucr. Those are left out:
 *
 *   caller ─ sh -c ... ─ node (ucr) ─ ucr-helper
 *            └─ X: the "call", left out with everything under it
 *
 * X is ucr's own process, or its highest ancestor such that everything between it and ucr is a
 * shell (sh, dash, bash...), never the root of the selection. X's parent is the caller: it is
 * checkpointed like any task, frozen in its wait for X. In the image X is a zombie child of
 * the caller with exit status RESTARTED_EXIT_STATUS, so after a restart the caller's
 * waitpid()/system() returns that status, while in the original run ucr exits 0 (or with an
 * error status): the program learns it was restarted from the status of its own call.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TreeEntry } from '../image/types.js';
import { readStat } from '../kernel/proc.js';

/** The exit status `ucr checkpoint` appears to have in a restarted copy of its caller. */
export const RESTARTED_EXIT_STATUS = 99;

const SHELLS = new Set(['sh', 'dash', 'bash', 'zsh', 'ksh', 'mksh', 'busybox', 'env', 'nice', 'nohup', 'timeout']);

function ppidOf(pid: number): number {
  try {
    return readStat(pid).ppid;
  } catch {
    return 0;
  }
}

function isShell(pid: number): boolean {
  try {
    return SHELLS.has(path.basename(fs.readlinkSync(`/proc/${pid}/exe`)));
  } catch {
    return false;
  }
}

export interface SelfCall {
  /** the top of ucr's chain inside the selection: left out with its whole subtree */
  top: number;
  /** its parent, the caller (a task of the image) */
  caller: number;
  /** X as it goes into the TREE: a zombie child of the caller */
  entry: TreeEntry;
  /** is pid in X's subtree (X included)? */
  under(pid: number): boolean;
}

/**
 * Finds the call when ucr runs inside the selection. inSelection tells whether a process is
 * selected (before exclusion); ucr's own pid and its ancestors are tested.
 */
export function findSelfCall(inSelection: (pid: number) => boolean, root: number): SelfCall | undefined {
  const chain: number[] = [];
  for (let p = process.pid; p > 1 && inSelection(p); p = ppidOf(p)) {
    chain.push(p);
    if (p === root) break;
  }
  if (chain.length < 2) return undefined; // ucr is not below a selected process
  let i = 0;
  while (i + 2 < chain.length && isShell(chain[i + 1]!)) i++;
  const top = chain[i]!;
  const caller = chain[i + 1]!;
  const st = readStat(top);
  const entry: TreeEntry = {
    pid: top,
    ppid: caller,
    pgid: st.pgid,
    sid: st.sid,
    comm: st.comm,
    state: 'zombie',
    threads: 1,
    exitStatus: RESTARTED_EXIT_STATUS << 8,
  };
  const under = (pid: number): boolean => {
    for (let p = pid, n = 0; p > 1 && n < 4096; p = ppidOf(p), n++) if (p === top) return true;
    return false;
  };
  return { top, caller, entry, under };
}

/** Every process in the call's subtree now (for leak detection: they are not outside holders). */
export function callProcesses(call: SelfCall): number[] {
  return fs
    .readdirSync('/proc')
    .map(Number)
    .filter((p) => p > 0 && call.under(p));
}
