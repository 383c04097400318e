import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, killAndWait, restartDetached, startCase, treeRoundTrip, verdict } from './harness.js';

afterEach(cleanup);

describe('content objects of any size', () => {
  it('unlinked files of 0, 10, 1234 and 4097 bytes and memfds of 0, 10 and 4097 bytes come back with exactly their size and contents', async () => {
    const { verdict: v } = await treeRoundTrip('odd_objects');
    expect(v).toBe('PASS');
  });
});

describe('removed directories', () => {
  it('a removed working directory (of two tasks) and a removed directory held open come back removed, at their paths, shared as they were', async () => {
    const { verdict: v, pids } = await treeRoundTrip('deleted_cwd');
    expect(pids).toHaveLength(2);
    expect(v).toBe('PASS');
  });
});
