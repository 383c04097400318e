/**
 * What the captured tasks of one checkpoint keep of the helper's `state` frames (dump-task.ts):
 * each XSAVE area once by content (~11 KB each where the CPU has AMX tiles: 11 MB for a tree of
 * 1,000, mostly the same bytes for tasks forked from one program), and the capability masks of
 * /proc/PID/status as short strings of their own (a slice would keep the whole status text).
 * Nothing writes the captured bytes: they are encoded into the TASK records as they are.
 */
import { crc32c } from '../native/addon.js';

export class FrameParts {
  private readonly areas = new Map<number, Buffer[]>();
  private readonly texts = new Map<string, string>();

  /** bytes copied out of the frame, or the equal bytes kept already */
  bytes(view: Buffer): Buffer {
    if (view.length < 512) return Buffer.from(view);
    const key = crc32c(view) + view.length * 2 ** 32;
    const list = this.areas.get(key);
    for (const x of list ?? []) if (x.equals(view)) return x;
    const copy = Buffer.from(view);
    if (list) list.push(copy);
    else this.areas.set(key, [copy]);
    return copy;
  }

  /** a string that refers to no larger text */
  text(s: string): string {
    let own = this.texts.get(s);
    if (own === undefined) this.texts.set((own = (' ' + s).slice(1)), own);
    return own;
  }
}
