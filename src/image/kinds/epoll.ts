/** epoll instances and their registrations (src/kernel/fds/epoll.ts). */
import { MAX_FD, PID_MAX, arr, field, int, obj, u64 } from '../check.js';
import type { EpollTarget, FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface EpollFile extends FileBase {
  kind: 'epoll';
  /** the registered targets; `task` (a pid of the image) holds the epoll and, at `fd`, the
   * target, and makes the registration again on restart */
  epoll?: EpollTarget[];
}

export const epollFormat: FileFormat<EpollFile> = {
  kind: 'epoll',
  fields: ['epoll'],
  read(o, w) {
    if (o.epoll === undefined) return {};
    const epoll = arr(o.epoll, w.at('epoll'), 1 << 20).map((x, k): EpollTarget => {
      const ew = w.at('epoll').at(k);
      const e = obj(x, ew);
      return {
        task: field(e, 'task', ew, (y, ww) => int(y, ww, 1, PID_MAX)),
        fd: field(e, 'fd', ew, (y, ww) => int(y, ww, 0, MAX_FD)),
        events: field(e, 'events', ew, (y, ww) => int(y, ww, 0, 0xffffffff)),
        data: field(e, 'data', ew, u64),
        ...(e.file !== undefined ? { file: field(e, 'file', ew, (y, ww) => int(y, ww, 0, 1 << 30)) } : {}),
      };
    });
    return { epoll };
  },
  link(f, w, ctx) {
    f.epoll?.forEach((t, k) => {
      const target = t.file === undefined ? undefined : ctx.byId.get(t.file);
      if (t.file !== undefined && (!target || target.kind === 'closed' || target.id === f.id)) w.at('epoll').at(k).at('file').fail('not another open file of the image');
    });
  },
  text: (f) => (f.epoll?.length ? ` (${f.epoll.length} target(s))` : ''),
};
