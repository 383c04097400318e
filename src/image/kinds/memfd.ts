/** memfd descriptors: an fd of a content object of kind memfd (src/kernel/fds/memfd.ts). */
import { field, int, type Obj, type Where } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat, ReadContext } from './kind.js';

export interface MemfdFile extends FileBase {
  kind: 'memfd';
  /** the content object (ImageFiles.objects id) it is an fd of */
  obj: number;
}

/** The `obj` of an fd of a content object: an object of the record of one of these kinds. */
export function objectOf(o: Obj, w: Where, ctx: ReadContext, kind: string, kinds: string[]): number {
  const obj = o.obj === undefined ? undefined : field(o, 'obj', w, (y, ww) => int(y, ww, 0, 1 << 30));
  const of = obj === undefined ? undefined : ctx.objects.get(obj)?.kind;
  if (obj === undefined || of === undefined || !kinds.includes(of)) w.fail(`${kind} fd of an unknown object`);
  return obj;
}

export const memfdFormat: FileFormat<MemfdFile> = {
  kind: 'memfd',
  fields: ['obj'],
  read: (o, w, _file, ctx) => ({ obj: objectOf(o, w, ctx, 'memfd', ['memfd']) }),
};
