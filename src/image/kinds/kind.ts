/**
 * One kind of open file as the image holds it: its record's own fields (checked when an image
 * is read), the checks that need the other records, and how `ucr inspect` shows it. One module
 * per kind beside this one, registered in index.ts; what a checkpoint and a restart do with the
 * kind is its module in src/kernel/fds/ (the same name).
 */
import type { CborValue } from '../cbor.js';
import type { Where } from '../check.js';
import type { FileImage, ObjectImage, PipeImage } from '../types-files.js';

/** What an image's FILES record says besides the files, for a kind's own checks. */
export interface ReadContext {
  pipes: Map<number, PipeImage>;
  /** indexes of the pty pairs */
  ttys: Set<number>;
  objects: Map<number, ObjectImage>;
}

/** Every file of the image, once all are read. */
export interface LinkContext {
  files: FileImage[];
  byId: Map<number, FileImage>;
  objects: ObjectImage[] | undefined;
}

/** The fields of a file of kind F besides those every file has (FileBase). */
export type KindFields<F extends FileImage> = Omit<F, 'id' | 'kind' | 'path' | 'flags' | 'pos' | 'locks' | 'fown' | 'leak'>;

export interface FileFormat<F extends FileImage = FileImage> {
  kind: F['kind'];
  /** the record keys that belong to this kind (a key of another kind is refused) */
  fields: readonly string[];
  /** Reads and checks the kind's own fields (path, flags and pos are read and checked already). */
  read(o: { [k: string]: CborValue }, w: Where, file: Pick<F, 'path'>, ctx: ReadContext): KindFields<F>;
  /** Checks that need the other files, once all are read. */
  link?(file: F, w: Where, ctx: LinkContext): void;
  /** No fd refers to a file of this kind (a socket left out with --skip sockets). */
  noFd?: true;

  // ucr inspect
  /** What the file's line shows after its kind and path. */
  text?(file: F): string;
  /** A line of its own (sockets: state, queues, peer). */
  detail?(file: F): string;
  /** The kind's name in the summary's "fds by kind" (default: the kind). */
  label?(file: F): string;
  /** The summary lists these files' paths. */
  named?: true;
  /** inspect --all: the kind's files on one line after the pipes ('pipes') or the sockets:
   * heading and each file; `always`: the line also when there are none. */
  listed?: { after: 'pipes' | 'sockets'; heading: string; item(file: F): string; always?: true };
  /** The summary's warnings about a file (what restart will do differently); holders: who
   * holds it ("4107 fd 1,2"). */
  warnings?(file: F, holders: string): string[];
}
