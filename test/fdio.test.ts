/**
 * The image writer's exact writes (src/image/fdio.ts) into an output that takes less than it is
 * given: a non-blocking pipe whose reader is slow (each record's frame and payload go out in
 * one writev, which such a pipe cuts anywhere, or refuses with EAGAIN while it is full).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writevAll } from '../src/image/fdio.js';
import { tmpdir } from './harness.js';

async function waitFor<T>(f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the reader never opened the FIFO');
}

const dir = tmpdir('fdio');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('writevAll', () => {
  it('every byte of every buffer, in order, through a full non-blocking pipe read slowly', async () => {
    const fifo = path.join(dir, 'fifo');
    const out = path.join(dir, 'out');
    const mk = spawn('mkfifo', [fifo]);
    await new Promise((r) => mk.on('exit', r));
    // the reader holds the FIFO open from the start and begins to read after a pause: the pipe
    // (64 KiB) fills, writev takes part of a buffer, then EAGAIN until it drains
    const reader = spawn('sh', ['-c', `exec 3<"${fifo}"; sleep 0.3; cat <&3 > "${out}"`]);
    const done = new Promise((r) => reader.on('exit', r));
    // (ENXIO until the reader has it open)
    const fd = await waitFor(() => {
      try {
        return fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      } catch {
        return undefined;
      }
    });
    const bufs = [crypto.randomBytes(16), crypto.randomBytes(100_003), crypto.randomBytes(16), crypto.randomBytes(300_000), Buffer.alloc(0), crypto.randomBytes(7)];
    for (let i = 0; i < bufs.length; i += 2) writevAll(fd, bufs.slice(i, i + 2));
    fs.closeSync(fd);
    await done;
    expect(fs.readFileSync(out).equals(Buffer.concat(bufs))).toBe(true);
  });
});
