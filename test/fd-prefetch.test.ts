/**
 * The fd tables' scan ahead (src/kernel/fd-prefetch.ts) splits a tree into chunks of 1, 2, 4, 8
 * tasks and then of `chunk` tasks each, however large the tree: the memory it holds stays
 * bounded by `ahead` chunks (a chunk for all the tasks past the 31st once held 1,000 x 400 fds'
 * tables at once: +40 MiB).
 */
import { describe, expect, it } from 'vitest';
import { FdPrefetch } from '../src/kernel/fd-prefetch.js';

describe('fd prefetch', () => {
  it('chunks of 1, 2, 4, 8, then 16 tasks, for a tree of 1,000', async () => {
    // pids above pid_max's ceiling (2^22): never a process; their scans fail harmlessly
    const tasks = Array.from({ length: 1000 }, (_, i) => ({ pid: 4_200_000 + i, ref: 0 }));
    const p = new FdPrefetch(tasks);
    const sizes = (p as unknown as { chunks: { pids: number[] }[] }).chunks.map((c) => c.pids.length);
    expect(sizes.slice(0, 5)).toEqual([1, 2, 4, 8, 16]);
    expect(Math.max(...sizes)).toBe(16);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    await expect(p.table(tasks[0]!.pid)).rejects.toThrow();
  });
});
