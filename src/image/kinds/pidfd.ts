/** pidfds of a task of the image (src/kernel/fds/pidfd.ts). */
import { PID_MAX, field, int, obj } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface PidFdFile extends FileBase {
  kind: 'pidfd';
  /** the process it refers to: its pid in the image (a task of the image; the helper refuses
   * another when the plan has no such task). The flags keep O_NONBLOCK and PIDFD_THREAD.
   * A pidfd of a process that has exited and was reaped (fdinfo Pid: -1) has pid 0 and `dead`:
   * the same number for the pidfds of one process (its pidfs inode at checkpoint). */
  pidfd: { pid: number; dead?: number };
}

export const pidFdFormat: FileFormat<PidFdFile> = {
  kind: 'pidfd',
  fields: ['pidfd'],
  read(o, fw) {
    if (o.pidfd === undefined) fw.fail('a pidfd without its process');
    const w = fw.at('pidfd');
    const p = obj(o.pidfd, w);
    if (p.dead !== undefined) {
      if (field(p, 'pid', w, (y, ww) => int(y, ww, 0, 0)) !== 0) w.fail('a pidfd of a dead process names a pid');
      return { pidfd: { pid: 0, dead: field(p, 'dead', w, (y, ww) => int(y, ww, 1, 2 ** 52)) } };
    }
    return { pidfd: { pid: field(p, 'pid', w, (y, ww) => int(y, ww, 1, PID_MAX)) } };
  },
  text: (file) => (file.pidfd.dead !== undefined ? ' (of a process that has exited)' : ` (of process ${file.pidfd.pid})`),
};
