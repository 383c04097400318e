/** pidfds of a task of the image (src/kernel/fds/pidfd.ts). */
import { PID_MAX, field, int, obj } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface PidFdFile extends FileBase {
  kind: 'pidfd';
  /** the process it refers to: its pid in the image (a task of the image; the helper refuses
   * another when the plan has no such task). The flags keep O_NONBLOCK and PIDFD_THREAD. */
  pidfd: { pid: number };
}

export const pidFdFormat: FileFormat<PidFdFile> = {
  kind: 'pidfd',
  fields: ['pidfd'],
  read(o, fw) {
    if (o.pidfd === undefined) fw.fail('a pidfd without its process');
    const w = fw.at('pidfd');
    const p = obj(o.pidfd, w);
    return { pidfd: { pid: field(p, 'pid', w, (y, ww) => int(y, ww, 1, PID_MAX)) } };
  },
  text: (file) => ` (of process ${file.pidfd.pid})`,
};
