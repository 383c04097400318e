/**
 * Process and thread attributes (docs/restart.md, "Process attributes"): scheduling, nice,
 * personality per thread, oom_score_adj, membarrier registrations, mlockall, loginuid come back;
 * a user's image restored by root gets them through the user's own credentials and limits, so
 * an image edited to a better priority, a lower oom_score_adj, more locked memory or another
 * loginuid is refused and leaves nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, exists, killAndWait, roundTrip, ucr, verdict } from './harness.js';
import { KIND } from './image-edit.js';
import { expectOneLine, forge, userImage } from './nobody.js';

afterEach(cleanup);

describe('process attributes come back as the program set them', () => {
  it('per thread: scheduling policy (BATCH, IDLE, OTHER, FIFO with reset-on-fork, RR), priority, nice, personality; per process: oom_score_adj, membarrier registrations, mlockall(MCL_FUTURE) over PROT_NONE areas, loginuid', async () => {
    const { verdict } = await roundTrip('procattrs');
    expect(verdict).toBe('PASS');
  });

  it("each thread's own time slice (SCHED_OTHER 3 and 5 ms, one inherited, SCHED_BATCH 2 ms) and the default one come back; a slice out of the kernel's bounds, on another policy or in a 1.8 image is refused", async () => {
    const { c, verdict } = await roundTrip('slice');
    expect(verdict).toBe('PASS');
    await killAndWait(c.pid);
    const good = fs.readFileSync(path.join(c.dir, 'image.ucr'));
    expect(good.readUInt32LE(12)).toBe(9); // format 1.9: the slices
    const old = Buffer.from(good);
    old.writeUInt32LE(8, 12);
    const cases: [string, Buffer, (t: Record<string, any>) => void, RegExp][] = [
      ['small', good, (t) => (t.attrs.sched[0].slice = 99_999), /attrs\.sched\[0\]\.slice/],
      ['idle', good, (t) => (t.attrs.sched[0].policy = 5), /a time slice belongs to SCHED_OTHER and SCHED_BATCH only/],
      ['old', old, () => {}, /a thread's own time slice in a format 1\.8 image/],
    ];
    for (const [name, bytes, edit, re] of cases) {
      const r = ucr(['restart', '-i', forge(c, bytes, `${name}.ucr`, KIND.TASK, edit), '--detach']);
      expectOneLine(r, re);
      expect(exists(c.pid), name).toBe(false);
    }
  });

  it('root sets it all and locks 16 MiB, then becomes nobody: its memory stays locked, its real-time threads keep their priority (set by the helper for root\'s own image, where the task\'s own credentials are not enough)', async () => {
    const { verdict } = await roundTrip('procattrs', { args: ['--setuid'] });
    expect(verdict).toBe('PASS');
  });

  it("a user's image restarted by root: what the user set comes back; edited to more than the user may have, it is refused", async () => {
    const { c, img, good } = await userImage('procattrs', ['--user']);
    const cases: [string, (t: Record<string, any>) => void, RegExp][] = [
      ['nice', (t) => (t.attrs.sched[0].nice = -10), new RegExp(`^ucr: process ${c.pid}: finish: thread ${c.pid}: cannot set its scheduling \\(policy 3, priority 0, nice -10\\) with the task's own credentials and limits: permission denied \\(EACCES\\)`)],
      ['fifo', (t) => Object.assign(t.attrs.sched[1], { policy: 1, priority: 50 }), /: cannot set its scheduling \(policy 1, priority 50, nice 0\) with the task's own credentials and limits/],
      ['oom', (t) => (t.attrs.oomScoreAdj = -500), /finish: oom_score_adj: cannot set it to -500 with the task's own credentials/],
      ['loginuid', (t) => (t.attrs.loginuid = 0), /its loginuid 0 is another user's \(setting it needs CAP_AUDIT_CONTROL\), beyond uid 65534/],
      ['mlock', (t) => t.vmas.forEach((v: { madv: number }) => (v.madv |= 256)), /bytes of its memory are locked \(mlock\), more than its hard RLIMIT_MEMLOCK \(\d+\) lets a process lock without CAP_IPC_LOCK, beyond uid 65534/],
    ];
    for (const [name, edit, re] of cases) {
      const r = ucr(["restart", "-i", forge(c, good, `${name}.ucr`, KIND.TASK, edit), "--detach"]);
      if (r.code === 0) throw new Error(`${name} restored`);
      expectOneLine(r, re);
      expect(exists(c.pid), name).toBe(false);
    }
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('the root directory (chroot)', () => {
  it('a chrooted process comes back in its root directory, with its working directory inside it', async () => {
    const { verdict } = await roundTrip('chroot');
    expect(verdict).toBe('PASS');
  });

  it("a user's image with a root directory of its own is refused to root (chroot needs CAP_SYS_CHROOT)", async () => {
    const { c, good } = await userImage('procattrs', ['--user']);
    const r = ucr(['restart', '-i', forge(c, good, 'root.ucr', KIND.TASK, (t) => (t.attrs.root = '/tmp')), '--detach']);
    expectOneLine(r, new RegExp(`^ucr: process ${c.pid}: its root directory is /tmp \\(chroot needs CAP_SYS_CHROOT\\), beyond uid 65534`));
    expect(exists(c.pid)).toBe(false);
  });
});
