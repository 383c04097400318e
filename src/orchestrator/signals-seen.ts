/** Signals and the waits they end (SIGINT and SIGTERM abort an operation through its
 * AbortSignal). */

/**
 * A signal that reached the process (a terminal's Ctrl-C: SIGINT) is seen by its listeners only
 * when libuv reads its signal pipe, in the poll phase of the event loop. Code that continues
 * from an I/O callback through promise reactions runs before that: an answer of the helper and
 * the signal read in the same turn would let the step after the answer begin although the user
 * had interrupted. Awaited right before a step that cannot be undone (the tree killed or
 * released, the restored tree resumed): two turns, so a poll phase comes in between and the
 * abort, if any, is known.
 */
export async function signalsSeen(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
}

/** The promise's value, or undefined as soon as the signal aborts (at once if it has). */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (!signal) return p;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const off = () => signal.removeEventListener('abort', stop);
    const stop = () => resolve(undefined);
    signal.addEventListener('abort', stop, { once: true });
    p.then(
      (v) => (off(), resolve(v)),
      (e: unknown) => (off(), reject(e)),
    );
  });
}

/** The helper's exit statuses of a terminal's interrupt or a SIGTERM (128 + SIGHUP, SIGINT,
 * SIGQUIT, SIGTERM: native/helper/main.c, coordinator_died). */
const INTERRUPTED = new Set([1, 2, 3, 15].map((s) => 128 + s));

/**
 * A terminal's Ctrl-C reaches the helper and ucr alike, and the helper's end (its exit status
 * helperStatus) can be heard before ucr's own handler of the same signal has run: when the
 * helper ended of an interrupt and signal has not aborted yet, its abort is waited for (it
 * comes within a turn or two; 250 ms at most, for a signal sent to the helper alone).
 */
export async function interruptSeen(helperStatus: number, signal: AbortSignal | undefined): Promise<void> {
  if (!signal || signal.aborted || !INTERRUPTED.has(helperStatus)) return;
  await untilAborted(new Promise<void>((resolve) => setTimeout(resolve, 250).unref()), signal);
}
