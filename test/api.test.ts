import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AbortedError,
  checkpoint,
  CHECKPOINT_PHASES,
  ImageError,
  inspect,
  PidInUseError,
  restart,
  RESTART_PHASES,
  UcrEmitter,
  UcrError,
  type PhaseRecord,
  type PhaseStart,
  type ProgressEvent,
} from '../src/index.js';
import { fromHelper } from '../src/orchestrator/errors.js';
import { leanHeap } from '../src/heap.js';
import { HelperError } from '../src/kernel/helper.js';
import { ActionError, PermissionError, RestoreError } from '../src/errors.js';
import { cleanup, exists, killAndWait, ROOT, startCase, tmpdir, trackPid, verdict, waitFor } from './harness.js';

afterEach(cleanup);

const untraced = (pid: number) => /TracerPid:\s+0\n/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));

/** Every event of an emitter, in order. */
function record(events: UcrEmitter) {
  const log: ({ type: 'start'; e: PhaseStart } | { type: 'end'; e: PhaseRecord } | { type: 'progress'; e: ProgressEvent })[] = [];
  events.on('phase-start', (e) => log.push({ type: 'start', e }));
  events.on('phase-end', (e) => log.push({ type: 'end', e }));
  events.on('progress', (e) => log.push({ type: 'progress', e }));
  return log;
}

/** Every phase start has its end later, with the same phase and pid, and nothing ends twice. */
function checkPairs(log: ReturnType<typeof record>): void {
  const open = new Map<string, number>();
  for (const x of log) {
    if (x.type === 'progress') continue;
    const k = `${x.e.phase}/${x.e.pid ?? ''}/${x.e.detail ?? ''}`;
    if (x.type === 'start') open.set(k, (open.get(k) ?? 0) + 1);
    else {
      expect(open.get(k), `end of ${k} without a start`).toBeGreaterThan(0);
      open.set(k, open.get(k)! - 1);
      expect(x.e.endMs).toBeGreaterThanOrEqual(x.e.startMs);
    }
  }
  for (const [k, n] of open) expect(n, `${k} never ended`).toBe(0);
}

describe('the package', () => {
  it("imports as 'ucr' (exports, ESM) with every documented name", () => {
    const code = `import('ucr').then((m) => console.log(Object.keys(m).sort().join(' ')))`;
    const r = spawnSync(process.execPath, ['-e', code], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const names = r.stdout.trim().split(' ');
    for (const n of ['checkpoint', 'restart', 'inspect', 'UcrEmitter', 'UcrError', 'ImageError', 'PidInUseError', 'PermissionError', 'UnsupportedError', 'AbortedError', 'ActionError', 'toChromeTrace', 'RESTARTED_EXIT_STATUS'])
      expect(names).toContain(n);
  });

  it('publishes declarations that type-check a user program (tsc, strict)', () => {
    expect(fs.existsSync(path.join(ROOT, 'dist', 'index.d.ts'))).toBe(true);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'test', 'types', 'tsconfig.json')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('library: checkpoint and restart with events', () => {
  it('events come in order: phases paired, per-task phases name the task, progress up to the total', async () => {
    const c = await startCase('memory');
    const dir = tmpdir('api');
    const img = path.join(dir, 'img.ucr');
    const events = new UcrEmitter();
    const log = record(events);
    const r = await checkpoint(c.pid, { output: img, kill: true, events });
    expect(r.pid).toBe(c.pid);
    expect(r.killed).toBe(true);
    expect(r.pids).toEqual([c.pid]);
    checkPairs(log);
    const ends = log.filter((x) => x.type === 'end').map((x) => x.e as PhaseRecord);
    expect(r.phases).toEqual(ends);
    // the phases ran in the documented order
    const order = [...new Set(ends.map((p) => p.phase))];
    expect(order).toEqual(['freeze', 'capture', 'files', 'objects', 'ipc', 'write-metadata', 'pages', 'write-pages', 'write-shm', 'check', 'kill']);
    for (const p of order) expect(CHECKPOINT_PHASES).toContain(p);
    for (const p of ends.filter((x) => ['freeze', 'capture', 'pages'].includes(x.phase))) expect(p.pid).toBe(c.pid);
    expect(r.durations.capture).toBeGreaterThan(0);
    const prog = log.filter((x) => x.type === 'progress').map((x) => x.e as ProgressEvent);
    expect(prog.length).toBeGreaterThan(2); // 0, every 16 MiB from the helper, the end
    for (let i = 1; i < prog.length; i++) expect(prog[i]!.bytesDone).toBeGreaterThanOrEqual(prog[i - 1]!.bytesDone);
    expect(prog.at(-1)).toEqual({ op: 'checkpoint', bytesDone: r.pageBytes, bytesTotal: r.pageBytes });
    expect(r.pageBytes).toBeGreaterThan(16 << 20);

    await killAndWait(c.pid);
    const ev2 = new UcrEmitter();
    const log2 = record(ev2);
    const rr = await restart({ input: img, detach: true, events: ev2 });
    trackPid(c.pid);
    expect(rr.pids).toEqual({ [c.pid]: c.pid });
    expect(rr.root).toBe(c.pid);
    expect(rr.pageBytes).toBe(r.pageBytes);
    checkPairs(log2);
    const order2 = [...new Set(log2.filter((x) => x.type === 'start').map((x) => x.e.phase))];
    expect(order2).toEqual(['read-metadata', 'check', 'plan', 'create', 'memory', 'map', 'verify', 'resume', 'finish']);
    for (const p of order2) expect(RESTART_PHASES).toContain(p);
    const prog2 = log2.filter((x) => x.type === 'progress').map((x) => x.e as ProgressEvent);
    expect(prog2.at(-1)).toEqual({ op: 'restart', bytesDone: r.pageBytes, bytesTotal: r.pageBytes });
    expect(await verdict(c)).toBe('PASS');
  });

  it('leanHeap: a checkpoint and a restart with a lean V8 heap round-trip (flags set while they run, then put back)', async () => {
    const c = await startCase('memory');
    const img = path.join(tmpdir('api-lean'), 'img.ucr');
    const r = await checkpoint(c.pid, { output: img, kill: true, leanHeap: true });
    expect(r.killed).toBe(true);
    await killAndWait(c.pid);
    // two lean calls at once, ended in either order
    const endOther = leanHeap(true);
    const rr = await restart({ input: img, detach: true, leanHeap: true });
    endOther();
    endOther(); // a second end is nothing
    trackPid(c.pid);
    expect(rr.root).toBe(c.pid);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a checkpoint onto an existing image replaces it, keeps no reference to the old file afterwards, and the new image restores', async () => {
    const c = await startCase('memory');
    const dir = tmpdir('api-replace');
    const img = path.join(dir, 'img.ucr');
    fs.writeFileSync(img, Buffer.alloc(4 << 20, 1), { mode: 0o600 });
    const oldIno = fs.statSync(img).ino;
    // the old file, held by this process (the checkpoint holds it until the tree runs again)
    const heldOld = () =>
      fs.readdirSync('/proc/self/fd').some((fd) => {
        try {
          return fs.statSync(`/proc/self/fd/${fd}`).ino === oldIno && fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(img);
        } catch {
          return false;
        }
      });
    const first = await checkpoint(c.pid, { output: img });
    expect(first.replaced).toBe(true);
    expect(fs.statSync(img).ino).not.toBe(oldIno);
    await waitFor(() => !heldOld(), 10_000, 'the replaced file to be let go');
    const second = await checkpoint(c.pid, { output: img, kill: true });
    expect(second.replaced).toBe(true);
    await killAndWait(c.pid);
    const rr = await restart({ input: img, detach: true });
    trackPid(c.pid);
    expect(rr.root).toBe(c.pid);
    expect(await verdict(c)).toBe('PASS');
  });

  it('errors are typed: no such process, a bad image, a pid in use', async () => {
    const e1 = await checkpoint(999999, { output: '/tmp/never.ucr' }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(UcrError);
    expect(e1).toMatchObject({ code: 'ESRCH', pid: 999999, message: 'process 999999 does not exist' });

    const dir = tmpdir('api');
    const junk = path.join(dir, 'junk.ucr');
    fs.writeFileSync(junk, 'not an image at all, not at all');
    const e2 = await restart({ input: junk }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ImageError);
    expect((e2 as ImageError).code).toBe('EIMAGE');

    const c = await startCase('counter');
    const img = path.join(dir, 'img.ucr');
    await checkpoint(c.pid, { output: img });
    const e3 = await restart({ input: img, detach: true }).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(PidInUseError);
    expect(e3).toMatchObject({ code: 'EPIDINUSE', pid: c.pid, phase: 'check' });
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('action hooks as functions', () => {
  it('see every action in order; one that throws abandons the checkpoint (ActionError), the tree runs on', async () => {
    const c = await startCase('counter');
    const dir = tmpdir('api');
    const img = path.join(dir, 'img.ucr');
    const seen: string[] = [];
    const r = await checkpoint(c.pid, { output: img, actionScript: (ctx) => void seen.push(`${ctx.action} ${ctx.pid} ${ctx.pids.join(',')} ${ctx.image}`) });
    expect(seen).toEqual([`pre-dump ${c.pid} ${c.pid} ${img}`, `post-dump ${c.pid} ${c.pid} ${img}`]);
    expect(r.phases.filter((p) => p.phase === 'action').map((p) => p.detail)).toEqual(['pre-dump', 'post-dump']);
    const img2 = path.join(dir, 'img2.ucr');
    const e = await checkpoint(c.pid, {
      output: img2,
      kill: true,
      actionScript: async (ctx) => {
        if (ctx.action === 'post-dump') throw new Error('no space left for the copy');
      },
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ActionError);
    expect(e).toMatchObject({ code: 'EACTION', phase: 'post-dump', message: 'action post-dump failed: no space left for the copy' });
    expect(fs.existsSync(img2)).toBe(false);
    expect(untraced(c.pid)).toBe(true);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('errors from the helper', () => {
  it('carry the phase, object, errno and the failing system call', () => {
    const e = fromHelper(new HelperError({ phase: 'finish', object: 'credentials', syscall: 'capset', errno: 1, msg: 'capset failed in the task' }), 'restart', 42);
    expect(e).toBeInstanceOf(RestoreError);
    expect(e).toMatchObject({ code: 'ERESTORE', pid: 42, phase: 'finish', object: 'credentials', errno: 1, syscall: 'capset' });
    expect((e as Error).message).toBe('process 42: finish: credentials: capset failed in the task: operation not permitted (EPERM)');
    const p = fromHelper(new HelperError({ phase: 'freeze', object: 'task', syscall: 'PTRACE_SEIZE', errno: 1, msg: 'cannot seize thread 43' }), 'checkpoint', 43);
    expect(p).toBeInstanceOf(PermissionError);
    expect(p).toMatchObject({ code: 'EPERM', pid: 43, phase: 'freeze', errno: 1 });
    const x = fromHelper(new HelperError({ phase: 'state', object: 'xstate', syscall: 'PTRACE_GETREGSET', errno: 5, msg: 'PTRACE_GETREGSET NT_X86_XSTATE failed' }), 'checkpoint', 44);
    expect(x).toMatchObject({ code: 'ECHECKPOINT', syscall: 'PTRACE_GETREGSET', errno: 5 });
    expect((x as Error).message).toBe('process 44: state: xstate: PTRACE_GETREGSET NT_X86_XSTATE failed: i/o error (EIO)');
    // numbers by name at the boundary: errno and signals
    const s = fromHelper(new HelperError({ phase: 'finish', object: 'rt_sigaction', syscall: 'rt_sigaction', errno: 22, msg: 'cannot stage signal 10' }), 'restart', 45);
    expect((s as Error).message).toBe('process 45: finish: rt_sigaction: cannot stage SIGUSR1: invalid argument (EINVAL)');
    const u = fromHelper(new HelperError({ phase: 'create', object: 'tree', syscall: '', errno: 9999, msg: 'a task did not answer' }), 'restart', 46);
    expect((u as Error).message).toBe('process 46: create: tree: a task did not answer: errno 9999');
  });
});

describe('AbortSignal', () => {
  it('an aborted checkpoint leaves the tree running untraced, and no image', async () => {
    const c = await startCase('counter');
    const dir = tmpdir('api');
    const img = path.join(dir, 'img.ucr');
    const ac = new AbortController();
    const events = new UcrEmitter();
    events.on('phase-start', (p) => p.phase === 'capture' && ac.abort());
    const e = await checkpoint(c.pid, { output: img, kill: true, events, signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortedError);
    expect(e).toMatchObject({ code: 'ABORT_ERR', pid: c.pid });
    expect(fs.readdirSync(dir)).toEqual([]);
    await waitFor(() => untraced(c.pid), 5000, 'the task to be released');
    expect(await verdict(c)).toBe('PASS');
  });

  it('an aborted restart leaves no process', async () => {
    const c = await startCase('counter');
    const img = path.join(tmpdir('api'), 'img.ucr');
    await checkpoint(c.pid, { output: img, kill: true });
    await killAndWait(c.pid);
    const ac = new AbortController();
    const events = new UcrEmitter();
    events.on('phase-end', (p) => p.phase === 'create' && ac.abort());
    const e = await restart({ input: img, detach: true, events, signal: ac.signal }).catch((x: unknown) => x);
    trackPid(c.pid);
    expect(e).toBeInstanceOf(AbortedError);
    await waitFor(() => !exists(c.pid), 10_000, 'no process left');
    // and a restart aborted before it starts does nothing at all
    const e2 = await restart({ input: img, signal: AbortSignal.abort() }).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(AbortedError);
    expect(inspect({ input: img }).meta.tree.tasks[0]!.pid).toBe(c.pid);
  });
});
