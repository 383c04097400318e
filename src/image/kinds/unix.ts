/** Unix domain sockets (src/kernel/fds/unix.ts); the checks of their state: validate-unix.ts. */
import type { FileBase, UnixSocketImage } from '../types-files.js';
import { checkUnix, checkUnixLinks } from '../validate-unix.js';
import type { FileFormat } from './kind.js';

export interface UnixFile extends FileBase {
  kind: 'unix';
  /** the socket's state (src/kernel/fds/unix.ts) */
  unix: UnixSocketImage;
}

export const unixFormat: FileFormat<UnixFile> = {
  kind: 'unix',
  fields: ['unix'],
  read(o, w) {
    if (o.unix === undefined) w.fail('unix socket without its state');
    return { unix: checkUnix(o.unix, w.at('unix')) };
  },
  link: (f, w, ctx) => checkUnixLinks(f, w.at('unix'), ctx.byId),
  detail(f) {
    const u = f.unix;
    const how = u.listening ? `listening (backlog ${u.backlog})` : u.conn === 'none' ? 'not connected' : `${u.conn}${u.peer >= 0 ? ` with #${u.peer}` : ', peer gone'}`;
    const bytes = u.queue.reduce((s, m) => s + m.length, 0);
    const ext = u.external ? `, peer was held by ${u.external.pid} (${u.external.comm}): restored closed` : '';
    return `unix #${f.id}: ${f.path}${u.unlinked ? ' (unlinked)' : ''}, ${how}, ${bytes} bytes queued in ${u.queue.length} message(s)${ext}`;
  },
  warnings: (f) =>
    f.unix.external ? [`unix #${f.id}: its peer was held by ${f.unix.external.pid} (${f.unix.external.comm}) outside the tree: restored with the peer gone`] : [],
};
