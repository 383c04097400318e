/** Open files as the kernel showed them: /proc and /sys files, status flags per open file,
 * stdio that is a named FIFO or file, files of tmpfs mapped shared (issue 16, files and /proc). */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, restartDetached, startCase, treeOf, ucr, verdict, waitFor } from './harness.js';

afterEach(cleanup);

/** checkpoint --kill, every pid free, restart with extra options; returns the restart's result */
async function killAndRestart(c: { pid: number; dir: string; name: string }, restartArgs: string[] = []) {
  const img = path.join(c.dir, 'image.ucr');
  const pids = treeOf(c.pid);
  checkpointCase(c as never, img, ['--kill']);
  for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
  if (!restartArgs.length) return restartDetached(img);
  return ucr(['restart', '-i', img, '--detach', ...restartArgs]);
}

describe('files of /proc and /sys', () => {
  it('/proc/self, /proc/thread-self, /proc/PID of a child and /proc/PID/task/TID files are reopened for the restored tasks at their offsets; /proc/stat and sysfs files are not refused as "changed"', async () => {
    const c = await startCase('procfiles', { args: ['--thread'] });
    await killAndRestart(c);
    expect(await verdict(c)).toBe('PASS');
  });

  it('with --pids they name the tasks at their new pids', async () => {
    const c = await startCase('procfiles');
    let free = c.pid + 1000;
    while (exists(free) || exists(free + 1)) free += 2;
    const [root, child] = treeOf(c.pid);
    const r = await killAndRestart(c, ['--pids', `${root}:${free},${child}:${free + 1}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    process.kill(free, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out), 20_000, 'the verdict');
    expect(fs.readFileSync(c.out, 'utf8').trim()).toBe('PASS');
  });
});

describe('status flags belong to the open file', () => {
  it('two open files of one pipe end, the two ends, and four open files of one FIFO keep their own O_NONBLOCK and O_DIRECT', async () => {
    const c = await startCase('pipeflags');
    await killAndRestart(c);
    expect(await verdict(c)).toBe('PASS');
  });
});
