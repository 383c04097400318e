import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, killAndWait, restartDetached, roundTrip, sleep, startCase, treeRoundTrip, ucr, verdict } from './harness.js';

afterEach(cleanup);

describe('memory survives checkpoint → kill → restart', () => {
  it('64 MiB random anonymous memory, heap, stack, read-only and PROT_NONE areas, written private file mapping; malloc after restart', async () => {
    const { verdict } = await roundTrip('memory');
    expect(verdict).toBe('PASS');
  });

  it('a sparse mapping keeps its holes: 256 MiB mapped, 4 MiB written in 64 blocks; the image and the restored Rss follow the written pages', async () => {
    const c = await startCase('sparse');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    expect(fs.statSync(img).size).toBeLessThan(8 << 20);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('2400 mappings (2000 pages of alternating protections, 400 private maps of one file page): several batches of injected calls', async () => {
    const { verdict } = await roundTrip('vmas');
    expect(verdict).toBe('PASS');
  });

  it('a CPU-bound loop keeps its registers and memory (running checksum)', async () => {
    const { verdict } = await roundTrip('counter');
    expect(verdict).toBe('PASS');
  });

  it('x87, SSE and AVX state: a floating-point loop ends with the exact result', async () => {
    const { verdict } = await roundTrip('fpu');
    expect(verdict).toBe('PASS');
  });
});

describe('shared memory', () => {
  it('shared anonymous memory (with a hole), a memfd mapped shared by two tasks, privately by one and held as an fd, a write-sealed memfd: contents and sharing come back', async () => {
    const { verdict, pids } = await treeRoundTrip('shmem');
    expect(pids).toHaveLength(2);
    expect(verdict).toBe('PASS');
  });
});

describe('threads', () => {
  it('four pthreads with TLS and a shared mutex-protected counter come back at their tids, advance, and join with the right values', async () => {
    const { c, verdict } = await roundTrip('threads');
    expect(verdict).toBe('PASS');
    expect(c.pid).toBeGreaterThan(0);
  });
});

describe('signals and timers', () => {
  it('handlers (SA_RESTART|SA_ONSTACK|SA_SIGINFO, masks), SIG_IGN, sigaltstack, a blocked pending SIGUSR2, three queued SIGRTMIN with values, a per-thread pending signal, a thread woken from a condition variable, a 50 ms ITIMER_REAL', async () => {
    const { verdict } = await roundTrip('signals');
    expect(verdict).toBe('PASS');
  });
});

describe('POSIX timers', () => {
  it('keep their ids, notification values and time left (relative: counted from the restart)', async () => {
    const { verdict } = await roundTrip('timers');
    expect(verdict).toBe('PASS');
  });

  it('--timers=absolute: a timer whose deadline passed while the process was checkpointed fires at once', async () => {
    const c = await startCase('timers', { args: ['--expect-fired'] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    await sleep(1000); // longer than the 600 ms one-shot timer had left
    const r = ucr(['restart', '-i', img, '--detach', '--timers', 'absolute']);
    expect(r.stderr).toBe('');
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('a process whose main thread has exited', () => {
  it('comes back with the main thread a zombie again and its two threads running at their tids', async () => {
    const { c, verdict } = await roundTrip('leader_exit');
    expect(verdict).toBe('PASS');
    expect(c.pid).toBeGreaterThan(0);
  });
});
