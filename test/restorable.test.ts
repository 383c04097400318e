import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode } from '../src/image/cbor.js';
import { digestAdd } from '../src/native/addon.js';
import { cleanup, exists, killAndWait, track, trackPid, restartDetached, startCase, treeRoundTrip, UCR, ucr, verdict, waitFor, waitRestored } from './harness.js';
import { frames, KIND, recordPayload, withRecord } from './image-edit.js';

afterEach(cleanup);

describe('content objects of any size', () => {
  it('unlinked files of 0, 10, 1234 and 4097 bytes and memfds of 0, 10 and 4097 bytes come back with exactly their size and contents', async () => {
    const { verdict: v } = await treeRoundTrip('odd_objects');
    expect(v).toBe('PASS');
  });
});

describe('removed directories', () => {
  it('a removed working directory (of two tasks) and a removed directory held open come back removed, at their paths, shared as they were', async () => {
    const { verdict: v, pids } = await treeRoundTrip('deleted_cwd');
    expect(pids).toHaveLength(2);
    expect(v).toBe('PASS');
  });

  it('a working directory that nothing can make again (the /proc directory of a child that exited) is refused at checkpoint with one line, no file, the process runs on', async () => {
    const c = await startCase('deadproccwd');
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^ucr: process ${c.pid}: its working directory /proc/\\d+ \\(deleted\\) no longer exists and cannot be made again: not supported$`));
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c)).toBe('PASS');
  });
});

/** pid runs: alive, not stopped, traced by nobody. */
function runsFreely(pid: number): boolean {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return /State:\s+[RS]/.test(status) && /TracerPid:\s+0\n/.test(status);
}

describe('the checkpoint runs restart\'s own checks on what it writes', () => {
  it('a process with 65 supplementary groups is either restarted exactly or refused at checkpoint with one line, no file, the tree running as it was', async () => {
    const groups = Array.from({ length: 65 }, (_, i) => 1000 + i);
    const c = await startCase('creds', { asNobody: [], groups });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    if (r.code === 0) {
      await killAndWait(c.pid);
      restartDetached(img);
    } else {
      expect(r.stderr).toMatch(/^ucr: process \d+: the image would not restart \(.*groups.*\): no image was completed\n$/);
      expect(fs.readdirSync(c.dir).filter((f) => f.startsWith('image.ucr'))).toEqual([]);
      expect(runsFreely(c.pid)).toBe(true);
    }
    expect(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(new RegExp(`Groups:\\s+${groups.join(' ')}\\s*\\n`));
    expect(await verdict(c)).toBe('PASS');
  });
});

/** The image with its trailer made to match its records again (digest chain of the frames'
 * checksums, record count, page bytes), so only the checks beyond checksums can refuse it. */
function resealed(b: Buffer): Buffer {
  const f = frames(b);
  let digest = 0;
  for (const r of f.slice(0, -1)) digest = digestAdd(digest, b.readUInt32LE(r.at + 4));
  const last = f[f.length - 1]!;
  const old = decode(b.subarray(last.at + 16, last.at + 16 + last.len)) as Record<string, number>;
  const payload = Buffer.from(encode({ records: f.length - 1, pageBytes: old.pageBytes!, digest }));
  return withRecord(b, KIND.TRAILER, payload);
}

/** The image with the page header of its first PAGES record changed, its checksum fixed. */
function pageHeaderEdited(b: Buffer, edit: (h: Buffer) => void, kind = KIND.PAGES): Buffer {
  const p = Buffer.from(recordPayload(b, KIND.PAGES));
  edit(p);
  const out = withRecord(b, KIND.PAGES, p);
  if (kind !== KIND.PAGES) out.writeUInt32LE(kind, frames(out).find((x) => x.kind === KIND.PAGES)!.at);
  return resealed(out);
}

describe('inspect --verify checks exactly what restart checks; nothing may follow the trailer', () => {
  it('page records with valid checksums that do not match the metadata, and junk after the trailer, are refused by inspect, inspect --verify and restart alike, with the same reason', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'good.ucr');
    expect(ucr(['checkpoint', String(c.pid), '-o', img, '--kill']).code).toBe(0);
    await killAndWait(c.pid);
    const good = fs.readFileSync(img);
    expect(ucr(['inspect', img, '--verify']).code).toBe(0);
    expect(ucr(['inspect', variant(c.dir, 'resealed', resealed(good)), '--verify']).code).toBe(0);
    const bad: [string, Buffer, RegExp][] = [
      ['address', pageHeaderEdited(good, (h) => h.writeBigUInt64LE(h.readBigUInt64LE(8) + 4096n, 8)), /page record at 0x[0-9a-f]+: corrupt image: it does not match the page runs in the metadata/],
      ['task', pageHeaderEdited(good, (h) => h.writeUInt32LE(7, 0)), /page record at 0x[0-9a-f]+: corrupt image: it does not match the page runs in the metadata/],
      ['kind', pageHeaderEdited(good, () => {}, 18), /page record at 0x[0-9a-f]+: corrupt image: it does not match the page runs in the metadata/],
      ['junk', Buffer.concat([good, Buffer.from('junk')]), /corrupt image: data after the trailer/],
    ];
    for (const [name, bytes, reason] of bad) {
      const file = variant(c.dir, name, bytes);
      const verify = ucr(['inspect', file, '--verify']);
      expect(verify.code, `${name}: inspect --verify`).toBe(1);
      expect(verify.stderr, name).toMatch(new RegExp(`^ucr: [^\\n]*${reason.source}[^\\n]*\\n$`));
      const r = ucr(['restart', '-i', file, '--detach']);
      expect(r.code, `${name}: restart`).toBe(1);
      expect(r.stderr, name).toMatch(new RegExp(`^ucr: [^\\n]*${reason.source}[^\\n]*\\n$`));
      expect(exists(c.pid), name).toBe(false);
    }
    // without --verify too, from a file and from a stream
    const junk = path.join(c.dir, 'junk');
    expect(ucr(['inspect', junk]).stderr).toMatch(/^ucr: [^\n]*: corrupt image: data after the trailer\n$/);
    expect(ucr(['inspect', '-'], { input: fs.readFileSync(junk) }).stderr).toMatch(/^ucr: stdin: corrupt image: data after the trailer\n$/);
    expect(ucr(['inspect', '-', '--verify'], { input: fs.readFileSync(junk) }).stderr).toMatch(/^ucr: stdin: corrupt image: data after the trailer\n$/);
    expect(ucr(['inspect', '-', '--verify'], { input: good }).code).toBe(0);
  });
});

function variant(dir: string, name: string, bytes: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes, { mode: 0o600 });
  return p;
}

const UCR_CMD = `${process.execPath} ${UCR}`;

/** Runs a shell pipeline whose first command is `ucr checkpoint`: its exit status and stderr
 * (written to files by the pipeline itself), and whatever else the pipeline prints. Not
 * synchronously: this process must go on reaping the cases it started (the killed tree). */
async function pipeline(dir: string, cmd: string): Promise<{ code: number; stderr: string; out: string }> {
  const p = track(spawn('bash', ['-c', `${cmd}; echo \${PIPESTATUS[0]} > ${dir}/ckpt.code`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  await new Promise((resolve) => p.on('close', resolve));
  return { code: Number(fs.readFileSync(path.join(dir, 'ckpt.code'), 'utf8')), stderr: fs.readFileSync(path.join(dir, 'ckpt.err'), 'utf8'), out };
}

/** A reader of an image stream that reads it record by record and exits in the middle of the
 * trailer (the last record), as a consumer that dies or is cut off would. */
const CUT_IN_TRAILER = `node -e '
const fs = require("fs");
const read = (n) => { const b = Buffer.alloc(n); let o = 0; while (o < n) { let k; try { k = fs.readSync(0, b, o, n - o, null); } catch (e) { if (e.code === "EAGAIN") continue; throw e; } if (!k) process.exit(3); o += k; } return b; };
read(16);
for (;;) { const f = read(16); const len = Number(f.readBigUInt64LE(8)); if (f.readUInt32LE(0) === 255) { read(len >> 1); process.exit(0); } for (let left = len; left > 0; left -= Math.min(left, 1 << 20)) read(Math.min(left, 1 << 20)); }
'`;

describe('checkpoint --kill into a pipe kills the tree only once the reader has the last byte', () => {
  it('a reader that stops inside the trailer: the checkpoint fails with one line and the tree runs on, untouched', async () => {
    const c = await startCase('counter');
    const r = await pipeline(c.dir, `${UCR_CMD} checkpoint ${c.pid} --kill -o - 2>ckpt.err | ${CUT_IN_TRAILER}`);
    expect(r.code, r.out).not.toBe(0);
    expect(r.stderr).toMatch(/^ucr: process \d+: drain: the reader of the image went away before reading its last \d+ bytes: broken pipe \(EPIPE\)\n$/);
    expect(runsFreely(c.pid)).toBe(true);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a reader that reads it all: killed, and the image restarts', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'copy.ucr');
    const r = await pipeline(c.dir, `${UCR_CMD} checkpoint ${c.pid} --kill -o - 2>ckpt.err | cat > ${img}`);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(() => !exists(c.pid), 10_000, 'the tree to be killed');
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('checkpoint --kill-after-ack: the tree is killed once the restart acknowledges the image', () => {
  it('checkpoint | restart with the acknowledgement through a named FIFO: the tree moves to the restart', async () => {
    const c = await startCase('counter');
    spawnSync('mkfifo', [path.join(c.dir, 'ack')]);
    const r = await pipeline(c.dir, `${UCR_CMD} checkpoint ${c.pid} --kill-after-ack --ack-fd 3 -o - 3<ack 2>ckpt.err | ${UCR_CMD} restart -i - --detach --ack-fd 4 4>ack`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toBe('');
    await waitRestored(c.pid, 'counter');
    expect(await verdict(c)).toBe('PASS');
  });

  it('the same where the restart does not wait for the pids (--pids auto): acknowledged once the pages are in and the trailer verified', async () => {
    const c = await startCase('counter');
    spawnSync('mkfifo', [path.join(c.dir, 'ack')]);
    const r = await pipeline(c.dir, `${UCR_CMD} checkpoint ${c.pid} --kill-after-ack --ack-fd 3 -o - 3<ack 2>ckpt.err | ${UCR_CMD} restart -i - --pids auto --detach --json --ack-fd 4 4>ack`);
    expect(r.code, r.stderr).toBe(0);
    const moved = (JSON.parse(r.out) as { hostPids: Record<number, number> }).hostPids[c.pid]!;
    trackPid(moved);
    expect(moved).not.toBe(c.pid);
    await waitFor(() => !exists(c.pid), 10_000, 'the original to be killed');
    await waitRestored(moved, 'counter');
    expect(await verdict({ ...c, pid: moved })).toBe('PASS');
  });

  it('no acknowledgement (the restart side closes it, stays silent, or sends one for another image): the checkpoint fails with one line and the tree runs on', async () => {
    const c = await startCase('counter');
    spawnSync('mkfifo', [path.join(c.dir, 'ack')]);
    const ckpt = (extra = '') => `${UCR_CMD} checkpoint ${c.pid} --kill-after-ack --ack-fd 3 ${extra} -o - 3<ack 2>ckpt.err`;
    const closed = await pipeline(c.dir, `${ckpt()} | { exec 4>ack; exec 4>&-; cat > /dev/null; }`);
    expect(closed.code).not.toBe(0);
    expect(closed.stderr).toMatch(/^ucr: process \d+: ack: the restart side closed the acknowledgement channel without acknowledging the image: broken pipe \(EPIPE\)\n$/);
    expect(runsFreely(c.pid)).toBe(true);
    const silent = await pipeline(c.dir, `${ckpt('--ack-timeout 300')} | { exec 4>ack; cat > /dev/null; }`);
    expect(silent.code).not.toBe(0);
    expect(silent.stderr).toMatch(/^ucr: process \d+: ack: no acknowledgement from the restart within 300 ms: connection timed out \(ETIMEDOUT\)\n$/);
    expect(runsFreely(c.pid)).toBe(true);
    const wrong = await pipeline(c.dir, `${ckpt()} | { exec 4>ack; printf 'UCR-ACK\\n\\0\\0\\0\\0\\0\\0\\0\\0' >&4; cat > /dev/null; }`);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/^ucr: process \d+: ack: the acknowledgement is not for this image: protocol error \(EPROTO\)\n$/);
    expect(runsFreely(c.pid)).toBe(true);
    const usage = ucr(['checkpoint', String(c.pid), '--kill-after-ack', '-o', path.join(c.dir, 'img')]);
    expect(usage.stderr).toMatch(/^ucr: checkpoint: --kill-after-ack: the output is not a socket, so the acknowledgement cannot come back on it: give --ack-fd\n/);
    expect(fs.readdirSync(c.dir).filter((f) => f.startsWith('img'))).toEqual([]);
    expect(runsFreely(c.pid)).toBe(true);
    expect(await verdict(c)).toBe('PASS');
  });
});
