/**
 * ucr run under a real-time policy on one CPU (`taskset -c 0 chrt -f 10 ucr ...`): a SCHED_FIFO
 * thread runs until it blocks, so a wait of the main thread that never blocks starves the threads
 * of equal priority it waits for. Node's cppgc sweeper did that after a full GC (its foreground
 * task posting itself again until V8's workers finished: native/addon/rtyield.cc), and the
 * command spun until killed. Node runs with --gc-global (every collection a full one, so the
 * sweeper's wait comes in every command, not only in large ones): a checkpoint and a restart of
 * a process of many mappings complete and restore it. The KILL timeout only stops a command that
 * spins (a run takes about a second). Skipped where real-time scheduling is not permitted.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, killAndWait, startCase, startTime, UCR, verdict } from './harness.js';

afterAll(cleanup);

const ok = (cmd: string[]) => spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' }).status === 0;
const permitted = ok(['taskset', '-c', '0', 'chrt', '-f', '10', 'true']);

/** The CLI on CPU 0 under SCHED_FIFO 10, every GC a full one; killed if it runs past the guard. */
function ucrRt(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync('timeout', ['-s', 'KILL', '120', 'taskset', '-c', '0', 'chrt', '-f', '10', process.execPath, '--gc-global', UCR, ...args], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  return { code: r.status, stderr: `${r.stderr?.toString() ?? ''}${r.signal ? ` (${r.signal})` : ''}` };
}

describe.skipIf(!permitted)('under SCHED_FIFO on one CPU', () => {
  it('checkpoint and restart complete and the process comes back the same', async () => {
    const c = await startCase('manymaps');
    const img = path.join(c.dir, 'image.ucr');
    const before = startTime(c.pid);
    const ck = ucrRt(['checkpoint', String(c.pid), '-o', img]);
    expect(ck.stderr).toBe('');
    expect(ck.code).toBe(0);
    await killAndWait(c.pid);
    const rs = ucrRt(['restart', '-i', img, '--detach']);
    expect(rs.stderr).toBe('');
    expect(rs.code).toBe(0);
    expect(startTime(c.pid)).not.toBe(before);
    expect(await verdict(c)).toBe('PASS');
  }, 300_000);
});
