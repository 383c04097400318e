import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointKill, cleanup, freePids, killAndWait, restartDetached, startCase as start, trackPid, treeOf, ucr, verdict, waitFor } from './harness.js';

/** the case, with its child and grandchild killed by cleanup() too (a failed checkpoint kills
 * only the root) */
async function startCase(name: string, opt: Parameters<typeof start>[1] = {}) {
  const c = await start(name, opt);
  for (const p of treeOf(c.pid).slice(1)) trackPid(p);
  return c;
}

afterEach(cleanup);

describe('pidfds', () => {
  it('pidfds of itself, its child and its grandchild (held by the root and by the child) name the restored tasks: pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD) work on them; O_NONBLOCK, PIDFD_THREAD and close-on-exec kept', async () => {
    const c = await startCase('pidfd');
    const img = path.join(c.dir, 'image.ucr');
    const pids = await checkpointKill(c, img);
    expect(pids).toHaveLength(3);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a pidfd of a child that has exited and is not reaped yet (a zombie of the tree) reaps it after the restart: waitid(P_PIDFD) gives its exit status', async () => {
    const c = await startCase('pidfd', { args: ['--zombie'] });
    const img = path.join(c.dir, 'image.ucr');
    await checkpointKill(c, img);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('pidfds of children that have exited and were reaped stay pidfds of dead processes: two of one share an inode, another has its own, they poll readable, signalling gives ESRCH, flags kept', async () => {
    const c = await startCase('pidfd', { args: ['--exited'] });
    const img = path.join(c.dir, 'image.ucr');
    await checkpointKill(c, img);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('with --pids they name the tasks at their new pids', async () => {
    const c = await startCase('pidfd');
    const img = path.join(c.dir, 'image.ucr');
    const free = freePids(c.pid, 3);
    const pids = await checkpointKill(c, img);
    const r = ucr(['restart', '-i', img, '--detach', '--pids', pids.map((p, i) => `${p}:${free + i}`).join(',')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    process.kill(free, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out) && fs.readFileSync(c.out, 'utf8').endsWith('\n'), 20_000, 'the verdict');
    expect(fs.readFileSync(c.out, 'utf8').trim()).toBe('PASS');
    await killAndWait(free);
  });

  for (const [flag, what, why] of [
    ['--outside', 'a process outside the tree (its parent)', () => `a pidfd of process ${process.pid}, which is not a process of the tree: not supported`],
    ['--thread', 'a thread that is not the process (PIDFD_THREAD)', (pid: number) => new RegExp(`a pidfd of thread \\d+ of process ${pid} \\(PIDFD_THREAD of a thread that is not the process\\): not supported$`)],
  ] as const)
    it(`refuses at checkpoint a pidfd of ${what}: one line naming the fd, nothing written, the tree runs on`, async () => {
      const c = await startCase('pidfd', { args: [flag] });
      const img = path.join(c.dir, 'image.ucr');
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r.code).not.toBe(0);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^ucr: process ${c.pid} fd \\d+ \\(anon_inode:\\[pidfd\\]\\): `));
      const want = why(c.pid);
      if (typeof want === 'string') expect(lines[0]!.endsWith(want)).toBe(true);
      else expect(lines[0]).toMatch(want);
      expect(fs.existsSync(img)).toBe(false);
      expect(await verdict(c)).toBe('PASS');
    });
});
