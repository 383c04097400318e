/** inotify instances and their watches (src/kernel/fds/inotify.ts). */
import { arr, field, int, obj, str } from '../check.js';
import type { FileBase, InotifyWatch } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface InotifyFile extends FileBase {
  kind: 'inotify';
  /** the watches, by watch descriptor */
  inotify?: InotifyWatch[];
}

export const inotifyFormat: FileFormat<InotifyFile> = {
  kind: 'inotify',
  fields: ['inotify'],
  read(o, w) {
    if (o.inotify === undefined) return {};
    let prev = 0;
    const inotify = arr(o.inotify, w.at('inotify'), 1 << 20).map((x, k): InotifyWatch => {
      const iw = w.at('inotify').at(k);
      const e = obj(x, iw);
      const wd = field(e, 'wd', iw, (y, ww) => int(y, ww, 1, 0x7fffffff));
      if (wd <= prev) iw.fail('watch descriptors out of order');
      prev = wd;
      const path = field(e, 'path', iw, (y, ww) => str(y, ww, 4096));
      if (!path.startsWith('/')) iw.at('path').fail('a watched path must be absolute');
      return { wd, mask: field(e, 'mask', iw, (y, ww) => int(y, ww, 0, 0xffffffff)), path };
    });
    return { inotify };
  },
  text: (f) => (f.inotify?.length ? ` (watches ${f.inotify.map((w) => `${w.wd}:${w.path}`).join(', ')})` : ''),
};
