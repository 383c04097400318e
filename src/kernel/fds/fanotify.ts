/**
 * fanotify groups (issue 17): the group's fanotify_init flags and event flags, and every mark
 * fdinfo lists: an inode mark (its file found from the file handle with open_by_handle_at on
 * its mount, as for inotify watches; a file deleted since is marked again through an open file
 * of the tree at its inode, see inotify.ts), a mount mark (its mount id, found in the holder's
 * mountinfo: the mount point), a filesystem mark (its device: the mount of its root). The
 * helper makes the group again, marks everything in the same way and, right before the tasks
 * run, drops the events its own file actions queued (native/helper/kinds/fanotify/); marks with
 * permission events are added only then, when the restart opens nothing more. Refused at
 * checkpoint: permission events on a deleted file, marks of a mount namespace. Events queued but unread at checkpoint are lost, like inotify's.
 */
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../../errors.js';
import { systemErrorText } from '../../errno.js';
import type { FanotifyMark } from '../../image/kinds/fanotify.js';
import { native } from '../../native/addon.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFanmark, planFileFanotify } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';
import { procUnescape } from '../proc.js';
import { heldDeleted, mountOf } from './inotify.js';

const GROUP = /^fanotify flags:([0-9a-f]+) event-flags:([0-9a-f]+)/;
const MASKS = 'mflags:([0-9a-f]+) mask:([0-9a-f]+) ignored_mask:([0-9a-f]+)';
const INODE = new RegExp(`^fanotify ino:([0-9a-f]+) sdev:([0-9a-f]+) ${MASKS} fhandle-bytes:[0-9a-f]+ fhandle-type:([0-9a-f]+) f_handle:([0-9a-f]+)`);
const MOUNT = new RegExp(`^fanotify mnt_id:([0-9a-f]+) ${MASKS}`);
const FS = new RegExp(`^fanotify sdev:([0-9a-f]+) ${MASKS}`);
/** FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM | FAN_PRE_ACCESS (6.14) */
const PERM_EVENTS = 0x10000 | 0x20000 | 0x40000 | 0x100000;
const TYPE = { inode: 0, mount: 1, fs: 2 } as const;

/** The mount point of mount id in pid's mount table. */
function mountPoint(pid: number, id: number): string | undefined {
  for (const line of fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (Number(f[0]) === id && f[4]) return procUnescape(f[4]);
  }
  return undefined;
}

/** inode marks of files deleted since, until linked() finds an fd of the tree at their inode */
const deletedIno = new WeakMap<object, { ino: number; sdev: number; where: string }>();

export const fanotifyFd: FdOps<FileOf<'fanotify'>> = {
  kind: 'fanotify',
  matches: (f) => f.link === 'anon_inode:[fanotify]',
  dump: (f) => {
    const at = `process ${f.pid} fd ${f.fd} (fanotify)`;
    const refuse = (why: string) => new UnsupportedError(`${at}: ${why}`, { pid: f.pid });
    let group: { init: number; evflags: number } | undefined;
    const marks: FanotifyMark[] = [];
    for (const line of fs.readFileSync(`/proc/${f.pid}/fdinfo/${f.fd}`, 'latin1').split('\n')) {
      if (!line.startsWith('fanotify ')) continue;
      let m: RegExpExecArray | null;
      if ((m = GROUP.exec(line))) {
        group = { init: parseInt(m[1]!, 16), evflags: parseInt(m[2]!, 16) };
        continue;
      }
      let mark: FanotifyMark;
      const masks = (k: number) => ({ mflags: parseInt(m![k]!, 16), mask: parseInt(m![k + 1]!, 16), ignored: parseInt(m![k + 2]!, 16) });
      if ((m = INODE.exec(line))) {
        const [ino, sdev, type, handle] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[6]!, 16), Buffer.from(m[7]!, 'hex')];
        const mount = mountOf(f.pid, sdev);
        if (!mount) throw refuse(`the marked file's filesystem (dev ${sdev >>> 20}:${sdev & 0xfffff}) is not mounted at a root`);
        let path: string;
        try {
          path = native().pathOfHandle(mount, type, handle);
        } catch (e) {
          throw refuse(`cannot find the marked file (inode ${ino}): ${systemErrorText(e)}`);
        }
        mark = { type: 'inode', ...masks(3), path: path.replace(/ \(deleted\)$/, '') };
        if (mark.path !== path) deletedIno.set(mark, { ino, sdev, where: `${at}: the marked file ${mark.path}` });
      } else if ((m = MOUNT.exec(line))) {
        const id = parseInt(m[1]!, 16);
        const path = mountPoint(f.pid, id);
        if (!path) throw refuse(`the marked mount (id ${id}) is not in the process's mount table`);
        mark = { type: 'mount', ...masks(2), path };
      } else if ((m = FS.exec(line))) {
        const sdev = parseInt(m[1]!, 16);
        const path = mountOf(f.pid, sdev);
        if (!path) throw refuse(`the marked filesystem (dev ${sdev >>> 20}:${sdev & 0xfffff}) is not mounted at a root`);
        mark = { type: 'fs', ...masks(2), path };
      } else throw refuse(`a mark of this kind is not supported (${line.split(' ')[1]?.split(':')[0]})`);
      // added last on restart, once the restart opens nothing more: not through a deleted file's
      // copy, whose reopening by the restart would wait for the program's answer
      if ((mark.mask | mark.ignored) & PERM_EVENTS && deletedIno.has(mark))
        throw refuse(`permission events (mask 0x${mark.mask.toString(16)}) on a deleted file (${mark.path}) are not supported`);
      if (mark.mask || mark.ignored) marks.push(mark);
    }
    if (!group) throw refuse('its fdinfo shows no fanotify flags');
    return { path: f.link, flags: f.info.flags, pos: 0, fanotify: { ...group, marks } };
  },
  linked(file, tree) {
    for (const m of file.fanotify.marks) {
      const d = deletedIno.get(m);
      if (d) m.file = heldDeleted(d.ino, d.sdev, tree, d.where, file);
    }
  },
  check(file) {
    for (const m of file.fanotify.marks)
      if (m.file === undefined && !fs.existsSync(m.path))
        throw new UcrError(`fanotify ${m.type} mark: ${m.path} no longer exists`, { code: 'EFILE', object: m.path, phase: 'check' });
  },
  // fanotify_init and mount or filesystem marks need CAP_SYS_ADMIN
  privilege: (file) => ({ who: `file ${file.id} (a fanotify group)`, what: 'making a fanotify group needs CAP_SYS_ADMIN' }),
  plan: (file) =>
    [
      planFileFanotify({ id: file.id, init: file.fanotify.init, evflags: file.fanotify.evflags, flags: openFileFlags(file.flags) }),
      ...file.fanotify.marks.map((m) => planFanmark({ file: file.id, type: TYPE[m.type], mflags: m.mflags, mask: m.mask, ignored: m.ignored, path: m.path, ofile: m.file })),
    ].join('\n'),
};
