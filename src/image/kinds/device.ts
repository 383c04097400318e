/** Stateless character devices (/dev/null...), reopened by path (src/kernel/fds/device.ts). */
import { pathText } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface DeviceFile extends FileBase {
  kind: 'device';
}

export const deviceFormat: FileFormat<DeviceFile> = {
  kind: 'device',
  fields: [],
  read(_o, w, file) {
    pathText(file.path, w.at('path'), true);
    return {};
  },
};
