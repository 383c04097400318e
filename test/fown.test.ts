/**
 * Owners of open files and signal-driven I/O (docs/kinds.md, "Status flags and signal-driven I/O"), POSIX
 * timers aimed at a thread: they come back where they pointed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, roundTrip } from './harness.js';

afterEach(cleanup);

describe('file owners and signals', () => {
  it('F_SETOWN_EX to a thread with O_ASYNC and F_SETSIG (the signal still arrives there, naming the fd), F_SETOWN to the process group and to the process without O_ASYNC, F_SETSIG without an owner', async () => {
    const { verdict } = await roundTrip('fown');
    expect(verdict).toBe('PASS');
  });
});

describe('POSIX timers and threads', () => {
  it('timers created by a thread and aimed at a thread (SIGEV_THREAD_ID) keep their ids, target and value', async () => {
    const { verdict } = await roundTrip('thrtimers');
    expect(verdict).toBe('PASS');
  });
});
