import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode } from '../src/image/cbor.js';
import { digestAdd } from '../src/native/addon.js';
import { cleanup, exists, killAndWait, restartDetached, startCase, treeRoundTrip, ucr, verdict } from './harness.js';
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
      expect(r.stderr).toMatch(/^ucr: process \d+: the image would not restart \(.*groups.*\): not written\n$/);
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
