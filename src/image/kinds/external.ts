/** The root's stdio leading outside the tree: not saved, connected to the restarting process's
 * own stdio (src/kernel/fds/external.ts). */
import { field, int, obj } from '../check.js';
import { checkTermios } from '../termios.js';
import type { FileBase, Termios } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface ExternalFile extends FileBase {
  kind: 'external';
  /** the stdio slot of the restarting process it connects to (absent: 0) */
  stdio?: number;
  /** a terminal: its modes at checkpoint time, which the job gets back on the terminal it is
   * restarted onto (in the foreground) */
  ttyModes?: { termios: Termios; winsize: [number, number, number, number] };
}

const STDIO = ['stdin', 'stdout', 'stderr'];

export const externalFormat: FileFormat<ExternalFile> = {
  kind: 'external',
  fields: ['stdio', 'ttyModes'],
  read: (o, w) => ({
    stdio: o.stdio === undefined ? undefined : field(o, 'stdio', w, (y, ww) => int(y, ww, 0, 2)),
    ...(o.ttyModes !== undefined ? { ttyModes: checkTermios(obj(o.ttyModes, w.at('ttyModes')), w.at('ttyModes')) } : {}),
  }),
  text: (f) => ` -> restarting process's ${STDIO[f.stdio ?? 0]}`,
  label: () => 'external stdio',
  listed: { after: 'pipes', heading: "external objects (connected to the restarting process's stdio)", item: (f) => `#${f.id} ${f.path} -> stdio ${f.stdio}`, always: true },
  warnings: (f, holders) => [`${holders}: external stdio (${f.path}), not saved: restart connects it to its own ${STDIO[f.stdio ?? 0]} (--inherit-fd)`],
};
