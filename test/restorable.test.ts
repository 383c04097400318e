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
