/** Opens an image to read: a path, '-' (stdin) or an open fd; errors name the path in words. */
import fs from 'node:fs';
import { systemErrorText } from '../errno.js';
import { UcrError } from '../errors.js';

export interface ImageInput {
  fd: number;
  /** for messages: the path, 'stdin' or 'fd N' */
  name: string;
  close(): void;
}

export function openImage(input: string | number): ImageInput {
  if (typeof input === 'number') return { fd: input, name: `fd ${input}`, close() {} };
  if (input === '-') return { fd: 0, name: 'stdin', close() {} };
  let fd: number;
  try {
    fd = fs.openSync(input, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UcrError(`image ${input}: ${code === 'ENOENT' ? 'no such file' : `cannot open it: ${systemErrorText(e)}`}`, { code, object: input });
  }
  if (fs.fstatSync(fd).isDirectory()) {
    fs.closeSync(fd);
    throw new UcrError(`image ${input}: is a directory, not an image file`, { code: 'EISDIR', object: input });
  }
  return { fd, name: input, close: () => fs.closeSync(fd) };
}
