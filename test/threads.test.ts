/**
 * Threads are a capability, not a limit: processes with 65, 300 and 2,000 threads are
 * checkpointed while they run on untouched (every thread still there, not stopped, untraced,
 * and answering), then checkpointed, killed and restarted with every thread back at its tid
 * checking its own state (test/cases/manythreads.c). A process whose threads come and go all
 * the time (test/cases/threadchurn.c) is checkpointed again and again: each checkpoint either
 * completes or gives up with one line, and the process runs on untouched either way; an image
 * of it restores with no worker lost or run twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alive, cleanup, exists, manyThreadsRound as round, restartDetached, startCase, tmpdir, ucr, verdict, waitFor } from './harness.js';
import { threadsOf } from './leftovers.js';

afterAll(cleanup);

describe('any number of threads', () => {
  for (const n of [65, 300, 2000]) {
    it(`${n} threads: checkpointed running on untouched and answering, then checkpointed, killed and restarted with every thread back`, async () => {
      const c = await startCase('manythreads', { args: ['--threads', String(n)] });
      const before = threadsOf(c.pid);
      expect(before).toHaveLength(n + 1);
      const maps = fs.readFileSync(`/proc/${c.pid}/maps`, 'utf8');

      const t0 = performance.now();
      const r = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'run-on.ucr')]);
      const ckMs = performance.now() - t0;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(threadsOf(c.pid)).toEqual(before); // every thread, none stopped or traced
      expect(fs.readFileSync(`/proc/${c.pid}/maps`, 'utf8')).toBe(maps); // no gadget left
      expect(await round(c)).toBe('PASS');

      const img = path.join(c.dir, 'img.ucr');
      const r2 = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r2.stderr).toBe('');
      expect(r2.code).toBe(0);
      await waitFor(() => !exists(c.pid), 10_000, `pid ${c.pid} to be released`);
      const t1 = performance.now();
      restartDetached(img);
      const rsMs = performance.now() - t1;
      expect(threadsOf(c.pid).map((t) => t.split(' ')[0])).toEqual(before.map((t) => t.split(' ')[0]));
      expect(await round(c)).toBe('PASS');
      expect(await verdict(c, 'SIGTERM', 60_000)).toBe('PASS');
      console.log(`${n} threads: checkpoint ${Math.round(ckMs)} ms, restart ${Math.round(rsMs)} ms (CLI, wall clock)`);
    });
  }
});

describe('a process whose threads come and go all the time', () => {
  it('each checkpoint completes or gives up with one line, and the process runs on untouched', async () => {
    const c = await startCase('threadchurn');
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const img = path.join(c.dir, `run-on-${i}.ucr`);
      const r = ucr(['checkpoint', String(c.pid), '-o', img]);
      if (r.code === 0) {
        expect(r.stderr).toBe('');
        outcomes.push('ok');
      } else {
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
        expect(r.stderr).toMatch(/^ucr: process \d+: .*threads kept appearing/);
        expect(fs.existsSync(img)).toBe(false);
        outcomes.push('gave up');
      }
      const main = threadsOf(c.pid).find((t) => t.startsWith(`${c.pid} `))!;
      expect(main, `after checkpoint ${i}`).toBe(`${c.pid} S tracer 0`);
      for (const t of threadsOf(c.pid)) expect(t, `after checkpoint ${i}`).toMatch(/ [SD] tracer 0$/);
      // thread stacks come and go; no injected gadget (rwx) may stay
      expect(fs.readFileSync(`/proc/${c.pid}/maps`, 'utf8').split('\n').filter((l) => l.includes(' rwxp '))).toEqual([]);
    }
    console.log(`thread churn, 10 checkpoints letting it run on: ${outcomes.filter((o) => o === 'ok').length} complete, ${outcomes.filter((o) => o !== 'ok').length} gave up`);
    expect(await verdict(c, 'SIGTERM', 60_000)).toBe('PASS');
  }, 240_000); // ten whole checkpoints of a churning process: minutes on a loaded 2-core machine

  it('an image of it restores with every worker run exactly once', async () => {
    const c = await startCase('threadchurn');
    // checkpointed with --kill (until one completes: a checkpoint that gives up leaves it running)
    const img = path.join(c.dir, 'img.ucr');
    let killed = false;
    for (let i = 0; i < 10 && !killed; i++) {
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      if (r.code === 0) killed = true;
      else expect(r.stderr).toMatch(/^ucr: process \d+: .*threads kept appearing[^\n]*\n$/);
    }
    expect(killed).toBe(true);
    await waitFor(() => !exists(c.pid), 10_000, `pid ${c.pid} to be released`);
    restartDetached(img);
    for (const t of threadsOf(c.pid)) expect(t).toMatch(/ [SD] tracer 0$/); // every thread let go
    // While its workers come and go, the process is alive at every look (a worker listed in
    // /proc/PID/task that ends before its stat is read is not the death of the process).
    for (let i = 0; i < 2000; i++) if (!alive(c.pid)) expect.fail(`look ${i}: the restored process ${c.pid} seen dead while it runs`);
    expect(await verdict(c, 'SIGTERM', 60_000)).toBe('PASS');
  });
});

describe('the harness sees a process whose threads come and go as alive', () => {
  // The restart of a churning image was skipped as a known defect ("about 1 in 4 dies at once
  // at address 0"): it was the harness. alive() read /proc/PID/task/T/stat for each listed
  // thread and took a worker that ended between the listing and the read (ENOENT, ESRCH) for
  // the death of the process, so verdict() reported "died without a verdict" for a process that
  // went on to write PASS. Pinned on a fake /proc where a listed thread's files are gone.
  it('a listed thread whose stat is gone is one thread gone, not the process', () => {
    const proc = tmpdir('fakeproc');
    const thread = (tid: number, state: string | null) => {
      fs.mkdirSync(path.join(proc, '200', 'task', String(tid)), { recursive: true });
      if (state) fs.writeFileSync(path.join(proc, '200', 'task', String(tid), 'stat'), `${tid} (a) b) ${state} 1 200 200\n`);
    };
    // node lists a directory sorted by name: 1000 (ended while looked at) before 200 (the main thread)
    thread(1000, null);
    thread(200, 'S');
    expect(alive(200, proc)).toBe(true);
    thread(200, 'Z'); // a main thread that exited (zombie leader), another thread running
    thread(2001, 'R');
    expect(alive(200, proc)).toBe(true);
    thread(2001, 'Z');
    expect(alive(200, proc)).toBe(false); // every listed thread is a zombie or gone
    expect(alive(201, proc)).toBe(false); // no such process
  });
});
