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
