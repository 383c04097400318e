import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, roundTrip } from './harness.js';

afterEach(cleanup);

describe('file descriptors in flight (SCM_RIGHTS)', () => {
  for (const type of ['stream', 'dgram', 'seqpacket'])
    it(`a ${type} queue: plain messages and messages carrying a pipe end, a file at an offset, an eventfd, both ends of a unix pair, a memfd and a task's own pipe end come back in order, each with its descriptors, and each works`, async () => {
      const { verdict } = await roundTrip('scmrights', { args: ['--type', type] });
      expect(verdict).toBe('PASS');
    });
});
