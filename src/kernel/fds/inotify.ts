/**
 * inotify instances: every watch (watch descriptor, mask and the watched file's path, found from
 * the file handle fdinfo shows with open_by_handle_at on its mount). The helper creates the
 * instance and adds the watches again in order, removing and re-adding until each gets its old
 * watch descriptor (the kernel hands them out cyclically), then discards the IN_IGNORED events
 * that this produced. Events queued but not yet read at checkpoint are lost (the kernel offers
 * no way to peek at them); a watched file must still exist at its path on restart.
 * A watched file deleted since (the watch keeps its inode, which an fd of the tree still holds:
 * fdinfo's handle resolves to "PATH (deleted)") is watched on restart through that open file's
 * content object, which the restart makes again and unlinks (the unlinked kind): the helper
 * adds the watch through its /proc/self/fd link, so no create or delete event is ever queued,
 * after checking with the task's credentials that it may read the file. A deleted watched file
 * that no fd of the tree holds is refused at checkpoint.
 */
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../../errors.js';
import { systemErrorText } from '../../errno.js';
import type { InotifyWatch } from '../../image/types.js';
import { native } from '../../native/addon.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps, TreeFiles } from './types.js';
import { planFileInotify, planInwatch } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';
import { procUnescape } from '../proc.js';

const WATCH = /^inotify wd:([0-9a-f]+) ino:([0-9a-f]+) sdev:([0-9a-f]+) mask:([0-9a-f]+) ignored_mask:[0-9a-f]+ fhandle-bytes:([0-9a-f]+) fhandle-type:([0-9a-f]+) f_handle:([0-9a-f]+)/;

/** The mount point of device `sdev` (kernel dev_t: major << 20 | minor) in pid's mount table. */
export function mountOf(pid: number, sdev: number): string | undefined {
  const want = `${sdev >>> 20}:${sdev & 0xfffff}`;
  for (const line of fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === want && f[3] === '/') return procUnescape(f[4]!);
  }
  return undefined;
}

/** Is the file at pid's fd on device sdev (the kernel's dev_t: major << 20 | minor)? */
function sameDev(h: { pid: number; fd: number }, sdev: number): boolean {
  try {
    const dev = fs.statSync(`/proc/${h.pid}/fd/${h.fd}`).dev;
    return Math.floor(dev / 256) % 4096 === sdev >>> 20 && (dev & 0xff) + (Math.floor(dev / 4096) & ~0xff) === (sdev & 0xfffff);
  } catch {
    return false;
  }
}

/** watches of files deleted since, until linked() finds an fd of the tree at their inode */
const deletedIno = new WeakMap<object, { ino: number; sdev: number; where: string }>();

/** An open file of the tree at inode ino that is a content object (an unlinked file or a
 * removed directory): the file id, or the refusal. */
export function heldDeleted(ino: number, sdev: number, tree: TreeFiles, where: string, of: { id: number }): number {
  for (const h of tree.atInode(ino)) {
    const f = tree.files[h.id]!;
    if (f.id !== of.id && f.kind === 'unlinked' && sameDev(h, sdev)) return f.id;
  }
  throw new UnsupportedError(`${where} was deleted, and no fd of the tree holds it: not supported`, { pid: tree.holderOf(of.id).pid, phase: 'files' });
}

export const inotifyFd: FdOps<FileOf<'inotify'>> = {
  kind: 'inotify',
  matches: (f) => f.link === 'anon_inode:inotify',
  dump: (f) => {
    const watches: InotifyWatch[] = [];
    for (const line of fs.readFileSync(`/proc/${f.pid}/fdinfo/${f.fd}`, 'latin1').split('\n')) {
      const m = WATCH.exec(line);
      if (!m) continue;
      const [wd, ino, sdev, mask, type, handle] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16), parseInt(m[4]!, 16), parseInt(m[6]!, 16), Buffer.from(m[7]!, 'hex')];
      const where = `process ${f.pid} fd ${f.fd} (inotify) watch ${wd}`;
      const mount = mountOf(f.pid, sdev);
      if (!mount) throw new UnsupportedError(`${where}: the watched file's filesystem (dev ${sdev >>> 20}:${sdev & 0xfffff}) is not mounted at a root`, { pid: f.pid });
      let path: string;
      try {
        path = native().pathOfHandle(mount, type, handle);
      } catch (e) {
        throw new UnsupportedError(`${where}: cannot find the watched file: ${systemErrorText(e)}`, { pid: f.pid });
      }
      const w: InotifyWatch = { wd, mask, path: path.replace(/ \(deleted\)$/, '') };
      if (w.path !== path) deletedIno.set(w, { ino, sdev, where: `${where}: the watched file ${w.path}` });
      watches.push(w);
    }
    watches.sort((a, b) => a.wd - b.wd);
    return { path: f.link, flags: f.info.flags, pos: 0, inotify: watches };
  },
  linked(file, tree) {
    for (const w of file.inotify ?? []) {
      const d = deletedIno.get(w);
      if (d) w.file = heldDeleted(d.ino, d.sdev, tree, d.where, file);
    }
  },
  check(file) {
    for (const w of file.inotify ?? [])
      if (w.file === undefined && !fs.existsSync(w.path))
        throw new UcrError(`inotify watch ${w.wd}: the watched file ${w.path} no longer exists`, { code: 'EFILE', object: w.path, phase: 'check' });
  },
  plan: (file) =>
    [planFileInotify({ id: file.id, flags: openFileFlags(file.flags) }), ...(file.inotify ?? []).map((w) => planInwatch({ file: file.id, wd: w.wd, mask: w.mask, path: w.path, ofile: w.file }))].join('\n'),
};
