/** The `params` of the kinds that are a few numbers (eventfd, signalfd, timerfd). */
import { arr, u64, type Obj, type Where } from '../check.js';

/** Exactly n unsigned 64-bit numbers. */
export function params(o: Obj, w: Where, kind: string, n: number): (number | bigint)[] {
  const p = o.params === undefined ? [] : arr(o.params, w.at('params'), 16).map((y, i) => u64(y, w.at('params').at(i)));
  if (p.length !== n) w.at('params').fail(`${p.length} values for a ${kind} file, expected ${n}..${n}`);
  return p;
}
