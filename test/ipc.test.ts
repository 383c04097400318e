import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, killAndWait, startCase, ucr, verdict, type Case } from './harness.js';

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
