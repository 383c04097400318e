/** Regular files and directories, reopened by path with their flags and offset. */
import fs from 'node:fs';
import { UcrError } from '../../errors.js';
import { hex } from '../helper.js';
import type { FdOps } from './types.js';

export const regularFile: FdOps = {
  kind: 'regular',
  matches: (f) => (f.stat.isFile() || f.stat.isDirectory()) && f.link.startsWith('/') && !f.link.endsWith(' (deleted)'),
  dump: (f) => ({ path: f.link, flags: f.info.flags, pos: f.info.pos }),
  check(file) {
    try {
      fs.statSync(file.path);
    } catch (e) {
      throw new UcrError(`file ${file.path}: cannot be reopened: ${(e as Error).message}`, {
        code: 'EFILE',
        object: file.path,
        phase: 'check',
      });
    }
  },
  plan: (file) => `file ${file.id} path ${hex(file.path)} ${file.flags} ${file.pos}`,
};
