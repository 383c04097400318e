/** Ends of anonymous pipes: the pipe itself (size, queued bytes) is one of the FILES record's
 * pipes (src/kernel/fds/pipe.ts). */
import { field, int, obj, str, type Obj, type Where } from '../check.js';
import type { FileBase } from '../types-files.js';
import type { FileFormat, ReadContext } from './kind.js';

export interface PipeFile extends FileBase {
  kind: 'pipe';
  /** which pipe and which end */
  pipe: { id: number; end: 'read' | 'write' };
}

/** The `pipe` field of an end: a pipe of the record, named (a FIFO) or not as `fifo` says. */
export function pipeEnd(o: Obj, w: Where, ctx: ReadContext, fifo: boolean): { id: number; end: 'read' | 'write' | 'both' } {
  if (o.pipe === undefined) w.fail('pipe end of an unknown pipe');
  const pw = w.at('pipe');
  const p = obj(o.pipe, pw);
  const pipe = {
    id: field(p, 'id', pw, (y, ww) => int(y, ww, 0, 1 << 30)),
    end: field(p, 'end', pw, (y, ww): 'read' | 'write' | 'both' => {
      const e = str(y, ww);
      return e === 'read' || e === 'write' || e === 'both' ? e : ww.fail('expected read, write or both');
    }),
  };
  const of = ctx.pipes.get(pipe.id);
  if (!of) w.fail('pipe end of an unknown pipe');
  if ((of.path !== undefined) !== fifo) w.fail('a FIFO end of an anonymous pipe, or the reverse');
  if (pipe.end === 'both' && !fifo) w.fail('only a FIFO can be open for both reading and writing');
  return pipe;
}

export const pipeText = (f: { pipe: { id: number; end: string } }) => ` (pipe ${f.pipe.id} ${f.pipe.end} end)`;

export const pipeFormat: FileFormat<PipeFile> = {
  kind: 'pipe',
  fields: ['pipe'],
  read: (o, w, _file, ctx) => ({ pipe: pipeEnd(o, w, ctx, false) as PipeFile['pipe'] }),
  text: pipeText,
};
