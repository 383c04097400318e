import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, type CborValue } from '../src/image/cbor.js';
import { crc32c, digestAdd } from '../src/native/addon.js';
import { inspect } from '../src/orchestrator/inspect.js';
import { checkpointCase, cleanup, exists, killAndWait, startCase, ucr, verdict, type Case } from './harness.js';
import { encode as cbor } from '../src/image/cbor.js';
import { editRecord, expectEditsRefused, inspectRefuses, KIND, mutated, recordPayload, seeded, withRecord } from './image-edit.js';

/** The case's System V objects (ipcrm arguments it wrote to FILE.ipc), removed even on failure. */
const created: string[][] = [];
function ipcrm(args: string[]): void {
  for (let i = 0; i + 1 < args.length; i += 2) spawnSync('ipcrm', [args[i]!, args[i + 1]!], { stdio: 'ignore' });
}
function objectsOf(c: Case): string[] {
  return fs.readFileSync(`${c.out}.ipc`, 'utf8').trim().split(/\s+/);
}

afterEach(async () => {
  await cleanup(); // the processes first, then their objects
  for (const args of created.splice(0)) ipcrm(args);
});

function restart(img: string, ...extra: string[]): void {
  const r = ucr(['restart', '-i', img, '--detach', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.code !== 0) throw new Error(`restart of ${img} failed (${r.code}): ${r.stderr.trim()}`);
}

async function checkpointed(args: string[] = [], prefix?: string[]): Promise<{ c: Case; img: string }> {
  const c = await startCase('sysvipc', { args, prefix });
  if (!prefix) created.push(objectsOf(c)); // (objects of a namespace of its own die with it)
  const img = path.join(c.dir, 'image.ucr');
  checkpointCase(c, img, ['--kill']);
  await killAndWait(c.pid);
  return { c, img };
}

describe('System V IPC', () => {
  it('a segment shared with a child (and one marked for destruction), a semaphore set and a message queue come back at their ids and keys', async () => {
    const { c, img } = await checkpointed();
    const info = ucr(['inspect', img]);
    expect(info.stdout).toMatch(/System V/);
    ipcrm(objectsOf(c)); // the objects outlive the killed tree: free their ids and keys
    restart(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses a restart when an id or key is taken in the namespace, naming the object, and creates nothing', async () => {
    const { c, img } = await checkpointed();
    const a = objectsOf(c)[1];
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`shared memory segment ${a} .*id ${a} is taken.*ipcrm -m ${a}.*--ipcns`));
    expect(exists(c.pid)).toBe(false);
  });

  it('refuses to checkpoint a segment mapped only in part, naming the process and the mapping; the tree runs on', async () => {
    const c = await startCase('sysvipc', { args: ['--partial'] });
    created.push(objectsOf(c));
    const r = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'image.ucr'), '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`process ${c.pid} mapping 6e0000000000-6e0000001000: System V segment ${objectsOf(c)[1]} .*only partly mapped`));
    expect(fs.existsSync(path.join(c.dir, 'image.ucr'))).toBe(false);
    expect(exists(c.pid)).toBe(true);
  });

  it('--ipcns: restarts in a new IPC namespace at the same ids while the originals still exist', async () => {
    const { c, img } = await checkpointed();
    const before = fs.readlinkSync('/proc/self/ns/ipc');
    restart(img, '--ipcns');
    expect(fs.readlinkSync(`/proc/${c.pid}/ns/ipc`)).not.toBe(before);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a tree in an IPC namespace of its own: every object of it is saved, and the restart gets a new namespace', async () => {
    const { c, img } = await checkpointed([], ['unshare', '--ipc']);
    expect(ucr(['inspect', img]).stdout).toMatch(/System V IPC \(the tree's own namespace\)/);
    const before = fs.readlinkSync('/proc/self/ns/ipc');
    restart(img);
    expect(fs.readlinkSync(`/proc/${c.pid}/ns/ipc`)).not.toBe(before);
    expect(await verdict(c)).toBe('PASS');
  });

  it('--skip ipc: memory comes back as it was and still shared, but no object is recreated in the namespace', async () => {
    const { c, img } = await checkpointed(['--skip']);
    ipcrm(objectsOf(c));
    restart(img, '--skip', 'ipc');
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('System V IPC metadata', () => {
  it('is validated before anything is created: named fields, and random mutations end in a clear error', async () => {
    const { c, img } = await checkpointed();
    const good = fs.readFileSync(img);
    const out = path.join(c.dir, 'mut.ucr');
    const edit = (f: (o: Record<string, any>) => void) => {
      fs.writeFileSync(out, editRecord(good, KIND.IPC, f));
      return out;
    };
    const named: [string, (o: Record<string, any>) => void, RegExp][] = [
      ['semaphore value', (o) => (o.sem[0].values[1] = 40000), /sem\[0\]\.values\[1\].*outside/],
      ['message type', (o) => (o.msg[0].messages[0].type = 0), /messages\[0\]\.type/],
      ['destroyed with key', (o) => (o.shm[1].key = 5), /shm\[1\].*no key/],
      ['duplicate ids', (o) => (o.shm[1].id = o.shm[0].id), /duplicate segment ids/],
      ['mode', (o) => (o.sem[0].mode = 0o7777), /sem\[0\]\.mode/],
      ['segment gone', (o) => o.shm.splice(0, 1), /attaches unknown shared memory segment/],
    ];
    expectEditsRefused(named, edit);
    const rand = seeded(12345);
    // each ends in a clear error or a valid image (no threshold: see inspectRefuses)
    for (let i = 0; i < 500; i++) {
      fs.writeFileSync(out, withRecord(good, KIND.IPC, mutated(recordPayload(good, KIND.IPC), rand, 3)));
      inspectRefuses(out);
    }
  });
});

describe('format 1.0 images', () => {
  it('an image without the IPC record (format 1.0) is still read, with no System V objects', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    expect(await verdict(c)).toBe('PASS');
    const b = fs.readFileSync(img);
    const parts: Buffer[] = [b.subarray(0, 16)];
    parts[0]!.writeUInt32LE(0, 12); // minor 0
    let digest = 0;
    let records = 0;
    for (let at = 16; at < b.length; ) {
      const kind = b.readUInt32LE(at);
      const len = Number(b.readBigUInt64LE(at + 8));
      const rec = b.subarray(at, at + 16 + len);
      at += 16 + len;
      if (kind === 5) continue; // IPC
      if (kind === 255) {
        const t = decode(rec.subarray(16)) as Record<string, CborValue>;
        const payload = cbor({ ...t, records, digest });
        const frame = Buffer.alloc(16);
        frame.writeUInt32LE(255, 0);
        frame.writeUInt32LE(crc32c(payload), 4);
        frame.writeBigUInt64LE(BigInt(payload.length), 8);
        parts.push(frame, payload);
        break;
      }
      digest = digestAdd(digest, rec.readUInt32LE(4));
      records++;
      parts.push(rec);
    }
    const old = path.join(c.dir, 'v1.0.ucr');
    fs.writeFileSync(old, Buffer.concat(parts));
    const r = inspect({ input: old });
    expect(r.format).toBe('1.0');
    expect(r.meta.ipc).toEqual({ ownNamespace: false, shm: [], sem: [], msg: [] });
  });
});
