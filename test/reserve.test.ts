/**
 * A checkpoint written to a file on tmpfs has the blocks of its page records allocated ahead,
 * while the tree is captured and the metadata made (native/helper/stream/pipeline_writer.c,
 * pl_writer_reserve): the image must be the same, hold no block past its end, and a failure
 * while the reserving process runs must leave nothing behind. The tests' `reserve-wait` fault
 * point (src/fault.ts) has the first page record wait until the whole range is reserved (it is
 * otherwise stopped there, wherever it got to), so every record lands in reserved blocks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInjected, ucrWithFault } from './fault-run.js';
import { cleanup, exists, restartDetached, startCase, treeOf, UCR, ucr, verdict, waitFor } from './harness.js';
import { helperPids, lookAt } from './leftovers.js';

let shm: string;
beforeAll(() => {
  shm = fs.mkdtempSync('/dev/shm/ucr-reserve-');
});
afterAll(async () => {
  await cleanup();
  fs.rmSync(shm, { recursive: true, force: true });
});

/** Checkpoint (killing the tree) with every page record in reserved blocks; the image file's
 * blocks are its bytes, rounded up to a page, and no more. */
async function checkpointReserved(pid: number, img: string, extra: string[] = []): Promise<void> {
  const pids = treeOf(pid);
  const r = spawnSync(process.execPath, [UCR, 'checkpoint', String(pid), '-o', img, '--kill', ...extra], {
    env: { ...process.env, UCR_FAULT: 'reserve-wait' },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 60_000,
  });
  expect(r.status, r.stderr.toString()).toBe(0);
  for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
  const st = fs.statSync(img);
  expect(st.blocks * 512, `${img}: blocks past its end`).toBe(Math.ceil(st.size / 4096) * 4096);
  const v = ucr(['inspect', img, '--verify']);
  expect(v.code, v.stderr).toBe(0);
  expect(v.stdout).toMatch(/all page checksums verified/);
}

/** A case checkpointed that way (checkpointReserved), looked at (check), restarted: its verdict. */
async function roundTrip(name: string, extra: string[] = [], check: (img: string) => void = () => {}): Promise<string> {
  const c = await startCase(name);
  const img = path.join(shm, `${name}.ucr`);
  await checkpointReserved(c.pid, img, extra);
  check(img);
  restartDetached(img);
  return verdict(c);
}

describe('a checkpoint to tmpfs reserves the blocks of its pages ahead', () => {
  it('66 MiB of anonymous memory, the heap, the stack, a private file mapping: the same after the restart', async () => {
    expect(await roundTrip('memory')).toBe('PASS');
  });

  it('a tree sharing pages with its children (their staged pages first in the stream)', async () => {
    expect(await roundTrip('cow')).toBe('PASS');
  });

  it('compressed: nothing reserved (fewer bytes than the pages), the image as before', async () => {
    const smaller = (img: string) => {
      const iv = JSON.parse(ucr(['inspect', img, '--json']).stdout);
      expect(fs.statSync(img).size).toBeLessThan(iv.pageBytes / 2);
    };
    expect(await roundTrip('compressible', ['--compress'], smaller)).toBe('PASS');
  });
});

describe('a failure while the blocks are being reserved leaves nothing behind', () => {
  it('at each phase after the reservation starts: no helper or reserving process, no file, the process unharmed', async () => {
    const c = await startCase('memory');
    const maps = lookAt(c.pid)!.maps;
    const img = path.join(shm, 'failed.ucr');
    for (const p of ['files', 'objects', 'ipc', 'write-metadata', 'write-pages', `dump-pages:${c.pid}`]) {
      const r = ucrWithFault(['checkpoint', String(c.pid), '-o', img, '--kill'], p);
      expectInjected(r, p);
      // the helper and its reserving process (a fork of it) exit
      await waitFor(() => helperPids().length === 0, 20_000, `${p}: the helper to exit`);
      expect(fs.readdirSync(shm).filter((f) => f.startsWith('failed')), `${p}: files`).toEqual([]);
      const now = lookAt(c.pid)!;
      expect(now.tracer, `${p}: traced`).toBe(0);
      expect(now.maps, `${p}: memory map`).toBe(maps);
    }
    expect(await verdict(c)).toBe('PASS');
  });
});
