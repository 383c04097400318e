/**
 * V8's heap kept small while a large checkpoint runs (CheckpointOptions.leanHeap; the CLI sets
 * it): V8 lets the young generation double to 16 MiB semi-spaces under a checkpoint's
 * allocation rate, and the old generation grow up to ~4 times what its last full GC left live,
 * while the answers, frames and captured tasks of a large tree die old (docs/performance.md,
 * Peak memory (fifth session), Checkpoint peak memory (seventh and eighth sessions)).
 *
 * - young generation: its growth stops once its semi-spaces reach 4 MiB (~2% CPU; at 1 MiB ~10%);
 * - old generation, once it passes 24 MiB: it grows by half of what a full GC leaves live
 *   (small trees never get there: more full GCs cost them ~10% CPU); and a checkpoint that got
 *   there has a full GC (collectOld) once its captured tasks are let go, before its check
 *   decodes the image, so the next limit is set from what is live then.
 *
 * V8's flags belong to the whole process: set here only while a lean operation runs, and put
 * back to V8's defaults when the last one ends; a flag given on Node's command line
 * (NODE_OPTIONS, execArgv) is left as it is.
 */
import vm from 'node:vm';
import { native } from './native/addon.js';

// V8's flags, space sizes and the ends of its collections through the addon
// (native/addon/v8heap.cc): node:v8 loads the stream modules (~1.3 ms of every command),
// node:perf_hooks and a PerformanceObserver ~0.75 ms
const setFlags = (flags: string) => native().setV8Flags(flags);

const OLD_AFTER = 24 << 20;
const YOUNG_AT = 8 << 20;

/** a flag the user gave Node on its command line: not ours to change */
function userSet(flag: string): boolean {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith(`--${flag}`) || a.startsWith(`--${flag.replace(/-/g, '_')}`));
}

let users = 0;
let stopWatch: (() => void) | undefined;
let young = false; // the flags set (by this module, to be put back)
let old = false;
let oldWanted = 0; // lean operations that cap the old generation too

function unwatch(): void {
  stopWatch?.();
  stopWatch = undefined;
}

function watch(): void {
  unwatch();
  const wantYoung = !young && !userSet('semi-space-growth-factor');
  const wantOld = oldWanted > 0 && !old && !userSet('heap-growing-percent');
  if (!wantYoung && !wantOld) return;
  const seen = () => {
    const [youngSize, oldSize] = native().heapSpaceSizes();
    if (!young && wantYoung && youngSize >= YOUNG_AT) {
      setFlags('--semi-space-growth-factor=1');
      young = true;
    }
    if (!old && wantOld && oldWanted > 0 && oldSize >= OLD_AFTER) {
      setFlags('--heap-growing-percent=50');
      old = true;
    }
    if ((young || !wantYoung) && (old || !wantOld)) unwatch();
  };
  try {
    stopWatch = native().watchGC(seen);
  } catch {
    // no addon (a command that does not need it, before npm install): V8's defaults stay
    return;
  }
  // the watch ends with the event loop (a command's lean heap is never given back): Node's
  // teardown collects too, and JavaScript can no longer be called then
  if (!exitHooked)
    process.once('beforeExit', () => {
      exitHooked = false;
      unwatch();
    });
  exitHooked = true;
}
let exitHooked = false;

let gcNow: (() => void) | undefined;
/** A full GC now, when the old generation is capped (a large checkpoint's old objects just let
 * go, before the check decodes the image: its limit is then set from what is live). */
export function collectOld(): void {
  if (!old) return;
  if (!gcNow) {
    // a context made while --expose-gc is set has gc(); the flag is put back at once
    setFlags('--expose-gc');
    gcNow = vm.runInNewContext('gc') as () => void;
    if (!userSet('expose-gc')) setFlags('--no-expose-gc');
  }
  gcNow();
}

/** Keeps V8's heap lean until the returned function is called (young generation; with
 * oldGeneration, the old one too). */
export function leanHeap(oldGeneration: boolean): () => void {
  users++;
  if (oldGeneration) oldWanted++;
  watch();
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    users--;
    if (oldGeneration) oldWanted--;
    if (oldWanted === 0 && old) {
      setFlags('--heap-growing-percent=0'); // V8's default: its own growing factor
      old = false;
    }
    if (users === 0) {
      unwatch();
      if (young) setFlags('--semi-space-growth-factor=2'); // V8's default
      young = false;
    } else watch();
  };
}
