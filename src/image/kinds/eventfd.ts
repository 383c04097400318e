/** eventfd: [count, semaphore 0|1] (src/kernel/fds/eventfd.ts). */
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';
import { params } from './params.js';

export interface EventFdFile extends FileBase {
  kind: 'eventfd';
  /** [count, semaphore 0|1] */
  params: (number | bigint)[];
}

export const eventFdFormat: FileFormat<EventFdFile> = {
  kind: 'eventfd',
  fields: ['params'],
  read(o, w) {
    const p = params(o, w, 'eventfd', 2);
    if (BigInt(p[1]!) > 1n) w.at('params').at(1).fail('expected 0 or 1');
    return { params: p };
  },
};
