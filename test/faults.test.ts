/**
 * Faults at every named point (UCR_FAULT, src/fault.ts and native/helper/core/fault.c) and SIGKILL of
 * ucr itself at chosen points:
 *  - checkpoint never harms the tree: it runs on as before, untraced, not stopped, with the very
 *    same memory map (no injected gadget left), and no image or partial file appears;
 *  - restart is all or nothing: no task, zombie, stopped task, helper, System V object or file
 *    is left (a SIGKILLed restart: once init has reaped the orphans, bounded).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInjected, ucrWithFault } from './fault-run.js';
import { checkpoint, UcrEmitter, UcrError } from '../src/index.js';
import { frames, KIND } from './image-edit.js';
import { checkpointKill, cleanup, exists, manyThreadsRound, restartDetached, startCase, treeOf, UCR, ucr, verdict, waitFor, type Case } from './harness.js';
import { filesIn, helperPids, lookAt, threadsOf, type TaskLook } from './leftovers.js';

afterAll(cleanup);

describe('checkpoint never harms the tree', () => {
  let c: Case;
  let pids: number[];
  let before: TaskLook[];
  let files: string[];
  beforeAll(async () => {
    c = await startCase('tree');
    pids = treeOf(c.pid);
    expect(pids).toHaveLength(5);
    before = pids.map((p) => lookAt(p)!);
    files = filesIn(c.dir);
  });

  async function expectUnharmed(what: string): Promise<void> {
    // a killed ucr's helper finishes its command, puts the tasks back and detaches, then exits
    await waitFor(() => helperPids().length === 0, 20_000, `${what}: the helper to exit`);
    for (const b of before) {
      const now = lookAt(b.pid);
      expect(now, `${what}: pid ${b.pid}`).toBeDefined();
      expect(now!.tracer, `${what}: pid ${b.pid} traced`).toBe(0);
      expect(now!.state.replace('R', 'S'), `${what}: pid ${b.pid} state`).toBe(b.state.replace('R', 'S'));
      expect(now!.maps, `${what}: pid ${b.pid} memory map`).toBe(b.maps);
    }
    expect(filesIn(c.dir), `${what}: files`).toEqual(files);
  }

  it('a failure at any phase, for the root or a grandchild', async () => {
    const leaf = pids[pids.length - 1]!;
    const points = ['freeze', `freeze:${leaf}`, 'capture', `capture:${leaf}`, 'inject', `inject:${leaf}`, 'files', 'objects', 'ipc', 'write-metadata', 'write-pages', `pages:${leaf}`, `dump-pages:${leaf}`, 'write-shm', 'plan-check'];
    for (const p of points) {
      const r = ucrWithFault(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--kill'], p);
      expectInjected(r, p);
      await expectUnharmed(p);
    }
  });

  it('a chunk the image writer reads itself cannot be read: refused naming the memory, the task runs on', async () => {
    // the writer fills chunks itself whenever it would wait (always the first big one)
    const m = await startCase('memory');
    const mapsBefore = lookAt(m.pid)!.maps;
    const r = ucrWithFault(['checkpoint', String(m.pid), '-o', path.join(m.dir, 'img.ucr'), '--kill'], `order-read:${m.pid}`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ucr: .*memory at 0x[0-9a-f]+.*cannot read the task/);
    await waitFor(() => helperPids().length === 0, 20_000, 'the helper to exit');
    const now = lookAt(m.pid)!;
    expect(now.tracer).toBe(0);
    expect(now.maps).toBe(mapsBefore);
    expect(fs.existsSync(path.join(m.dir, 'img.ucr'))).toBe(false);
    expect(fs.readdirSync(m.dir).filter((f) => f.includes('partial'))).toEqual([]);
    expect(await verdict(m)).toBe('PASS');
  });

  it('ucr killed with SIGKILL at any phase, even with a gadget injected into a task', async () => {
    const leaf = pids[pids.length - 1]!;
    const points = ['freeze', `freeze:${leaf}`, `capture:${leaf}`, `inject:${leaf}`, 'inject', 'files', 'write-metadata', `pages:${leaf}`, `dump-pages:${leaf}`, 'write-shm'];
    for (const p of points) {
      const r = ucrWithFault(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--kill'], p, 'sigkill');
      expect(r.signal, `${p}: ${r.stderr}`).toBe('SIGKILL');
      await expectUnharmed(`SIGKILL at ${p}`);
    }
  });

  it("a terminal's Ctrl-C (SIGINT to ucr's whole process group, helper included) in the capture, even with a gadget injected into a task: aborted, the tree runs on", async () => {
    const leaf = pids[pids.length - 1]!;
    // the helper's points come in the middle of its command (a gadget mapped in the task, the
    // pages being read); the coordinator's at the start of its phases
    for (const p of ['freeze', `capture:${leaf}`, `inject:${leaf}`, 'inject', `dump-pages:${leaf}`]) {
      const r = ucrWithFault(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--kill'], p, 'sigint');
      expect(r.stderr, p).toBe(`ucr: checkpoint of process ${c.pid} aborted\n`);
      expect(r.code, p).toBe(130);
      await expectUnharmed(`SIGINT at ${p}`);
    }
  });

  it('disk full: refused with one line, no file left, the tree runs on', async () => {
    const mnt = fs.mkdtempSync(path.join(c.dir, 'tiny-'));
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'ucr-test-tiny', mnt]).status).toBe(0);
    try {
      const r = spawnSync(process.execPath, [UCR, 'checkpoint', String(c.pid), '-o', path.join(mnt, 'img.ucr'), '--kill'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^ucr: .*no space left on device \(ENOSPC\)/);
      expect(fs.readdirSync(mnt)).toEqual([]);
    } finally {
      spawnSync('umount', [mnt]);
      fs.rmdirSync(mnt);
    }
    await expectUnharmed('disk full');
  });

  it('output pipe closed early (checkpoint -o - | head -c 100): refused, the tree runs on', async () => {
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${UCR}" checkpoint ${c.pid} -o - --kill 2>"${c.dir}/err" | head -c 100 >/dev/null; echo \${PIPESTATUS[0]}`], { encoding: 'utf8' });
    const err = fs.readFileSync(path.join(c.dir, 'err'), 'utf8');
    fs.rmSync(path.join(c.dir, 'err'));
    expect(r.stdout.trim(), err).toBe('1');
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^ucr: .*(EPIPE|broken pipe)/i);
    await expectUnharmed('pipe closed');
  });

  it('after all that, the tree still passes its own check', async () => {
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('a failed freeze never harms a process with many threads', () => {
  let c: Case;
  let before: string[];
  let maps: string;
  beforeAll(async () => {
    c = await startCase('manythreads', { args: ['--threads', '65'] });
    before = threadsOf(c.pid);
    expect(before).toHaveLength(66);
    maps = fs.readFileSync(`/proc/${c.pid}/maps`, 'utf8');
  });

  it('a failure (or ucr killed) after some threads are seized, interrupted, stopped or saved, after a whole pass, at the threads\' state, in the gadget or the pages: every thread runs on as it was', async () => {
    // freeze-seize: half of the threads seized, none interrupted; freeze-interrupt: half
    // interrupted, none waited for; freeze-save: all stopped, half of their registers read;
    // freeze-pass: all saved; state-thread: half of the threads' state read (their masks
    // blocked, calls injected into them)
    const points = ['freeze-seize', 'freeze-interrupt', 'freeze-save', 'freeze-pass', 'state-thread', 'inject', 'dump-pages'];
    for (const p of points)
      for (const action of ['fail', 'sigkill'] as const) {
        const what = `${p} (${action})`;
        const r = ucrWithFault(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--kill'], `${p}:${c.pid}`, action);
        if (action === 'fail') expectInjected(r, what);
        else expect(r.signal, `${what}: ${r.stderr}`).toBe('SIGKILL');
        await waitFor(() => helperPids().length === 0, 20_000, `${what}: the helper to exit`);
        expect(threadsOf(c.pid), `${what}: threads`).toEqual(before);
        expect(fs.readFileSync(`/proc/${c.pid}/maps`, 'utf8'), `${what}: memory map`).toBe(maps);
        expect(fs.readdirSync(c.dir).filter((f) => f.startsWith('img')), `${what}: image`).toEqual([]);
        expect(await manyThreadsRound(c), `${what}: every thread answers`).toBe('PASS');
      }
  });

  it('a freeze that gives up (new threads kept appearing) says so in one line and lets every thread go', async () => {
    const r = ucrWithFault(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--kill'], `freeze-giveup:${c.pid}`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe(`ucr: process ${c.pid}: freeze: new threads kept appearing while it was being frozen (gave up after 64 listings): resource temporarily unavailable (EAGAIN)\n`);
    await waitFor(() => helperPids().length === 0, 20_000, 'the helper to exit');
    expect(threadsOf(c.pid)).toEqual(before);
    expect(fs.readFileSync(`/proc/${c.pid}/maps`, 'utf8')).toBe(maps);
    expect(await manyThreadsRound(c)).toBe('PASS');
  });

  it("restart: a thread's tid taken when the task makes it (the middle clone3 of the first wave of 64 asks for the main thread's) fails in one line naming the thread and leaves no task; the image then restarts with every thread", async () => {
    const img = path.join(c.dir, 'threads.ucr');
    await checkpointKill(c, img);
    const r = ucrWithFault(['restart', '-i', img, '--detach'], `thread-tid:${c.pid}`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ucr: process ${c.pid}: finish: thread (\\d+): clone3 of the thread failed \\(tid in use\\): file already exists \\(EEXIST\\)\n$`));
    expect(before.map((t) => t.split(' ')[0])).toContain(r.stderr.match(/thread (\d+)/)![1]);
    expect(exists(c.pid)).toBe(false);
    expect(helperPids()).toEqual([]);
    restartDetached(img);
    expect(threadsOf(c.pid)).toEqual(before);
    expect(await manyThreadsRound(c)).toBe('PASS');
  });

  it('after all that, every thread passes its own check', async () => {
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('a task of the tree exits while it is checkpointed', () => {
  it('the checkpoint fails naming it or completes without it, and the rest of the tree runs on untouched', async () => {
    for (const phase of ['capture', 'files', 'write-pages'] as const) {
      const c = await startCase('tree');
      const pids = treeOf(c.pid);
      const leaf = pids[pids.length - 1]!;
      const before = pids.filter((p) => p !== leaf).map((p) => lookAt(p)!);
      const events = new UcrEmitter();
      let killed = false;
      events.on('phase-start', (e) => {
        if (e.phase === phase && !killed) {
          killed = true;
          process.kill(leaf, 'SIGKILL'); // frozen (ptrace-stopped) or not, it dies now
        }
      });
      const img = path.join(c.dir, 'img.ucr');
      let failed: unknown;
      await checkpoint(c.pid, { output: img, events }).catch((e: unknown) => (failed = e));
      expect(killed, phase).toBe(true);
      if (failed) {
        expect(failed, `${phase}: ${String(failed)} ${JSON.stringify(failed)}`).toBeInstanceOf(UcrError);
        expect(fs.existsSync(img), `${phase}: no image`).toBe(false);
      }
      await waitFor(() => helperPids().length === 0, 20_000, 'the helper to exit');
      for (const b of before) {
        const now = lookAt(b.pid)!;
        expect(now, `${phase}: pid ${b.pid}`).toBeDefined();
        expect(now.tracer, `${phase}: pid ${b.pid} traced`).toBe(0);
        expect(now.state.replace('R', 'S'), `${phase}: pid ${b.pid} state`).toBe(b.state.replace('R', 'S'));
        expect(now.maps, `${phase}: pid ${b.pid} memory map`).toBe(b.maps);
      }
      expect(fs.readdirSync(c.dir).filter((f) => f.includes('partial')), phase).toEqual([]);
      console.log(`leaf killed at ${phase}: ${failed ? `refused: ${(failed as Error).message}` : 'image complete (taken before it died)'}`);
      await cleanup();
    }
  });
});

describe('restart is all or nothing', () => {
  let c: Case;
  let pids: number[];
  let img: string;
  let files: string[];
  beforeAll(async () => {
    c = await startCase('tree');
    img = path.join(c.dir, 'img.ucr');
    pids = await checkpointKill(c, img);
    files = filesIn(c.dir);
  });

  /** The restored tree killed (a test that restarted it), its helper gone too. */
  async function killTree(): Promise<void> {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await waitFor(() => pids.every((q) => !exists(q)) && helperPids().length === 0, 20_000, 'the tree to be gone');
  }

  function expectNothingLeft(what: string): void {
    for (const p of pids) expect(exists(p), `${what}: pid ${p} left`).toBe(false);
    expect(helperPids(), `${what}: helpers left`).toEqual([]);
    expect(filesIn(c.dir), `${what}: files`).toEqual(files);
  }

  it('a failure at any phase, in any task, kills everything created so far', () => {
    const [root, a, a1, b, b1] = pids as [number, number, number, number, number];
    void root;
    const points = ['read-metadata', 'check', 'plan', 'create', `clone:${a1}`, `clone:${b1}`, 'memory', `map:${b}`, `task-map:${a1}`, 'restore-pages', 'verify', 'resume', `finish:${b1}`, `task-finish:${a}`, 'detach'];
    for (const p of points) {
      const r = ucrWithFault(['restart', '-i', img, '--detach'], p);
      expectInjected(r, p);
      expectNothingLeft(p); // at once: the helper reaps every task before it exits
    }
  });

  it('ucr killed with SIGKILL at any phase leaves no process (once init has reaped)', async () => {
    const [, a, a1, b] = pids as [number, number, number, number, number];
    for (const p of ['create', `clone:${a1}`, `map:${b}`, `task-map:${a}`, 'restore-pages', `task-finish:${a1}`]) {
      const r = ucrWithFault(['restart', '-i', img, '--detach'], p, 'sigkill');
      expect(r.signal, `${p}: ${r.stderr}`).toBe('SIGKILL');
      await waitFor(() => pids.every((q) => !exists(q)) && helperPids().length === 0, 20_000, `SIGKILL at ${p}: every task gone`);
      expectNothingLeft(`SIGKILL at ${p}`);
    }
  });

  it('ucr killed while the tasks are let go: the whole tree runs, or none of it', async () => {
    const r = ucrWithFault(['restart', '-i', img, '--detach'], 'detach', 'sigkill');
    expect(r.signal).toBe('SIGKILL');
    await waitFor(() => helperPids().length === 0, 20_000, 'the helper to exit');
    // settled: every task gone (killed, then reaped by init), or every task running untraced
    const running = (q: number) => {
      const l = lookAt(q);
      return !!l && l.tracer === 0 && !/[tTZX]/.test(l.state);
    };
    await waitFor(() => pids.every((q) => !exists(q)) || pids.every(running), 20_000, 'all or nothing');
    console.log(`killed while letting go: ${exists(c.pid) ? 'the whole tree runs' : 'no task is left'}`);
    if (exists(c.pid)) {
      for (const p of pids) expect(lookAt(p)!.state, `pid ${p}`).not.toMatch(/[tTZ]/);
      expect(await verdict(c)).toBe('PASS');
      fs.rmSync(c.out); // the later tests compare the directory
      await killTree();
    }
  });

  it("a terminal's Ctrl-C (SIGINT to ucr's whole group) before the tree runs: nothing is left, status 130", () => {
    const [, a, a1, b] = pids as [number, number, number, number, number];
    for (const p of ['create', `clone:${a1}`, `task-map:${b}`, 'restore-pages', `task-finish:${a}`, 'detach']) {
      const r = ucrWithFault(['restart', '-i', img, '--detach'], p, 'sigint');
      expect(r.code, `${p}: ${r.stderr}`).toBe(130);
      expect(r.stderr, p).toMatch(/^ucr: restart aborted: no process was left\n$/);
      expectNothingLeft(`SIGINT at ${p}`); // undone by the helper's own handler, not by init
    }
  });

  it("Ctrl-C while the tasks are let go: too late to stop, the whole tree runs (--detach: success; waiting: ucr stops waiting)", async () => {
    for (const detach of [true, false]) {
      const r = ucrWithFault(['restart', '-i', img, ...(detach ? ['--detach'] : [])], 'let-go', 'sigint');
      if (detach) expect(r.code, r.stderr).toBe(0);
      else {
        expect(r.code, r.stderr).toBe(130);
        expect(r.stderr).toMatch(new RegExp(`^ucr: restart: stopped waiting for process ${c.pid} \\(interrupted by SIGINT\\): the restored tree runs on\n$`));
      }
      for (const p of pids) expect(lookAt(p)?.state, `${detach}: pid ${p}`).toMatch(/^[RSD]/);
      for (const p of pids) expect(lookAt(p)!.tracer, `${detach}: pid ${p} traced`).toBe(0);
      expect(await verdict(c)).toBe('PASS');
      fs.rmSync(c.out); // the later tests compare the directory
      await killTree();
    }
  });

  it('a bad page record late in an image streamed through stdin kills every task created so far', () => {
    const b = fs.readFileSync(img);
    const last = frames(b).filter((f) => f.kind === KIND.PAGES).pop()!;
    b[last.at + 16 + 16 + 7]! ^= 0x10;
    const r = ucr(['restart', '-i', '-', '--detach'], { input: b });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/page record at 0x[0-9a-f]+: corrupt image: checksum mismatch/);
    expectNothingLeft('streamed bad page');
  });

    it('and then the image restarts and passes', async () => {
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });
});
