/**
 * The checkpoint's metadata records of a captured tree (checkpoint.ts, phase `write-metadata`):
 * the prelude with the format minor the image needs, HEADER, TREE, FILES, IPC, then each task's
 * TASK record with its fds as rows and the parts equal to its parent's left out (format 1.8).
 */
import { formatMinor } from '../image/format-minor.js';
import { PAGE_SIZE } from '../image/format.js';
import { FDP_MIN } from '../image/fd-pack.js';
import { sameParts, type SamePart } from '../image/same-parts.js';
import { setFdRows } from '../image/task-compact.js';
import type { ImageIpc, TaskImage, TreeEntry } from '../image/types.js';
import type { ImageWriter } from '../image/writer.js';
import type { CgroupCapture } from '../kernel/cgroups.js';
import type { CapturedFiles } from '../kernel/files.js';
import { isoTime } from '../iso-time.js';
import { VERSION } from '../version.js';
import { hostIdentity } from './host.js';

export interface CapturedTree {
  /** the tree's root */
  root: number;
  entries: TreeEntry[];
  tasks: TaskImage[];
  /** each task's pid as /proc shows it, by its pid in the image */
  procPids: Map<number, number>;
  files: CapturedFiles;
  cgroups: CgroupCapture;
  ipc: ImageIpc;
  compress: boolean;
}

/** Each task's parts equal to its parent's, which its record leaves out (format 1.8); a
 * parent's record is written before its children's. */
function sameAsParents(tasks: TaskImage[], entries: TreeEntry[]): SamePart[][] {
  const ppidOf = new Map(entries.map((e) => [e.pid, e.ppid]));
  const written = new Map<number, TaskImage>();
  return tasks.map((t) => {
    const s = sameParts(t, written.get(ppidOf.get(t.pid)!));
    written.set(t.pid, t);
    return s;
  });
}

const noRows = () => new Int32Array(0);
const noFds = () => 0;

/** Writes the metadata records; each task's fds are let go once its record is written, and the
 * files capture's tables after the last one. */
export function writeMetadata(w: ImageWriter, c: CapturedTree): void {
  const { tasks, entries, procPids, files } = c;
  const host = hostIdentity(tasks[0]!.xstate.length);
  const tree = { tasks: entries };
  const hasCgroups = c.cgroups.apply(tree); // the tree's cgroup sets, when a task's differ (format 1.7)
  // a table of 64 fds or more is packed (format 1.8)
  const packedFds = tasks.some((t) => files.fdCountOf(procPids.get(t.pid)!) >= FDP_MIN);
  const same = sameAsParents(tasks, entries);
  w.prelude(formatMinor(tasks, files.files, c.compress, hasCgroups, same.some((s) => s.length > 0), packedFds));
  w.header({
    arch: 'x86_64',
    pageSize: PAGE_SIZE,
    kernel: host.kernel,
    cpu: host.cpu,
    createdAt: isoTime(),
    tool: `ucr ${VERSION}`,
    owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
    root: c.root,
    ...(c.compress ? { compress: 'lz4' as const } : {}),
  });
  w.tree(tree);
  w.files(files.files);
  w.ipc(c.ipc);
  // each task's fds as rows (no object per fd: 400,000 for 1,000 tasks x 400 fds) as its
  // record is written, let go right after
  tasks.forEach((t, i) => {
    setFdRows(t, files.fdRowsOf(procPids.get(t.pid)!));
    w.task(t, same[i]);
    t.fds = [];
  });
  w.flush(); // all of it in the file before the helper writes the pages after it
  // written: fdRowsOf holds the files capture's tables (each fd's object and holders: ~8 MB of
  // typed arrays at 1,000 x 400 fds), which the pages and the check need no more (functions
  // made outside this one: a closure made here would keep its scope, and what the scope holds,
  // for as long as the capture lives)
  files.fdRowsOf = noRows;
  files.fdCountOf = noFds;
}
