/**
 * inotify instances: every watch (watch descriptor, mask and the watched file's path, found from
 * the file handle fdinfo shows with open_by_handle_at on its mount). The helper creates the
 * instance and adds the watches again in order, removing and re-adding until each gets its old
 * watch descriptor (the kernel hands them out cyclically), then discards the IN_IGNORED events
 * that this produced. Events queued but not yet read at checkpoint are lost (the kernel offers
 * no way to peek at them); a watched file must still exist at its path on restart.
 */
import fs from 'node:fs';
import { UcrError, UnsupportedError } from '../../errors.js';
import { systemErrorText } from '../../errno.js';
import type { InotifyWatch } from '../../image/types.js';
import { native } from '../../native/addon.js';
import { hex } from '../helper.js';
import type { FileOf } from '../../image/types.js';
import type { FdOps } from './types.js';
import { planFileInotify, planInwatch } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

const WATCH = /^inotify wd:([0-9a-f]+) ino:[0-9a-f]+ sdev:([0-9a-f]+) mask:([0-9a-f]+) ignored_mask:[0-9a-f]+ fhandle-bytes:([0-9a-f]+) fhandle-type:([0-9a-f]+) f_handle:([0-9a-f]+)/;

/** The mount point of device `sdev` (kernel dev_t: major << 20 | minor) in pid's mount table. */
function mountOf(pid: number, sdev: number): string | undefined {
  const want = `${sdev >>> 20}:${sdev & 0xfffff}`;
  for (const line of fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === want && f[3] === '/') return f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

export const inotifyFd: FdOps<FileOf<'inotify'>> = {
  kind: 'inotify',
  matches: (f) => f.link === 'anon_inode:inotify',
  dump: (f) => {
    const watches: InotifyWatch[] = [];
    for (const line of fs.readFileSync(`/proc/${f.pid}/fdinfo/${f.fd}`, 'latin1').split('\n')) {
      const m = WATCH.exec(line);
      if (!m) continue;
      const [wd, sdev, mask, type, handle] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16), parseInt(m[5]!, 16), Buffer.from(m[6]!, 'hex')];
      const where = `process ${f.pid} fd ${f.fd} (inotify) watch ${wd}`;
      const mount = mountOf(f.pid, sdev);
      if (!mount) throw new UnsupportedError(`${where}: the watched file's filesystem (dev ${sdev >>> 20}:${sdev & 0xfffff}) is not mounted at a root`, { pid: f.pid });
      let path: string;
      try {
        path = native().pathOfHandle(mount, type, handle);
      } catch (e) {
        throw new UnsupportedError(`${where}: cannot find the watched file: ${systemErrorText(e)}`, { pid: f.pid });
      }
      if (path.endsWith(' (deleted)')) throw new UnsupportedError(`${where}: the watched file ${path} was deleted: not supported`, { pid: f.pid });
      watches.push({ wd, mask, path });
    }
    watches.sort((a, b) => a.wd - b.wd);
    return { path: f.link, flags: f.info.flags, pos: 0, inotify: watches };
  },
  check(file) {
    for (const w of file.inotify ?? [])
      if (!fs.existsSync(w.path))
        throw new UcrError(`inotify watch ${w.wd}: the watched file ${w.path} no longer exists`, { code: 'EFILE', object: w.path, phase: 'check' });
  },
  plan: (file) =>
    [planFileInotify({ id: file.id, flags: openFileFlags(file.flags) }), ...(file.inotify ?? []).map((w) => planInwatch({ file: file.id, wd: w.wd, mask: w.mask, path: w.path }))].join('\n'),
};
