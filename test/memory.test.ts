import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, killAndWait, roundTrip, sleep, startCase, treeRoundTrip, ucr, verdict } from './harness.js';

afterEach(cleanup);

describe('memory survives checkpoint → kill → restart', () => {
  it('64 MiB random anonymous memory, heap, stack, read-only and PROT_NONE areas, written private file mapping; malloc after restart', async () => {
    const { verdict } = await roundTrip('memory');
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

describe('--skip-memory', () => {
  it('restores the named range of the named task zero-filled and the rest exactly', async () => {
    const c = await startCase('skipmem');
    const addr = parseInt(fs.readFileSync(c.out + '.addr', 'utf8'), 16);
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    fs.writeFileSync(c.out + '.skip', '');
    const r = ucr(['restart', '-i', img, '--detach', '--skip-memory', `${c.pid}:0x${addr.toString(16)}-0x${(addr + 8192).toString(16)}`]);
    expect(r.stderr).toBe('');
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses a pid that is not in the image', async () => {
    const c = await startCase('skipmem');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    const r = ucr(['restart', '-i', img, '--detach', '--skip-memory', '1:0x1000-0x2000']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('ucr: --skip-memory: process 1 is not a live task of the image');
    expect(exists(c.pid)).toBe(false);
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
