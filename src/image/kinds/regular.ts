/** Regular files and directories, reopened by path (src/kernel/fds/regular.ts). */
import { arr, pathText, u64 } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface RegularFile extends FileBase {
  kind: 'regular';
  /** a regular file's [size, dev, ino] (older images: [size]); none for a directory or a file
   * of a pseudo filesystem */
  params?: (number | bigint)[];
}

export const regularFormat: FileFormat<RegularFile> = {
  kind: 'regular',
  fields: ['params'],
  read(o, w, file) {
    pathText(file.path, w.at('path'), true);
    if (o.params === undefined) return {};
    const params = arr(o.params, w.at('params'), 16).map((y, i) => u64(y, w.at('params').at(i)));
    if (params.length > 3) w.at('params').fail(`${params.length} values for a regular file, expected 0..3`);
    return { params };
  },
  named: true,
};
