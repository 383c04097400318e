import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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

  it('refuses a context with completed events not yet reaped, with one line naming the mapping, and leaves the process running', async () => {
    const c = await startCase('aio', { args: ['--refuse', 'unreaped'] });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^ucr: process \d+ mapping [0-9a-f]+-[0-9a-f]+ \/\[aio\] \(deleted\): an AIO context with 1 completed events not yet reaped \(io_getevents\) is not supported: checkpoint again once they are$/);
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c)).toBe('PASS');
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
