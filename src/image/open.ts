/** Opens an image to read: a path, '-' (stdin) or an open fd; errors name the path in words. */
import fs from 'node:fs';
import { systemErrorText } from '../errno.js';
import { UcrError } from '../errors.js';
import { native } from '../native/addon.js';

export interface ImageInput {
  fd: number;
  /** for messages: the path, 'stdin' or 'fd N' */
  name: string;
  close(): void;
}

/** An image is binary: never read from a terminal ('-' or a path naming one), where a command
 * would wait for typed bytes (as gzip -d refuses); an fd given by number is the caller's. */
const terminal = (name: string) => new UcrError(`image ${name}: is a terminal: refused (an image is read from a file or a pipe)`, { code: 'EINVAL', object: name });

export function openImage(input: string | number): ImageInput {
  if (typeof input === 'number') return { fd: input, name: `fd ${input}`, close() {} };
  if (input === '-') {
    if (native().isatty(0)) throw terminal('stdin');
    return { fd: 0, name: 'stdin', close() {} };
  }
  let fd: number;
  try {
    fd = fs.openSync(input, fs.constants.O_RDONLY | fs.constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UcrError(`image ${input}: ${code === 'ENOENT' ? 'no such file' : `cannot open it: ${systemErrorText(e)}`}`, { code, object: input });
  }
  if (fs.fstatSync(fd).isDirectory()) {
    fs.closeSync(fd);
    throw new UcrError(`image ${input}: is a directory, not an image file`, { code: 'EISDIR', object: input });
  }
  if (native().isatty(fd)) {
    fs.closeSync(fd);
    throw terminal(input);
  }
  return { fd, name: input, close: () => fs.closeSync(fd) };
}
