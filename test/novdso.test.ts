import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inspect } from '../src/orchestrator/inspect.js';
import { checkpointCase, cleanup, killAndWait, restartDetached, roundTrip, startCase, ucr, verdict } from './harness.js';

afterEach(cleanup);

// native/helper/checkpoint/gadget.c (a `syscall` found outside the vdso), restore_vdso.c
describe('a process without its vdso, or with parts of the [vvar][vvar_vclock][vdso] group unmapped or moved', () => {
  it('no vdso at all (as with vdso=0): checkpoint injects through its own code; restart gives back no vdso group; system calls, signals, threads work; the image is format 1.7', async () => {
    const c = await startCase('novdso', { args: ['--mode', 'none'] });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    const r = inspect({ input: img });
    expect(r.meta.tasks[0]!.specials.filter((s) => s.name !== '[vsyscall]')).toEqual([]);
    expect(r.format).toBe('1.7'); // a 1.6 reader would put the group back
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('no vdso, SIGTRAP ignored: the injected calls go through system-call stops at the `syscall` found in its code; the process runs on after the checkpoint, SIGTRAP still ignored', async () => {
    const c = await startCase('novdso', { args: ['--mode', 'none', '--trap-ign'] });
    checkpointCase(c, path.join(c.dir, 'image.ucr'));
    expect(await verdict(c)).toBe('PASS');
  });

  it('[vvar] and [vvar_vclock] unmapped, [vdso] kept: the vdso alone comes back at its place', async () => {
    const { verdict } = await roundTrip('novdso', { args: ['--mode', 'novvar'] });
    expect(verdict).toBe('PASS');
  });

  it("the whole group moved with mremap: it comes back at its new place, the vdso's clock_gettime called there works", async () => {
    const { verdict } = await roundTrip('novdso', { args: ['--mode', 'moved'] });
    expect(verdict).toBe('PASS');
  });

  it('[vdso] alone moved and [vvar_vclock] unmapped: each part comes back where it was, the unmapped one stays away', async () => {
    const { verdict } = await roundTrip('novdso', { args: ['--mode', 'split'] });
    expect(verdict).toBe('PASS');
  });
});

describe('where the checkpoint finds a `syscall` instruction when the task has no vdso', () => {
  it('no vdso and only execute-only code: refused at checkpoint with one line; the process runs on untouched', async () => {
    const c = await startCase('novdso', { args: ['--mode', 'xonly'] });
    const r = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'image.ucr')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no syscall instruction \(0f 05\) in its \[vdso\] nor in any readable executable mapping/);
    expect(await verdict(c)).toBe('PASS');
  });

  it('no vdso, execute-only files, one anonymous read-execute page holding `0f 05`: the checkpoint injects through it; the restart gives everything back', async () => {
    const { verdict } = await roundTrip('novdso', { args: ['--mode', 'anoncode'] });
    expect(verdict).toBe('PASS');
  });
});
