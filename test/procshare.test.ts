/**
 * Sharing and per-task state beyond the basics (issue 17, docs/restart-sharing.md; docs/restart.md "CPU affinity", "Timers"; docs/kinds.md for /proc/sys files and memfds): processes
 * sharing an fd table or fs info (CLONE_FILES, CLONE_FS), each thread's CPU affinity, a POSIX
 * timer's overrun count, files of /proc/sys and /proc/PID held open, a flock shared by fork, a
 * read-only shared map of a read-write file made writable, a sealed memfd executed with execveat.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointKill, cleanup, exists, roundTrip, startCase, trackPid, treeOf, treeRoundTrip, ucr, verdict, waitFor } from './harness.js';
import { KIND } from './image-edit.js';
import { expectOneLine, forge, startAsNobody, ucrAsNobody, userImage } from './nobody.js';

afterEach(cleanup);

describe('what processes share comes back shared', () => {
  it('a process cloned with CLONE_FILES|CLONE_FS shares its fd table and cwd/umask with its parent again (one\'s open, close, chdir, umask seen by the other; its shared map and the parent\'s /proc file in the shared table come back), a forked one does not', async () => {
    const { verdict } = await treeRoundTrip('sharedfiles');
    expect(verdict).toBe('PASS');
  });

  it('two children sharing an fd table that their parent unshared come back sharing it (the second one the clone of the first with CLONE_PARENT), all three sharing their fs info', async () => {
    const { verdict } = await treeRoundTrip('sharedfiles', { args: ['--siblings'] });
    expect(verdict).toBe('PASS');
  });

  it('three processes sharing one fd table and fs info (a parent and two children) share them again', async () => {
    const { verdict } = await treeRoundTrip('sharedfiles', { args: ['--three'] });
    expect(verdict).toBe('PASS');
  });

  it('ucr inspect --all names what a process shares (and the tree runs on after the checkpoint)', async () => {
    const c = await startCase('sharedfiles');
    const kid = treeOf(c.pid)[1]!;
    const img = path.join(c.dir, 'img.ucr');
    expect(ucr(['checkpoint', String(c.pid), '-o', img]).code).toBe(0);
    const r = ucr(['inspect', img, '--all']);
    expect(r.stdout).toContain(`  ${kid}: exe `);
    expect(r.stdout).toContain(`    shares the fd table (CLONE_FILES) of ${c.pid} and the fs info (CLONE_FS) of ${c.pid}`);
    expect(await verdict(c)).toBe('PASS');
  });

  it('--pidns: the sharers come back sharing inside a new pid namespace', async () => {
    const c = await startCase('sharedfiles');
    const img = path.join(c.dir, 'img.ucr');
    await checkpointKill(c, img);
    const r = ucr(['restart', '-i', img, '--detach', '--pidns', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const root = (JSON.parse(r.stdout) as { root: number }).root;
    trackPid(root);
    process.kill(root, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out), 20_000, 'the verdict');
    expect(fs.readFileSync(c.out, 'utf8').trim()).toBe('PASS');
  });

  it('a process cloned with CLONE_FS only shares cwd and umask again, not its fd table', async () => {
    const { verdict } = await treeRoundTrip('sharedfiles', { args: ['--fs-only'] });
    expect(verdict).toBe('PASS');
  });

  it('a flock on an open file shared by fork is released only when both parent and child closed it, and is shown taken by the process that took it', async () => {
    const { verdict } = await treeRoundTrip('flockshare');
    expect(verdict).toBe('PASS');
  });
});

describe('per-task state', () => {
  it('each thread keeps its CPU affinity', async () => {
    const { verdict } = await roundTrip('affinity');
    expect(verdict).toBe('PASS');
  });

  it("a periodic POSIX timer keeps the overrun count of its last delivered signal (timer_getoverrun)", async () => {
    const { verdict } = await roundTrip('timeroverrun');
    expect(verdict).toBe('PASS');
  });
});

describe('files', () => {
  it('files of /proc/sys and of /proc/PID (cmdline, limits, environ, mountinfo, oom_score_adj, ns/, mem, pagemap, auxv) stay open with their mode and offset', async () => {
    const { verdict } = await roundTrip('sysfiles');
    expect(verdict).toBe('PASS');
  });

  it('namespace files (/proc/self/ns/net, uts, pid_for_children, an O_PATH one of mnt, a child\'s own ipc) come back as the namespaces the restored tasks are in', async () => {
    const { verdict } = await treeRoundTrip('nsfiles');
    expect(verdict).toBe('PASS');
  });

  it('refuses a namespace file of a namespace none of its holders is in (a child\'s new user namespace) with one line, and leaves the process running', async () => {
    const c = await startCase('nsfiles', { args: ['--foreign'] });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/\(user:\[\d+\]\): a namespace file of a user namespace that none of its holders is in: not supported/);
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c)).toBe('PASS');
  });

  for (const mode of ['child', 'root', 'thread'])
    it(`refuses a ${mode} in a cgroup namespace of its own (a restart would not make it again) with one line naming it, and leaves the tree running`, async () => {
      const c = await startCase('cgroupns', { args: mode === 'child' ? [] : [`--${mode}`] });
      const img = path.join(c.dir, 'image.ucr');
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      const who = { root: `process ${c.pid}`, child: 'process \\d+', thread: `thread \\d+ of process ${c.pid}` }[mode];
      expect(r.stderr).toMatch(new RegExp(`${who} is in a cgroup namespace of its own \\(cgroup:\\[\\d+\\]; ucr's is cgroup:\\[\\d+\\]\\): a restart would not make it again: not supported`));
      if (mode === 'child') expect(r.stderr).not.toContain(`process ${c.pid} `);
      expect(fs.existsSync(img)).toBe(false);
      expect(await verdict(c)).toBe('PASS');
    });

  it('a MAP_SHARED PROT_READ map of a file opened O_RDWR can be mprotect()ed writable after the restart; one of an O_RDONLY file still cannot', async () => {
    const { verdict } = await roundTrip('mprotect_rw');
    expect(verdict).toBe('PASS');
  });

  it('a sealed memfd reopened read-only can still be run with execveat (no writable fd left by the restorer), its seals kept', async () => {
    const { verdict } = await roundTrip('memfdexec');
    expect(verdict).toBe('PASS');
  });

  it('a memfd executed through memfd_create\'s own read-write fd (O_APPEND) still runs after the restart: that fd is memfd_create\'s file again, no writer of the inode', async () => {
    const { verdict } = await roundTrip('memfdexec', { args: ['--rdwr'] });
    expect(verdict).toBe('PASS');
  });
});

describe('sharing that a restart cannot create is refused at checkpoint', () => {
  it('two processes sharing an fd table that their parent does not share, one in a session of its own: one line, the tree runs on untouched', async () => {
    const c = await startCase('sharedfiles', { args: ['--siblings-setsid'] });
    const kids = treeOf(c.pid).slice(1);
    const r = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr')]);
    // either sibling named first: the capture's order is the pids' (a pid that wrapped around
    // past pid_max comes before its elder sibling's)
    const [a, b] = kids as [number, number];
    expectOneLine(r, new RegExp(`^ucr: process (${a} shares its fd table \\(CLONE_FILES\\) with process ${b}|${b} shares its fd table \\(CLONE_FILES\\) with process ${a}), which is neither its parent, nor shares it with its parent, nor is its sibling in its session: not supported`));
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('CPU affinity on a machine without those CPUs', () => {
  it('an affinity with no CPU online here is refused with one line, creating nothing; one with some keeps those, with a warning', async () => {
    const { c, good } = await userImage('affinity');
    const none = forge(c, good, 'none.ucr', KIND.TASK, (t) => (t.attrs.sched[0].cpus = [4000, 4001]));
    expectOneLine(ucr(['restart', '-i', none, '--detach']), new RegExp(`^ucr: process ${c.pid}: thread ${c.pid}: its CPU affinity \\(CPUs 4000-4001\\) has no CPU online on this machine \\(0`));
    expect(exists(c.pid)).toBe(false);
    const some = forge(c, good, 'some.ucr', KIND.TASK, (t) => (t.attrs.sched[0].cpus = [...t.attrs.sched[0].cpus, 4000]));
    const r = ucr(['restart', '-i', some, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`thread ${c.pid}: CPU affinity [0-9,-]+4000 restored as [0-9,-]+ \\(the others are not online here\\)`));
    expect(await verdict(c)).toBe('PASS');
  });
});

describe("a user's sharers", () => {
  it("nobody's processes sharing an fd table and fs info, checkpointed by nobody, restarted by root: they share them again", async () => {
    const c = await startAsNobody('sharedfiles');
    const pids = treeOf(c.pid);
    const img = path.join(c.dir, 'img.ucr');
    const r = ucrAsNobody(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code, r.stderr).toBe(0);
    for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
    const rr = ucr(['restart', '-i', img, '--detach']);
    expect(rr.code, rr.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it('an image edited to make a process share a table it cannot be created into is refused at restart with one line, creating nothing', async () => {
    const c = await startAsNobody('sharedfiles');
    const pids = treeOf(c.pid);
    const img = path.join(c.dir, 'img.ucr');
    expect(ucrAsNobody(['checkpoint', String(c.pid), '-o', img, '--kill']).code).toBe(0);
    for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
    const good = fs.readFileSync(img);
    for (const [name, lead] of [['self', c.pid], ['child', pids[1]!]] as const) {
      const bad = forge(c, good, `${name}.ucr`, KIND.TASK, (t) => (t.attrs.files = lead));
      expectOneLine(ucr(['restart', '-i', bad, '--detach']), new RegExp(`^ucr: process ${c.pid}: its fd table \\(CLONE_FILES\\) is said to be shared with process ${lead}, which is not the first of a group of the image`));
      for (const p of pids) expect(exists(p), `${name}: pid ${p}`).toBe(false);
    }
    expect(ucr(['restart', '-i', img, '--detach']).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});
