/** Open files and directories whose path was unlinked: an fd of a content object of kind
 * unlinked or unlinked-dir (src/kernel/fds/unlinked.ts). */
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';
import { objectOf } from './memfd.js';

export interface UnlinkedFile extends FileBase {
  kind: 'unlinked';
  /** the content object (ImageFiles.objects id) it is an fd of */
  obj: number;
}

export const unlinkedFormat: FileFormat<UnlinkedFile> = {
  kind: 'unlinked',
  fields: ['obj'],
  read: (o, w, _file, ctx) => ({ obj: objectOf(o, w, ctx, 'unlinked', ['unlinked', 'unlinked-dir']) }),
};
