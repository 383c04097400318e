/**
 * Files and directories of /proc that belong to a task of the tree: /proc/PID/... (also opened
 * as /proc/self/... or /proc/thread-self/...) and /proc/PID/task/TID/.... They name a task, so
 * they cannot be opened before it exists again: each task that holds one opens it itself in
 * its finish step (once its threads exist), at the path of the restored task (its new pid
 * under --pids), dups it to its other fds, and seeks to the saved offset where the file
 * allows it (a seq_file is read up to it again; an offset the file refuses is left at 0).
 * Several tasks that held one open file (inherited across fork) get one open file each.
 */
import { UnsupportedError } from '../../errors.js';
import { procSubPathOk } from '../../image/kinds/proc.js';
import { hex } from '../helper.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFileProc } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

const PROC_PATH = /^\/proc\/(\d+)(?:\/task\/(\d+))?((?:\/[^/]+)*)$/;

export const procFile: FdOps<FileOf<'proc'>> = {
  kind: 'proc',
  matches: (f, ctx) => {
    const m = PROC_PATH.exec(f.link);
    return !!m && (f.stat.isFile() || f.stat.isDirectory()) && ctx.treePid?.(Number(m[1])) !== undefined;
  },
  dump: (f, ctx) => {
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
