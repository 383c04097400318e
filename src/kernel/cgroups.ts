/**
 * cgroup membership (docs/cgroups.md). Checkpoint: each live task's /proc/PID/cgroup and its
 * cgroup namespace link, read by the helper with its other /proc files (proc-files.ts), kept as
 * a set of "KEY:PATH" lines shared by the tasks that have the same (image/cgroups.ts), and its
 * threads moved alone with their own sets (the helper flags the task: dump_procfs.c); recorded
 * only when a task is in a cgroup other than ucr's own. Refused: a task or a thread in another
 * cgroup namespace than ucr's (namespaces.ts). Restart: each hierarchy where a task's cgroup is not the restarter's
 * own (a thread's: not its process's), resolved to a mount of the restarter's (`cgroup` and
 * `cgthread` plan lines; the helper makes, checks and enters it: restore/restore_cgroup.c).
 */
import fs from 'node:fs';
import { UnsupportedError } from '../errors.js';
import { badCgroupLine, cgroupLine } from '../image/cgroups.js';
import type { ImageTree, TreeEntry } from '../image/types.js';
import { refuseOwnCgroupNs } from './namespaces.js';
import { procUnescape, readProcText } from './proc.js';
import * as P from './protocol.gen.js';

/** /proc/PID/cgroup's text as "KEY:PATH" lines (the hierarchy numbers dropped: they are this
 * boot's). */
export function cgroupLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l)
    .map((l) => l.slice(l.indexOf(':') + 1));
}
const readCgroupLines = (proc: string) => cgroupLines(readProcText(`/proc/${proc}/cgroup`));

/** One mount of a cgroup hierarchy in /proc/self/mountinfo. */
export interface CgroupMount {
  root: string;
  point: string;
  v2: boolean;
  opts: Set<string>;
}

/** The cgroup and cgroup2 mounts of a mountinfo text. */
export function cgroupMounts(text = fs.readFileSync('/proc/self/mountinfo', 'latin1')): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [a, b] = line.split(' - ');
    if (!a || !b) continue;
    const f = a.split(' ');
    const [type, , sopts] = b.split(' ');
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    out.push({ root: procUnescape(f[3]!), point: procUnescape(f[4]!), v2: type === 'cgroup2', opts: new Set((sopts ?? '').split(',')) });
  }
  return out;
}

/** Where hierarchy key's cgroup path is in this mount namespace: the mount point and the path
 * below it ('' for the mount's root), or undefined when no mount of it reaches that cgroup. */
export function locate(mounts: CgroupMount[], key: string, path: string): { mount: string; rel: string } | undefined {
  const tokens = key.split(',');
  for (const m of mounts) {
    // a v1 controller or name belongs to one hierarchy only: one of them names its mounts
    if (key === '' ? !m.v2 : m.v2 || !tokens.every((t) => m.opts.has(t))) continue;
    const r = m.root === '/' ? '' : m.root;
    if (path !== r && !path.startsWith(r + '/')) continue;
    return { mount: m.point, rel: path.slice(r.length + 1) };
  }
  return undefined;
}

/** A live task's cgroup file and namespace link as the helper read them with its state, whether
 * one of its threads is in other cgroups (moved alone), and the first thread in another cgroup
 * namespace than the process's with its link (the helper compared them: dump_procfs.c). */
export interface CgroupRead {
  text: string;
  ns: string;
  apart: boolean;
  nsThread?: [number, string];
}

/** The checkpoint's record of the live tasks' cgroups. */
export class CgroupCapture {
  private readonly own = readCgroupLines('self').join('\n');
  private readonly sets: string[][] = [];
  private readonly index = new Map<string, number>();
  private readonly of = new Map<number, number>();
  private readonly threads = new Map<number, [number, number][]>();

  /** The index of a set of lines (added when new). */
  private setOf(pid: number, lines: string[]): number {
    const text = lines.join('\n');
    let i = this.index.get(text);
    if (i === undefined) {
      for (const l of lines) {
        const bad = badCgroupLine(l);
        if (bad) throw new UnsupportedError(`process ${pid}: cgroup ${l}: ${bad}: not supported`, { pid, phase: 'capture' });
      }
      i = this.sets.push(lines) - 1;
      this.index.set(text, i);
    }
    return i;
  }

  /** A live task (its pid in the image) as the helper read it; then, when one of its threads is
   * in other cgroups, threadTexts gives every other thread's /proc/PID/task/TID/cgroup (read
   * only then). */
  add(pid: number, read: CgroupRead, threadTexts: () => [number, string][]): void {
    // a task or thread in a cgroup namespace other than ucr's: refused (its paths are relative
    // to that namespace's root, which a restart cannot tell)
    refuseOwnCgroupNs(pid, read.ns, read.nsThread);
    const i = this.setOf(pid, cgroupLines(read.text));
    this.of.set(pid, i);
    if (!read.apart) return;
    // threads moved alone (cgroup v1 tasks file, v2 threaded mode): each one's set
    const apart: [number, number][] = [];
    for (const [tid, text] of threadTexts()) {
      const j = this.setOf(pid, cgroupLines(text));
      if (j !== i) apart.push([tid, j]);
    }
    if (apart.length) this.threads.set(pid, apart);
  }

  /** Whether a task was in a cgroup other than ucr's own: a set other than its own was seen (a
   * thread apart from its process is in a second set, so one of them is not ucr's). */
  private get differs(): boolean {
    return this.index.size > (this.index.has(this.own) ? 1 : 0);
  }

  /** Into the tree: only when a task was in a cgroup other than ucr's own (then format 1.7). */
  apply(tree: ImageTree): boolean {
    if (!this.differs) return false;
    tree.cgroups = this.sets;
    for (const e of tree.tasks) {
      if (e.state === 'zombie' || !this.of.has(e.pid)) continue;
      e.cgroup = this.of.get(e.pid);
      const th = this.threads.get(e.pid);
      if (th) e.threadCgroups = th;
    }
    return true;
  }
}

/** The restart's moves: per task (pid in the image) its `cgroup` plan lines, and warnings. */
export interface CgroupPlan {
  lines: Map<number, string[]>;
  warnings: string[];
}

/** Each live task's cgroups against the restarter's own: nothing to do where they are equal;
 * else the mount that reaches it, or a warning (the task stays in the restarter's). */
export function placeCgroups(tree: ImageTree): CgroupPlan {
  const plan: CgroupPlan = { lines: new Map(), warnings: [] };
  const sets = tree.cgroups;
  if (!sets) return plan;
  /** a set's lines as key -> path */
  const keyed = (set: string[]) => new Map(set.map((l) => cgroupLine(l)).map((c) => [c.key, c.path] as const));
  const own = keyed(readCgroupLines('self'));
  let mounts: CgroupMount[] | undefined;
  const warned = new Set<string>();
  /** where the lines of set differ from base (key -> path): the mount and the path below it */
  const moves = (set: string[], base: Map<string, string>, line: (at: { mount: string; rel: string }) => string): string[] => {
    const L: string[] = [];
    for (const l of set) {
      const { key, path } = cgroupLine(l);
      if (base.get(key) === path) continue;
      mounts ??= cgroupMounts();
      const at = own.has(key) ? locate(mounts, key, path) : undefined;
      if (at) L.push(line(at));
      else if (!warned.has(l)) {
        warned.add(l); // one warning for the sets that share it
        plan.warnings.push(`cgroup ${key || 'v2'}:${path}: that hierarchy is not mounted here (or not at that path): its processes stay in ${own.has(key) ? own.get(key) : "the restarter's cgroup"}`);
      }
    }
    return L;
  };
  const bySet = sets.map((set) => moves(set, own, (at) => P.planCgroup({ mount: at.mount, path: at.rel || undefined })));
  const keyedSets: Map<string, string>[] = []; // a process's set by key, made once, for its threads
  for (const e of tree.tasks as TreeEntry[]) {
    if (e.cgroup === undefined) continue;
    const L = [...bySet[e.cgroup]!];
    // a thread is born in its process's cgroups: moved where its own differ
    for (const [tid, j] of e.threadCgroups ?? []) {
      const mine = (keyedSets[e.cgroup] ??= keyed(sets[e.cgroup]!));
      L.push(...moves(sets[j]!, mine, (at) => P.planCgthread({ tid, mount: at.mount, path: at.rel || undefined })));
    }
    if (L.length) plan.lines.set(e.pid, L);
  }
  return plan;
}
