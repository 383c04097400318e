/** Issue 17, fsnotify and friends: fanotify groups, inotify watches of deleted files, leases,
 * O_PATH fds (docs/kinds.md). Each case checkpoints, kills, restarts, then checks itself. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, exists, roundTrip, startCase, treeOf, trackPid, ucr, verdict } from './harness.js';
import { KIND } from './image-edit.js';
import { expectOneLine, forge, userImage } from './nobody.js';

afterEach(cleanup);

/** A refusal at checkpoint: one line naming the fd and ending with `why`, no image, the tree
 * runs on and passes. */
async function refused(name: string, args: string[], why: RegExp) {
  const c = await startCase(name, { args });
  for (const p of treeOf(c.pid).slice(1)) trackPid(p);
  const img = path.join(c.dir, 'image.ucr');
  const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(why);
  expect(fs.existsSync(img)).toBe(false);
  expect(await verdict(c)).toBe('PASS');
}

describe('fanotify', () => {
  it('groups come back with their flags, inode marks (an ignore mask, a file deleted since), a mount mark and a filesystem mark, and report only what happens after the restart', async () => {
    const { verdict } = await roundTrip('fanotify');
    expect(verdict).toBe('PASS');
  });

  it('a mark with permission events comes back (added last): the restored program denies and allows opens of the marked file', async () => {
    const { verdict } = await roundTrip('fanotify', { args: ['--perm'] });
    expect(verdict).toBe('PASS');
  });

  it('refuses at checkpoint permission events on a deleted file, in one line', async () => {
    await refused('fanotify', ['--perm-deleted'], /^ucr: process \d+ fd \d+ \(fanotify\): permission events \(mask 0x[0-9a-f]+\) on a deleted file \(.*\/del\) are not supported$/);
  });
});

describe('inotify', () => {
  it('a watch on a file deleted since (held open) comes back at its descriptor: modify, close and delete-self events, no event of the restart', async () => {
    const { verdict } = await roundTrip('inotify_deleted');
    expect(verdict).toBe('PASS');
  });

  it('refuses at checkpoint a watch on a deleted file that no fd of the tree holds (only mapped), in one line', async () => {
    await refused('inotify_deleted', ['--mapped'], /^ucr: process \d+ fd \d+ \(inotify\) watch 2: the watched file .*\/g was deleted, and no fd of the tree holds it: not supported$/);
  });
});

describe('leases', () => {
  it('read and write leases come back held by the process: a conflicting open after the restart breaks them and it gets SIGIO', async () => {
    const { verdict } = await roundTrip('lease');
    expect(verdict).toBe('PASS');
  });

  it('refuses at checkpoint a lease being broken, in one line', async () => {
    await refused('lease', ['--breaking'], /^ucr: process \d+ fd \d+ \(.*\.r\): a lease being broken \(another process waits to open the file\) is not supported$/);
  });
});

describe('O_PATH', () => {
  it('O_PATH fds of a file, a symbolic link itself, a directory and a FIFO come back as O_PATH fds of the same files; those of symbolic links removed since (one name taken by a file since) come back removed, pointing where they did, leaving nothing behind', async () => {
    const { verdict } = await roundTrip('opath');
    expect(verdict).toBe('PASS');
  });
});

describe('deleted device nodes and directories', () => {
  it('a device node deleted while held comes back deleted, of the same device, mode and owner at its name; a removed directory held open stays one (getdents: ENOENT), also one whose parent was removed too (and an unlinked file that was in it): the parent is made again for it and removed again', async () => {
    const { verdict } = await roundTrip('deleted_node');
    expect(verdict).toBe('PASS');
  });
});

describe("root restarting a user's image", () => {
  it('refuses a fanotify group (CAP_SYS_ADMIN) and a deleted device node (CAP_MKNOD) in an image a user owns, in one line, before anything is made', async () => {
    const { c, good } = await userImage('counter');
    const add = (f: Record<string, unknown>) => (r: Record<string, any>) => r.files.push({ id: r.files.length + 1000, flags: 0, pos: 0, ...f });
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['fanotify', { kind: 'fanotify', path: 'anon_inode:[fanotify]', fanotify: { init: 0, evflags: 0, marks: [] } }, /^ucr: file \d+ \(a fanotify group\): making a fanotify group needs CAP_SYS_ADMIN, beyond uid 65534 \(nobody\) that owns image .*; refused \(--trust-image to restore it anyway\)\n?$/],
      ['devnode', { kind: 'device', path: '/tmp/x', node: { rdev: 259, mode: 0o666, uid: 65534, gid: 65534 } }, /^ucr: file \d+ \(device node \/tmp\/x, deleted\): making the node again needs CAP_MKNOD, beyond uid 65534 \(nobody\) that owns image .*; refused \(--trust-image to restore it anyway\)\n?$/],
    ];
    for (const [name, f, re] of cases) {
      expectOneLine(ucr(['restart', '-i', forge(c, good, `${name}.ucr`, KIND.FILES, add(f)), '--detach']), re);
      expect(exists(c.pid), name).toBe(false);
    }
  });
});
