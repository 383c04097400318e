/** Files and directories of /proc/PID of a task of the image (src/kernel/fds/proc.ts). */
import { PID_MAX, field, int, obj, str } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface ProcFile extends FileBase {
  kind: 'proc';
  /** a file of /proc/PID (pid: a task of the image) or of /proc/PID/task/TID, `sub` the rest of
   * the path ('' for the directory itself) */
  proc: { pid: number; tid?: number; sub: string };
}

/** a namespace of the task, reopened through its link (src/kernel/fds/proc.ts) */
export const NS_SUB = /^\/ns\/(cgroup|ipc|mnt|net|pid|time|user|uts)(_for_children)?$/;

/** A path below /proc/PID that stays inside it: no '.' or '..', no magic link (root, cwd, exe,
 * fd/N, map_files/...: the kernel never shows them as the path of an open file) but the
 * namespace links ns/TYPE (a namespace file's fd: reopened through the link); the directories
 * fd, map_files and ns themselves are fine. */

export function procSubPathOk(sub: string): boolean {
  if (sub === '') return true;
  if (!/^(\/[^/\0]+)+$/.test(sub)) return false;
  if (NS_SUB.test(sub)) return true; // a namespace file, opened through the magic link
  const parts = sub.split('/').slice(1);
  if (parts.some((p) => p === '.' || p === '..')) return false;
  return !['root', 'cwd', 'exe'].includes(parts[0]!) && !(['fd', 'ns', 'map_files'].includes(parts[0]!) && parts.length > 1);
}

export const procFormat: FileFormat<ProcFile> = {
  kind: 'proc',
  fields: ['proc'],
  read(o, fw) {
    if (o.proc === undefined) fw.fail('a /proc file without its task, or the reverse');
    const w = fw.at('proc');
    const p = obj(o.proc, w);
    const sub = field(p, 'sub', w, (y, ww) => str(y, ww, 4096));
    if (!procSubPathOk(sub)) w.at('sub').fail('not a path inside /proc/PID');
    if (NS_SUB.test(sub) && p.tid !== undefined) w.at('tid').fail('a namespace file is reopened through /proc/PID/ns, never a thread\'s');
    return {
      proc: {
        pid: field(p, 'pid', w, (y, ww) => int(y, ww, 1, PID_MAX)),
        ...(p.tid !== undefined ? { tid: field(p, 'tid', w, (y, ww) => int(y, ww, 1, PID_MAX)) } : {}),
        sub,
      },
    };
  },
};
