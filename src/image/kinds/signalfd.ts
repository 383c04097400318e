/** signalfd: [mask] (src/kernel/fds/signalfd.ts). */
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';
import { params } from './params.js';

export interface SignalFdFile extends FileBase {
  kind: 'signalfd';
  /** [signal mask] */
  params: (number | bigint)[];
}

export const signalFdFormat: FileFormat<SignalFdFile> = {
  kind: 'signalfd',
  fields: ['params'],
  read: (o, w) => ({ params: params(o, w, 'signalfd', 1) }),
};
