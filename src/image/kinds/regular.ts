/** Regular files and directories, reopened by path (src/kernel/fds/regular.ts). */
import { arr, field, pathText, u64 } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface RegularFile extends FileBase {
  kind: 'regular';
  /** a regular file's [size, dev, ino] (older images: [size]); none for a directory or a file
   * of a pseudo filesystem */
  params?: (number | bigint)[];
  /** an O_PATH fd of a symbolic link removed since (path: where it was): what it points to;
   * made again there, opened O_PATH|O_NOFOLLOW, removed again */
  symlink?: string;
}

export const regularFormat: FileFormat<RegularFile> = {
  kind: 'regular',
  fields: ['params', 'symlink'],
  read(o, w, file) {
    pathText(file.path, w.at('path'), true);
    const symlink = o.symlink === undefined ? undefined : field(o, 'symlink', w, (y, ww) => pathText(y, ww));
    if (symlink !== undefined && Buffer.byteLength(file.path as string) + Buffer.byteLength(symlink) + 2 > 4096) w.at('symlink').fail('the path and the link\'s target take more than 4096 bytes');
    if (symlink !== undefined) return { symlink };
    if (o.params === undefined) return {};
    const params = arr(o.params, w.at('params'), 16).map((y, i) => u64(y, w.at('params').at(i)));
    if (params.length > 3) w.at('params').fail(`${params.length} values for a regular file, expected 0..3`);
    return { params };
  },
  named: true,
  text: (f) => (f.symlink !== undefined ? ` (a removed symbolic link to ${f.symlink}, made again)` : ''),
};
