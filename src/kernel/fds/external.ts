/**
 * stdio that leads outside the tree: the root's fd 0-2 when it is a terminal, a socket, or an
 * anonymous pipe whose other end a process outside the tree (the launching shell) holds. The
 * object itself is not saved: on restart the fd is connected to the restarting process's own
 * stdio slot of the same number (the linux-cr / CRIU "external" model); the checkpoint says so
 * (an 'external-stdio' event, one line from the CLI). A named FIFO or a file on stdio is not
 * external: it is reopened by its path like any other.
 */
import type { FileOf } from '../../image/types.js';
import { readTtyModes } from './pty.js';
import type { FdOps } from './types.js';

export const externalStdio: FdOps<FileOf<'external'>> = {
  kind: 'external',
  matches: (f, ctx) =>
    ctx.rootStdio !== undefined &&
    (f.stat.isCharacterDevice()
      ? /^\/dev\/(pts\/|tty|console)/.test(f.link)
      : f.stat.isSocket() || (f.stat.isFIFO() && f.link.startsWith('pipe:') && ctx.heldOutside)),
  dump: (f, ctx) => ({ path: f.link, flags: f.info.flags, pos: 0, stdio: ctx.rootStdio }),
  unsaved: true,
  async captured(file, o, cap) {
    const fds = o.holders.filter((h) => h.pid === cap.root && h.fd <= 2).map((h) => h.fd);
    if (o.facts.stat.isCharacterDevice()) {
      // a terminal: its modes, given back to the job on the terminal it is restarted onto
      const modes = await readTtyModes(cap.helper, { pid: cap.root, fd: fds[0]! });
      if (modes) file.ttyModes = modes;
    }
    cap.external.push({ pid: cap.root, fds, path: o.facts.link, slot: o.ctx.rootStdio! });
  },
  check() {},
  plan: (file, ctx) => `file ${file.id} inherit ${ctx.stdioFd(file.stdio ?? 0)}`,
};
