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

describe('unix socket names', () => {
  it('names bound relative to the working directory: getsockname/getpeername give them as bound, queued data arrives, a new client connects by the relative name', async () => {
    const { verdict } = await roundTrip('unixnames', { args: ['--relative'] });
    expect(verdict).toBe('PASS');
  });

  it('a listener whose socket file was replaced by another listener, a socket whose file was replaced by a regular file, one whose file was removed: the names stay, connecting by path reaches what is there now, the other file is untouched', async () => {
    const { verdict } = await roundTrip('unixnames', { args: ['--replaced'] });
    expect(verdict).toBe('PASS');
  });
});
