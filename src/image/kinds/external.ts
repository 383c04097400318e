/** The root's stdio leading outside the tree: not saved, connected to the restarting process's
 * own stdio (src/kernel/fds/external.ts). */
import { field, int } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface ExternalFile extends FileBase {
  kind: 'external';
  /** the stdio slot of the restarting process it connects to (absent: 0) */
  stdio?: number;
}

const STDIO = ['stdin', 'stdout', 'stderr'];

export const externalFormat: FileFormat<ExternalFile> = {
  kind: 'external',
  fields: ['stdio'],
  read: (o, w) => ({ stdio: o.stdio === undefined ? undefined : field(o, 'stdio', w, (y, ww) => int(y, ww, 0, 2)) }),
  text: (f) => ` -> restarting process's ${STDIO[f.stdio ?? 0]}`,
  label: () => 'external stdio',
  listed: { after: 'pipes', heading: "external objects (connected to the restarting process's stdio)", item: (f) => `#${f.id} ${f.path} -> stdio ${f.stdio}`, always: true },
  warnings: (f, holders) => [`${holders}: external stdio (${f.path}), not saved: restart connects it to its own ${STDIO[f.stdio ?? 0]} (--inherit-fd)`],
};
