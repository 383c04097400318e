/**
 * Seccomp (docs/restart.md, "Seccomp"): stacked filters in their order, shared by a child
 * (fork) and by threads (TSYNC), a thread's own filters on top, the LOG flag and no_new_privs
 * come back before the task runs its own code; strict mode too. A filter that hands calls to a
 * listener (SECCOMP_RET_USER_NOTIF) is refused at checkpoint with one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inspect } from '../src/index.js';
import { checkpointCase, checkpointKill, cleanup, exists, restartDetached, startCase, treeRoundTrip, ucr, verdict } from './harness.js';
import { KIND } from './image-edit.js';
import { expectOneLine, forge, startAsNobody, ucrAsNobody } from './nobody.js';

afterEach(cleanup);

describe('seccomp', () => {
  it('two stacked filters (TSYNC, the second with SECCOMP_FILTER_FLAG_LOG) in a process, its child and a thread, a thread with a third of its own: each acts as before, in order; status counts and no_new_privs match; a later TSYNC names the same thread as before; a second checkpoint reads the same filters and flags', async () => {
    const c = await startCase('seccomp');
    const img = path.join(c.dir, 'image.ucr');
    await checkpointKill(c, img);
    restartDetached(img);
    // each distinct filter once in the image: F1, F2 (with LOG; shared by both processes and T1), F3
    const tasks = inspect({ input: img }).meta.tasks;
    const filters = tasks.flatMap((t) => t.seccomp?.filters ?? []);
    expect(filters.map((f) => [f.id, f.prev, f.flags])).toEqual([[0, -1, 0], [1, 0, 2], [2, 1, 0]]);
    expect(tasks[1]!.seccomp).toEqual({ filters: [], threads: [[tasks[1]!.pid, 2, 1]] });
    expect(ucr(['inspect', '--all', img]).stdout).toMatch(/^ {4}seccomp: \d+ filters 0,1, \d+ filters 0,1, \d+ filters 0,1,2$/m);
    // the restored tree, checkpointed again (it runs on): the same filters, flags and sharing
    checkpointCase(c, path.join(c.dir, 'again.ucr'));
    expect(inspect({ input: path.join(c.dir, 'again.ucr') }).meta.tasks.map((t) => t.seccomp)).toEqual(tasks.map((t) => t.seccomp));
    expect(await verdict(c)).toBe('PASS');
  });

  it('a checkpoint that lets the tree run on leaves its filters acting (the suspension ends with the detach)', async () => {
    const c = await startCase('seccomp');
    checkpointCase(c, path.join(c.dir, 'image.ucr'));
    expect(await verdict(c)).toBe('PASS');
  });

  it('filters installed by root without no_new_privs come back, no_new_privs still off', async () => {
    const { verdict } = await treeRoundTrip('seccomp', { args: ['--no-nnp'] });
    expect(verdict).toBe('PASS');
  });

  it('a thread of its own under 7 filters of 4096 instructions (the kernel\'s bounds), the main thread under none', async () => {
    const { verdict } = await treeRoundTrip('seccomp', { args: ['--big'] });
    expect(verdict).toBe('PASS');
  });

  it('a filter main shares with two threads born after it, but not with a thread born before: shared again, so a later TSYNC succeeds as before', async () => {
    const { verdict } = await treeRoundTrip('seccomp', { args: ['--partial'] });
    expect(verdict).toBe('PASS');
  });

  it('strict mode: the task still serves its pipe with read and write, and a getpid still kills it', async () => {
    const { verdict } = await treeRoundTrip('seccomp', { args: ['--strict'] });
    expect(verdict).toBe('PASS');
  });

  it('a filter returning SECCOMP_RET_USER_NOTIF is refused at checkpoint with one line, the process runs on', async () => {
    const c = await startCase('seccomp', { args: ['--notify'] });
    const r = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'image.ucr')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^ucr: process ${c.pid}: thread ${c.pid}: a seccomp filter returns SECCOMP_RET_USER_NOTIF \\(its listener is not saved\\): it cannot be restored`));
    expect(exists(c.pid)).toBe(true);
  });

  it("a user's image restarted by root: the filters (under no_new_privs) come back through the user's own credentials; forged to no_new_privs off, or to a program the kernel would refuse, it is refused before anything is created", async () => {
    const c = await startCase('seccomp', { asNobody: [], groups: [65534] });
    const img = path.join(c.dir, 'image.ucr');
    const pids = await checkpointKill(c, img);
    fs.chownSync(img, 65534, 65534);
    const good = fs.readFileSync(img);
    const cases: [string, (t: Record<string, any>) => void, RegExp][] = [
      ['nnp', (t) => (t.noNewPrivs = false), new RegExp(`^ucr: process ${c.pid}: its seccomp filters are without no_new_privs \\(installing them so needs CAP_SYS_ADMIN\\), beyond uid 65534`)],
      ['jump', (t) => (t.seccomp.filters[0].prog[10] = 200), /TASK \d+\.seccomp\.filters\[0\]\.prog: corrupt image: instruction 1: jumps past the end/],
      ['notify', (t) => Buffer.from(t.seccomp.filters[0].prog.buffer, t.seccomp.filters[0].prog.byteOffset, 72).writeUInt32LE(0x7fc00000, 5 * 8 + 4), /TASK \d+\.seccomp\.filters\[0\]\.prog: corrupt image: instruction 5: returns SECCOMP_RET_USER_NOTIF/],
    ];
    for (const [name, edit, re] of cases) {
      const r = ucr(['restart', '-i', forge(c, good, `${name}.ucr`, KIND.TASK, edit), '--detach']);
      expectOneLine(r, re);
      for (const p of pids) expect(exists(p), name).toBe(false);
    }
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a checkpointer without CAP_SYS_ADMIN is refused with one line (PTRACE_O_SUSPEND_SECCOMP), and the process runs on unharmed', async () => {
    const c = await startAsNobody('seccomp');
    const r = ucrAsNobody(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'image.ucr')]);
    expectOneLine(r, new RegExp(`^ucr: process ${c.pid}: freeze: thread ${c.pid}: it runs under seccomp: checkpointing it needs PTRACE_O_SUSPEND_SECCOMP \\(CAP_SYS_ADMIN`));
    expect(await verdict(c)).toBe('PASS');
  });
});
