/** A socket left out with --skip sockets: listed, not restored; no fd refers to it
 * (src/kernel/fds/closed.ts). */
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface ClosedFile extends FileBase {
  kind: 'closed';
}

export const closedFormat: FileFormat<ClosedFile> = {
  kind: 'closed',
  fields: [],
  read: () => ({}),
  noFd: true,
  listed: { after: 'sockets', heading: 'skipped (restored closed)', item: (f) => `#${f.id} ${f.path}` },
  warnings: (f) => [`#${f.id} ${f.path} was left out (--skip sockets): restored closed`],
};
