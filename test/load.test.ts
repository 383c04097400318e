/**
 * Load: 20 checkpoint → kill → restart cycles of one program in a row through the library (the
 * program's state carries through all of them; ucr's own process keeps no fd, child process or
 * growing memory), and 8 concurrent `ucr restart --pids auto` of one image, each copy checked on
 * its own; no helper or tracer process outlives any of it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpoint, restart } from '../src/index.js';
import { checkpointCase, cleanup, exists, killAndWait, startCase, startTime, trackPid, UCR, verdict, waitFor, type Case } from './harness.js';
import { helperPids } from './leftovers.js';

afterEach(cleanup);

const fds = () => fs.readdirSync('/proc/self/fd').length;
/** Children of this process other than the case (started by the test, killed by the cycle). */
const children = (but: number) =>
  fs
    .readdirSync('/proc/self/task')
    .flatMap((t) => fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))
    .filter((p) => Number(p) !== but)
    .sort()
    .join(',');

describe('load', () => {
  it('20 checkpoint/restart cycles of one program in a row: all pass, ucr leaks no fd, process or memory', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const fd0 = fds();
    const kids0 = children(c.pid);
    let rss0 = 0;
    for (let i = 0; i < 20; i++) {
      const before = startTime(c.pid);
      const ck = await checkpoint(c.pid, { output: img, kill: true });
      expect(ck.killed).toBe(true);
      await waitFor(() => !exists(c.pid), 10_000, `cycle ${i}: pid ${c.pid} free`);
      const r = await restart({ input: img, detach: true });
      expect(r.root, `cycle ${i}`).toBe(c.pid);
      expect(startTime(c.pid), `cycle ${i}: a new task`).not.toBe(before);
      fs.rmSync(img);
      expect(fds(), `cycle ${i}: fds of ucr`).toBe(fd0);
      expect(children(c.pid), `cycle ${i}: children of ucr`).toBe(kids0);
      expect(helperPids(), `cycle ${i}: helpers`).toEqual([]);
      if (i === 4) rss0 = process.memoryUsage().rss; // after warm-up
    }
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`load: 20 cycles, rss grew ${grown.toFixed(1)} MiB over the last 15`);
    expect(grown).toBeLessThan(64);
    expect(await verdict(c)).toBe('PASS');
  }, 240_000);

  it('8 concurrent restarts of one image at new pids (--pids auto): every copy passes on its own', async () => {
    const c: Case = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    const runs = Array.from({ length: 8 }, () => {
      const p = spawn(process.execPath, [UCR, 'restart', '-i', img, '--pids', 'auto', '--detach', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      return new Promise<{ code: number | null; out: string; err: string }>((resolve) => p.on('close', (code) => resolve({ code, out, err })));
    });
    const done = await Promise.all(runs);
    const roots = done.map((d) => {
      expect(d.code, d.err).toBe(0);
      const root = (JSON.parse(d.out) as { root: number }).root;
      trackPid(root);
      return root;
    });
    expect(new Set(roots).size).toBe(8);
    expect(roots).not.toContain(c.pid);
    expect(helperPids()).toEqual([]);
    // the copies share the verdict file: one at a time
    for (const root of roots) {
      fs.rmSync(c.out, { force: true });
      expect(await verdict({ ...c, pid: root }), `copy at ${root}`).toBe('PASS');
      await waitFor(() => !exists(root), 10_000, `copy ${root} to exit`);
    }
  }, 240_000);
});
