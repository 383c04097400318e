/**
 * Files and directories of /proc that belong to a task of the tree: /proc/PID/... (also opened
 * as /proc/self/... or /proc/thread-self/...) and /proc/PID/task/TID/.... They name a task, so
 * they cannot be opened before it exists again: each task that holds one opens it itself in
 * its finish step (once its threads exist), at the path of the restored task (its new pid
 * under --pids), dups it to its other fds, and seeks to the saved offset where the file
 * allows it (a seq_file is read up to it again; an offset the file refuses is left at 0).
 * Several tasks that held one open file (inherited across fork) get one open file each.
 * Namespace files (/proc/PID/ns/TYPE, shown as "net:[N]") of a holder's own namespaces too.
 */
import fs from 'node:fs';
import { UnsupportedError } from '../../errors.js';
import { procSubPathOk } from '../../image/kinds/proc.js';
import type { FileOf } from '../../image/types.js';
import type { FdFacts, FdOps, ObjectContext } from './types.js';
import { planFileProc } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

const PROC_PATH = /^\/proc\/(\d+)(?:\/task\/(\d+))?((?:\/[^/]+)*)$/;
/** a namespace file (nsfs), as /proc/PID/fd shows it */
const NS_LINK = /^(cgroup|ipc|mnt|net|pid|time|user|uts):\[(\d+)\]$/;

/**
 * A namespace file (opened at /proc/PID/ns/TYPE) of a namespace its holder is in: reopened like
 * a file of /proc at /proc/<restored pid>/ns/TYPE (or TYPE_for_children), which names the
 * namespace the restored task is in. One of a namespace none of its holders is in is refused.
 */
function dumpNs(f: FdFacts, ctx: ObjectContext, type: string): Omit<FileOf<'proc'>, 'id' | 'kind'> {
  for (const h of ctx.holders) {
    const pid = ctx.treePid?.(h.pid);
    if (pid === undefined) continue;
    for (const sub of [`/ns/${type}`, `/ns/${type}_for_children`]) {
      try {
        const st = fs.statSync(`/proc/${h.pid}${sub}`);
        if (st.ino === f.stat.ino && st.dev === f.stat.dev) return { path: f.link, flags: f.info.flags, pos: 0, proc: { pid, sub } };
      } catch {
        // no such namespace type here (time_for_children on an older kernel)
      }
    }
  }
  throw new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link}): a namespace file of a ${type} namespace that none of its holders is in: not supported`, { pid: f.pid, object: `fd ${f.fd}`, phase: 'files' });
}

export const procFile: FdOps<FileOf<'proc'>> = {
  kind: 'proc',
  matches: (f, ctx) => {
    if (NS_LINK.test(f.link) && f.stat.isFile()) return true;
    const m = PROC_PATH.exec(f.link);
    return !!m && (f.stat.isFile() || f.stat.isDirectory()) && ctx.treePid?.(Number(m[1])) !== undefined;
  },
  dump: (f, ctx) => {
    const ns = NS_LINK.exec(f.link);
    if (ns) return dumpNs(f, ctx, ns[1]!);
    const m = PROC_PATH.exec(f.link)!;
    const sub = m[3] ?? '';
    if (!procSubPathOk(sub)) // a magic link of /proc/PID never shows as an open file's path
      throw new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link}): this file of /proc cannot be reopened`, { pid: f.pid, phase: 'files' });
    const pid = ctx.treePid!(Number(m[1]))!;
    const tid = m[2] === undefined ? undefined : Number(m[2]) === Number(m[1]) ? pid : Number(m[2]);
    return { path: f.link, flags: f.info.flags, pos: f.info.pos, proc: { pid, ...(tid !== undefined ? { tid } : {}), sub } };
  },
  late: 'a file of /proc',
  check() {},
  plan: (file) => planFileProc({ id: file.id, pid: file.proc.pid, tid: file.proc.tid ?? 0, sub: file.proc.sub || undefined, flags: openFileFlags(file.flags), pos: file.pos }),
};
