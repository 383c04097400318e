/** timerfd: [clock, ticks, interval s, ns, value s, ns] (src/kernel/fds/timerfd.ts). */
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';
import { params } from './params.js';

export interface TimerFdFile extends FileBase {
  kind: 'timerfd';
  /** [clock < 16, ticks, interval s, ns, value s, ns] */
  params: (number | bigint)[];
}

export const timerFdFormat: FileFormat<TimerFdFile> = {
  kind: 'timerfd',
  fields: ['params'],
  read(o, w) {
    const p = params(o, w, 'timerfd', 6);
    if (BigInt(p[0]!) >= 16n) w.at('params').at(0).fail('not a clock id');
    return { params: p };
  },
};
