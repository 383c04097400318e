import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Where } from '../src/image/check.js';
import { checkVmas } from '../src/image/validate-vmas.js';
import { checkpointCase, cleanup, killAndWait, restartDetached, startCase, startTime, ucr, verdict } from './harness.js';

afterEach(cleanup);

describe('AIO rings (issue 17)', () => {
  it('two io_setup contexts (rings of 1 and 4 pages, one used before) come back at their addresses with their sizes; io_submit and io_getevents work through both after the restart', async () => {
    const c = await startCase('aio');
    const img = path.join(c.dir, 'image.ucr');
    const before = startTime(c.pid);
    checkpointCase(c, img, ['--kill']);
    expect(ucr(['inspect', img, '--all']).stdout).toMatch(/aio/);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(startTime(c.pid)).not.toBe(before);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a ring wrapped past its end with 60 events not yet reaped, and one whose head and tail are 5, come back as they were: nr, head, tail, the events in the ring and through io_getevents, further writes at the tail and never over an unreaped event (format 1.7; a 1.6 reader refuses it)', async () => {
    const c = await startCase('aio_unreaped');
    const img = path.join(c.dir, 'image.ucr');
    const before = startTime(c.pid);
    checkpointCase(c, img, ['--kill']);
    const shown = ucr(['inspect', img, '--all']).stdout;
    expect(shown).toMatch(/ucr format 1\.7,/);
    expect(shown).toMatch(/aio .* head \d+ tail 40, 60 events not yet reaped/);
    expect(shown).toMatch(/aio .* head 5 tail 5, 0 events not yet reaped/);
    await killAndWait(c.pid);
    const old = fs.readFileSync(img);
    old.writeUInt32LE(6, 12); // the prelude's minor
    const oldImg = path.join(c.dir, 'old.ucr');
    fs.writeFileSync(oldImg, old);
    const r = ucr(['restart', '-i', oldImg, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/an AIO ring's head and tail in a format 1\.6 image/);
    expect(fs.existsSync(`/proc/${c.pid}`)).toBe(false);
    restartDetached(img);
    expect(startTime(c.pid)).not.toBe(before);
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses a ring whose tail the program wrote at or past its nr, with one line naming the mapping, and leaves the process running', async () => {
    const c = await startCase('aio_unreaped', { args: ['--refuse', 'tail'] });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^ucr: process \d+ mapping [0-9a-f]+-[0-9a-f]+ \/\[aio\] \(deleted\): an AIO ring whose head 235 or tail 295 is not below its 255 events \(written by the program\) is not supported$/);
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c)).toBe('PASS');
  });

  it('checks an AIO ring\'s head, tail and events against its size, naming the field', () => {
    const w = new Where('TASK 1');
    const ring = (aio: unknown, kind = 'aio') => [{ start: 0x10000, end: 0x12000, prot: 3, shared: true, kind, pgoff: 0, madv: 0, fill: false, aio }];
    const nr = (0x2000 - 32) / 32;
    const ev = (n: number) => new Uint8Array(n * 32);
    expect(checkVmas(ring({ head: nr - 2, tail: 3, events: ev(5) }) as never, w)[0]!.aio).toEqual({ head: nr - 2, tail: 3, events: ev(5) });
    expect(checkVmas(ring({ head: 7, tail: 7, events: ev(0) }) as never, w)[0]!.aio).toEqual({ head: 7, tail: 7, events: ev(0) });
    const bad: [unknown, string, RegExp][] = [
      [{ head: nr, tail: 0, events: ev(1) }, 'aio', /vmas\[0\]\.aio\.head/],
      [{ head: 0, tail: nr + 5, events: ev(0) }, 'aio', /vmas\[0\]\.aio\.tail/],
      [{ head: 1, tail: 3, events: ev(3) }, 'aio', /vmas\[0\]\.aio\.events: corrupt image: 96 bytes, expected 64\.\.64/],
      [{ head: 3, tail: 1, events: ev(2) }, 'aio', /vmas\[0\]\.aio\.events/],
      [{ head: 1, tail: 1 }, 'aio', /vmas\[0\]\.aio\.events/],
      [{ head: -1, tail: 1, events: ev(2) }, 'aio', /vmas\[0\]\.aio\.head/],
      [7, 'aio', /vmas\[0\]\.aio/],
      [{ head: 1, tail: 1, events: ev(0) }, 'anon', /a head and tail on a mapping that is no AIO ring/],
    ];
    for (const [aio, kind, why] of bad) expect(() => checkVmas(ring(aio, kind) as never, w.at('vmas'))).toThrow(why);
  });

  it('refuses a child forked after io_setup (it maps the rings but has no context), with one line naming its mapping', async () => {
    const c = await startCase('aio', { args: ['--refuse', 'forked'] });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^ucr: process \d+ mapping [0-9a-f]+-[0-9a-f]+ \/\[aio\] \(deleted\): an AIO ring whose context is not this process's \(inherited through fork: io_getevents gives errno 22\) is not supported yet$/);
    expect(r.stderr).not.toContain(`process ${c.pid} `);
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses an io_uring with its rings mapped, with one line naming the mapping', async () => {
    const c = await startCase('aio', { args: ['--refuse', 'uring'] });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^ucr: process \d+ mapping [0-9a-f]+-[0-9a-f]+ anon_inode:\[io_uring\]: io_uring rings are not supported$/);
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c)).toBe('PASS');
  });
});
