/**
 * The default `ucr inspect`: what an image holds on one screen. The tree with each task's
 * memory and fd count, fds grouped by kind, sockets with their peers, objects shared between
 * tasks, leaks, and warnings (external stdio, what restart will do differently or refuse).
 * Every mapping, fd and register: `--all` or `--task PID` (inspect-view.ts).
 */
import { printable } from '../image/printable.js';
import type { InspectResult } from '../orchestrator/inspect.js';
import type { FileImage, TaskImage } from '../image/types.js';
import { fileFormats, formatOf } from '../image/kinds/index.js';
import { objectShort } from '../image/object-kinds.js';
import { drawTree, fileText, leaksText, mib, socketText } from './inspect-view.js';

/** At most max lines: the first ones, then how many were left out. */
function capped(lines: string[], max: number, what: string): string[] {
  return lines.length <= max ? lines : [...lines.slice(0, max - 1), `  ... ${lines.length - max + 1} more ${what} (--all)`];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function kindOf(f: FileImage | undefined): string {
  return f ? (formatOf(f.kind).label?.(f) ?? f.kind) : '?';
}

/** "regular 2 (/var/log/app.log), pipe 1, tcp 3" */
function fdKinds(t: TaskImage, files: Map<number, FileImage>): string {
  const kinds = new Map<string, { n: number; paths: Set<string> }>();
  for (const fd of t.fds) {
    const f = files.get(fd.file);
    const k = kindOf(f);
    const e = kinds.get(k) ?? { n: 0, paths: new Set<string>() };
    e.n++;
    if (f && formatOf(f.kind).named) e.paths.add(f.path);
    kinds.set(k, e);
  }
  return [...kinds]
    .map(([k, e]) => {
      const paths = [...e.paths];
      const shown = paths.slice(0, 2).join(', ') + (paths.length > 2 ? `, +${paths.length - 2}` : '');
      return `${k} ${e.n}${shown ? ` (${shown})` : ''}`;
    })
    .join(', ');
}

/** Who holds an open file: "4107 fd 1,2; 4108 fd 0" */
function holdersText(holders: [number, number][]): string {
  const byTask = new Map<number, number[]>();
  for (const [pid, fd] of holders) byTask.set(pid, [...(byTask.get(pid) ?? []), fd]);
  return [...byTask].map(([pid, fds]) => `${pid} fd ${fds.join(',')}`).join('; ');
}

/** Warnings that need no check of this machine: what the image itself says restart will do. */
function imageWarnings(r: InspectResult, holders: Map<number, [number, number][]>): string[] {
  const W: string[] = [];
  const files = r.meta.files.files;
  // kind by kind, in the registry's order (src/image/kinds/index.ts)
  for (const fmt of fileFormats)
    if (fmt.warnings) for (const f of files) if (f.kind === fmt.kind) W.push(...fmt.warnings(f, holdersText(holders.get(f.id) ?? [])));
  return W;
}

/** refusals: what a restart here would refuse now (orchestrator/preflight.ts). */
export function renderSummary(r: InspectResult, refusals: string[]): string {
  const h = r.meta.header;
  const files = new Map(r.meta.files.files.map((f) => [f.id, f]));
  const taskOf = new Map(r.meta.tasks.map((t) => [t.pid, t]));
  const threads = r.meta.tree.tasks.reduce((n, e) => n + (e.state === 'zombie' ? 0 : e.threads), 0);
  const holders = new Map<number, [number, number][]>();
  for (const t of r.meta.tasks) for (const fd of t.fds) holders.set(fd.file, [...(holders.get(fd.file) ?? []), [t.pid, fd.fd]]);

  const L = [
    `image ${r.image}: ucr format ${r.format}, complete (trailer ok${r.verified ? ', all page checksums verified' : ''}), made by ${h.tool} at ${h.createdAt} as uid ${h.owner.uid}`,
    `  ${plural(r.meta.tree.tasks.length, 'process', 'processes')}, ${plural(threads, 'thread')}, ${mib(r.pageBytes)} of pages${r.compressedBytes !== undefined ? ` (${mib(r.compressedBytes)} stored, lz4)` : ''}; made on ${h.arch}, kernel ${h.kernel.release}`,
    'tree (memory mapped / saved, open fds):',
    ...capped(
      drawTree(r.meta.tree.tasks, (e) => {
        const t = taskOf.get(e.pid);
        if (!t) return '';
        const mapped = t.vmas.reduce((s, v) => s + v.end - v.start, 0);
        const saved = t.pageRuns.reduce((s, [, n]) => s + n * 4096, 0);
        return `  ${mib(mapped)} / ${mib(saved)}, ${plural(t.fds.length, 'fd')}`;
      }),
      16,
      'processes',
    ),
    'fds by kind:',
    ...capped(
      r.meta.tasks.map((t) => `  ${t.pid}: ${fdKinds(t, files) || 'none'}`),
      8,
      'tasks',
    ),
  ];
  const sockets = r.meta.files.files.map((f) => socketText(f)).filter((s): s is string => s !== undefined);
  L.push(`sockets:${sockets.length ? '' : ' none'}`, ...capped(sockets.map((s) => `  ${s}`), 8, 'sockets'));

  const shared = [...holders].filter(([, hs]) => hs.length > 1);
  const sharedLines = shared.map(([id, hs]) => `  #${id} ${fileText(files.get(id)!)}: ${holdersText(hs)}`);
  for (const p of r.meta.files.pipes) if (p.data.length) sharedLines.push(`  pipe ${p.id}: ${p.data.length} bytes queued`);
  for (const o of r.meta.files.objects ?? []) sharedLines.push(`  ${objectShort(o)}, ${o.size < 1048576 ? `${o.size} bytes` : mib(o.size)}`);
  const ipc = r.meta.ipc;
  if (ipc.shm.length + ipc.sem.length + ipc.msg.length)
    sharedLines.push(`  System V IPC${ipc.ownNamespace ? " (the tree's own namespace)" : ''}: ${plural(ipc.shm.length, 'shared memory segment')}, ${plural(ipc.sem.length, 'semaphore set')}, ${plural(ipc.msg.length, 'message queue')}`);
  L.push(`shared objects:${sharedLines.length ? '' : ' none'}`, ...capped(sharedLines, 8, 'objects'));

  L.push(leaksText(r.meta.files.files.filter((f) => f.leak)));

  const warnings = [...imageWarnings(r, holders), ...refusals.map((x) => `restart would refuse: ${x}`)];
  L.push(`warnings:${warnings.length ? '' : ' none'}`, ...capped(warnings.map((w) => `  ${w}`), 8, 'warnings'));
  L.push(`(every mapping, fd, register and timer: ucr inspect --all, or --task PID for one task)`);
  return L.map(printable).join('\n'); // image strings never drive the terminal
}
