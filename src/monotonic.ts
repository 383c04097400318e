/** Milliseconds of the monotonic clock (CLOCK_MONOTONIC, as performance.now() reads it, from
 * another origin): for durations. The global `performance` loads node:perf_hooks and the modules
 * under it at its first use (~0.6 ms of every command). */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
