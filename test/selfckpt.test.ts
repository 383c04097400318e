import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, exists, startCase, startTime, trackPid, UCR, ucr, verdict, waitFor, restartDetached } from './harness.js';

afterEach(cleanup);

/** Every pid the image holds (its tree), from `ucr inspect --json`. */
function imageOf(img: string): { tree: { pid: number; ppid: number; state: string; exitStatus?: number }[]; exes: string[] } {
  const r = ucr(['inspect', img, '--json']);
  if (r.code !== 0) throw new Error(`inspect failed: ${r.stderr}`);
  const meta = JSON.parse(r.stdout).meta;
  return { tree: meta.tree.tasks, exes: meta.tasks.map((t: { exe: string }) => t.exe) };
}

function statusOf(out: string): string | undefined {
  try {
    return fs.readFileSync(out + '.status', 'utf8').trim();
  } catch {
    return undefined;
  }
}

describe('self-checkpoint: a program runs `ucr checkpoint` on itself through system()', () => {
  for (const kill of [false, true]) {
    it(`${kill ? 'with --kill' : 'running on'}: ucr and the shell are left out; after restart the call returns 99`, async () => {
      const dir0 = fs.mkdtempSync('/tmp/ucr-selfimg-');
      const img = path.join(dir0, 'self.ucr');
      try {
        const cmd = `"${process.execPath}" "${UCR}" checkpoint {pid} -o "${img}"${kill ? ' --kill' : ''}`;
        const c = await startCase('selfckpt', { args: ['--cmd', cmd] });
        const before = startTime(c.pid);
        process.kill(c.pid, 'SIGUSR1');
        if (kill) {
          await waitFor(() => !exists(c.pid) && fs.existsSync(img), 60_000, 'the checkpoint to kill the program');
          expect(statusOf(c.out)).toBeUndefined();
        } else {
          await waitFor(() => statusOf(c.out) !== undefined, 60_000, 'the call to return');
          expect(statusOf(c.out)).toBe('exited 0');
          expect(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0\n/);
        }
        const { tree, exes } = imageOf(img);
        // the program and its child, and the call as a zombie child of the program
        expect(tree[0]!.pid).toBe(c.pid);
        expect(tree.filter((t) => t.state !== 'zombie').length).toBe(2);
        const call = tree.filter((t) => t.state === 'zombie');
        expect(call.length).toBe(1);
        expect(call[0]!.ppid).toBe(c.pid);
        expect(call[0]!.exitStatus).toBe(99 << 8);
        // none of ucr's own processes (node, the helper) is in the image
        expect(exes.map((e) => path.basename(e))).toEqual(['selfckpt', 'selfckpt']);

        if (!kill) {
          expect(await verdict(c)).toBe('PASS');
          fs.rmSync(c.out);
          fs.rmSync(c.out + '.status');
        }
        for (const t of tree) {
          try {
            process.kill(t.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
        for (const t of tree) await waitFor(() => !exists(t.pid), 20_000, `pid ${t.pid} to be free`);
        restartDetached(img);
        for (const t of tree) if (t.state !== 'zombie') trackPid(t.pid);
        expect(startTime(c.pid)).not.toBe(before);
        await waitFor(() => statusOf(c.out) !== undefined, 20_000, 'the restarted call to return');
        expect(statusOf(c.out)).toBe('exited 99');
        expect(await verdict(c)).toBe('PASS');
      } finally {
        fs.rmSync(dir0, { recursive: true, force: true });
      }
    });
  }
});
