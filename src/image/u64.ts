/**
 * Little-endian 64-bit words in a Uint32Array (ucr runs on x86_64 only), for the packed forms
 * of format 1.6 (vma-pack.ts) and the helper's binary plan lines (kernel/restore-plan.ts). The
 * values are safe integers: the high word holds what is above 2^32.
 */
const HI = 0x100000000;

/** q[at], q[at + 1] = v (a Uint32Array truncates the high half's fraction) */
export function putU64(q: Uint32Array, at: number, v: number): void {
  q[at] = v % HI;
  q[at + 1] = v / HI;
}

export function getU64(q: Uint32Array, at: number): number {
  return q[at]! + q[at + 1]! * HI;
}

/** n [address, count] pairs from runs[from] as 16-byte entries (u64 address | u64 count) */
export function packPairs(runs: readonly (readonly [number, number])[], from = 0, n = runs.length - from): Uint8Array {
  const q = new Uint32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const r = runs[from + i]!; // not destructured: cold, that is the iterator protocol per run
    putU64(q, 4 * i, r[0]);
    putU64(q, 4 * i + 2, r[1]);
  }
  return new Uint8Array(q.buffer);
}
