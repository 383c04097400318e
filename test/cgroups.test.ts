/**
 * cgroup membership (docs/cgroups.md): a process and its child in cgroups of their own come
 * back in them (cgroup v2, and a v1 named hierarchy the test mounts), the directories made
 * again when they were removed since, with nothing left by a failed restart; a hierarchy not
 * mounted at restart is a warning; a task in another cgroup namespace, or a thread in another
 * cgroup than its process, is refused at checkpoint. Each test makes its own cgroups and
 * removes them, even on failure.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ucrWithFault } from './fault-run.js';
import { KIND, editRecord, resealed } from './image-edit.js';
import { expectOneLine, ucrAsNobody, userImage } from './nobody.js';
import { cgroupMounts, locate } from '../src/kernel/cgroups.js';
import { checkpointKill, cleanup, exists, startCase, ucr, verdict, waitFor } from './harness.js';

const V2 = '/sys/fs/cgroup/unified';
const made: string[] = []; // cgroup directories to remove (with what is below them)
const mounts: string[] = [];
const dirs: string[] = [];

/** Removes a cgroup directory and the ones below it, deepest first (their files go with them). */
function rmCgroup(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmCgroup(path.join(dir, e.name));
  fs.rmdirSync(dir);
}

/** The tasks (thread ids: a threaded v2 cgroup cannot list processes) in a cgroup directory and
 * the ones below it. */
function pidsIn(dir: string): number[] {
  if (!fs.existsSync(dir)) return [];
  const list = ['cgroup.threads', 'tasks'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  const own = list ? fs.readFileSync(list, 'latin1').split('\n').filter(Boolean).map(Number) : [];
  const below = fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => pidsIn(path.join(dir, e.name)));
  return [...own, ...below];
}

afterEach(async () => {
  await cleanup(); // the processes first: a cgroup with a process in it is not removed
  for (const d of made.splice(0).reverse()) {
    try {
      // what is left in the test's own cgroups (a case's child outliving its killed parent)
      // is the test's: killed, and waited for
      for (const p of pidsIn(d))
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      await waitFor(() => pidsIn(d).length === 0, 5_000, `the processes in ${d} to be gone`).catch(() => {});
      rmCgroup(d);
    } catch (e) {
      console.log(`cgroups.test: cannot remove ${d}: ${(e as Error).message}`);
    }
  }
  for (const m of mounts.splice(0)) spawnSync('umount', [m]);
  for (const d of dirs.splice(0)) fs.rmdirSync(d); // the mount points, empty once unmounted
});

/** Why this machine cannot run the v2 tests, or undefined. */
function v2Missing(): string | undefined {
  try {
    if (!fs.readFileSync('/proc/self/mountinfo', 'latin1').includes(` ${V2} `)) return `no cgroup2 mount at ${V2}`;
    const probe = `${V2}/ucr-probe-${process.pid}`;
    fs.mkdirSync(probe);
    fs.rmdirSync(probe);
    return undefined;
  } catch (e) {
    return `cannot make a cgroup under ${V2}: ${(e as Error).message}`;
  }
}
const noV2 = v2Missing();
if (noV2) console.log(`cgroups.test: cgroup v2 tests skipped: ${noV2}`);


let serial = 0;
/** A fresh cgroup directory of the test's under root (removed after the test). */
function cgroupDir(root: string): string {
  const d = path.join(root, `ucr-test-${process.pid}-${serial++}`);
  fs.mkdirSync(d);
  made.push(d);
  return d;
}

/** A process in DIR/a with a thread moved alone into DIR/a/t: back in them, twice (the second
 * time with DIR/a removed: the restart makes it and DIR/a/t again). */
async function threadRoundTrip(dir: string): Promise<void> {
  const c = await startCase('cgroup', { args: ['--dir', dir, '--threaded'] });
  const img = path.join(c.dir, 'image.ucr');
  await checkpointKill(c, img);
  let r = ucr(['restart', '-i', img, '--detach']);
  expect(r.code, r.stderr).toBe(0);
  expect(await verdict(c)).toBe('PASS');
  await waitFor(() => !exists(c.pid), 10_000, 'the case to end');
  fs.rmSync(c.out);
  // a thread's set edited: refused in one line
  const good = fs.readFileSync(img);
  for (const [name, edit, re] of [
    ['tid', (t: Record<string, any>) => (t.tasks[0].threadCgroups[0][0] = 1), /TREE: process \d+: cgroups of thread 1, not one of its threads/],
    ['set', (t: Record<string, any>) => (t.tasks[0].threadCgroups[0][1] = 99), /threadCgroups: corrupt image: a thread's set is not one of the cgroups sets/],
  ] as const) {
    const p = path.join(c.dir, `${name}.ucr`);
    fs.writeFileSync(p, resealed(editRecord(good, KIND.TREE, edit)));
    const b = ucr(['restart', '-i', p, '--detach']);
    expect(b.stderr, name).toMatch(re);
    expect(b.stderr.trim().split('\n'), name).toHaveLength(1);
  }
  rmCgroup(path.join(dir, 'a'));
  r = ucr(['restart', '-i', img, '--detach']);
  expect(r.code, r.stderr).toBe(0);
  expect(await verdict(c)).toBe('PASS');
}

describe('where a cgroup is in the restarter\'s mounts', () => {
  const mounts = cgroupMounts(
    [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '35 31 0:32 /lxc/c1 /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '40 31 0:37 / /mnt/my\\040cg rw,relatime - cgroup none rw,name=foo',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
    ].join('\n'),
  );
  it('cgroup2 for v2; cgroup with the controllers or the name for v1; below the mount\'s root only; mount points unescaped', () => {
    expect(mounts.map((m) => m.point)).toEqual(['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/memory', '/mnt/my cg', '/sys/fs/cgroup/unified']);
    expect(locate(mounts, '', '/a/b')).toEqual({ mount: '/sys/fs/cgroup/unified', rel: 'a/b' });
    expect(locate(mounts, '', '/')).toEqual({ mount: '/sys/fs/cgroup/unified', rel: '' });
    expect(locate(mounts, 'cpu,cpuacct', '/x')).toEqual({ mount: '/sys/fs/cgroup/cpu,cpuacct', rel: 'x' });
    expect(locate(mounts, 'name=foo', '/y')).toEqual({ mount: '/mnt/my cg', rel: 'y' });
    expect(locate(mounts, 'memory', '/lxc/c1/z')).toEqual({ mount: '/sys/fs/cgroup/memory', rel: 'z' });
    expect(locate(mounts, 'memory', '/lxc/c1')).toEqual({ mount: '/sys/fs/cgroup/memory', rel: '' });
    expect(locate(mounts, 'memory', '/lxc/c10/z')).toBeUndefined(); // not below the mount's root
    expect(locate(mounts, 'name=bar', '/y')).toBeUndefined();
    expect(locate(mounts, 'pids', '/y')).toBeUndefined();
  });
});

describe.skipIf(!!noV2)('cgroup v2', () => {
  it('a process in DIR/a and its child in DIR/a/b come back in them', async () => {
    const dir = cgroupDir(V2);
    const c = await startCase('cgroup', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'image.ucr');
    await checkpointKill(c, img);
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'latin1')).toContain(`0::/${path.basename(dir)}/a\n`);
    expect(await verdict(c)).toBe('PASS');
    await waitFor(() => !exists(c.pid), 10_000, 'the case to end');
    // the image's cgroups are untrusted input: refused in one line, nothing made
    const good = fs.readFileSync(img);
    expect(good.readUInt32LE(12)).toBe(8); // 1.7 for the cgroups; 1.8 as the child's record takes parts from its parent's
    const shown = ucr(['inspect', '--all', img]).stdout;
    expect(shown).toMatch(new RegExp(`^cgroups:\\n  ${c.pid}: [^\\n]*:/${path.basename(dir)}/a\\n  \\d+: [^\\n]*:/${path.basename(dir)}/a/b\\n`, 'm'));
    const bad: [string, (t: Record<string, any>) => void, RegExp][] = [
      ['dotdot', (t) => (t.cgroups[0][0] = `:/${path.basename(dir)}/../../etc`), /TREE\.cgroups\[0\]\[0\]: corrupt image: the path has an empty, "\." or "\.\." component/],
      ['relative', (t) => (t.cgroups[0][0] = ':etc'), /the path is not absolute/],
      ['long', (t) => (t.cgroups[0][0] = `:/${'x/'.repeat(1100)}y`), /path longer than 2048 bytes/],
      ['key', (t) => (t.cgroups[0][0] = 'cpu;rm:/x'), /is not a list of controllers or name=X/],
      ['twice', (t) => t.cgroups[0].push(t.cgroups[0][0]), /appears twice/],
      ['index', (t) => (t.tasks[0].cgroup = 99), /TREE\.tasks\[0\]\.cgroup: corrupt image: not one of the cgroups sets/],
    ];
    for (const [name, edit, re] of bad) {
      const p = path.join(c.dir, `${name}.ucr`);
      fs.writeFileSync(p, resealed(editRecord(good, KIND.TREE, edit)));
      const b = ucr(['restart', '-i', p, '--detach']);
      expect(b.code, name).not.toBe(0);
      expect(b.stderr, name).toMatch(re);
      expect(b.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(exists(c.pid), name).toBe(false);
    }
    const old = Buffer.from(good);
    old.writeUInt32LE(6, 12);
    fs.writeFileSync(path.join(c.dir, 'old.ucr'), old);
    expect(ucr(['restart', '-i', path.join(c.dir, 'old.ucr'), '--detach']).stderr).toMatch(/TREE: cgroups in a format 1\.6 image\n$/);
  });

  it('directories removed between checkpoint and restart are made again; a failed restart (fault, or ucr killed) removes the ones it made', async () => {
    const dir = cgroupDir(V2);
    const c = await startCase('cgroup', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'image.ucr');
    const pids = await checkpointKill(c, img);
    rmCgroup(path.join(dir, 'a'));
    for (const action of ['fail', 'sigkill'] as const) {
      // in the helper, once the tasks are in their cgroups (before they are let go)
      const r = ucrWithFault(['restart', '-i', img, '--detach'], 'restore-pages', action);
      if (action === 'fail') expect(r.stderr).toMatch(/^ucr: .*injected fault \(UCR_FAULT\)[^\n]*\n$/);
      else expect(r.signal).toBe('SIGKILL');
      // the helper undoes after the coordinator's death: wait for the tasks to be gone first
      for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be gone (${action})`);
      await waitFor(() => !fs.existsSync(path.join(dir, "a")), 10_000, `${dir}/a to be removed (${action})`);
      expect(fs.existsSync(dir), 'a directory the restart did not make stays').toBe(true);
    }
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'a', 'b'))).toBe(true);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a cgroup the kernel will not take the process into: the restart fails naming the process, the cgroup and why, and leaves nothing', async () => {
    const dir = cgroupDir(V2);
    const c = await startCase('cgroup', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'image.ucr');
    const pids = await checkpointKill(c, img);
    // a threaded sibling makes DIR/a a threaded domain, and DIR/a/b (a domain) invalid
    fs.mkdirSync(path.join(dir, 'a', 't'));
    fs.writeFileSync(path.join(dir, 'a', 't', 'cgroup.type'), 'threaded');
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`^ucr: .*cannot move process ${pids[1]} into cgroup ${dir}/a/b: the cgroup is threaded, or its type does not take a process \\(cgroup v2 threaded/domain mismatch\\)`),
    );
    for (const p of pids) expect(exists(p)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'a', 'b')), 'directories the restart did not make stay').toBe(true);
  });

  it('a thread in a threaded cgroup apart from its process comes back in it; removed since, its cgroups are made again (threaded)', async () => {
    await threadRoundTrip(cgroupDir(V2));
  });

  it('a process in a cgroup namespace of its own is refused at checkpoint', async () => {
    const dir = cgroupDir(V2);
    const c = await startCase('cgroup', { args: ['--dir', dir], prefix: ['unshare', '--cgroup'] });
    const r = ucr(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'image.ucr')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^ucr: process ${c.pid} is in a cgroup namespace of its own \\(cgroup:\\[\\d+\\]; ucr.s is cgroup:\\[\\d+\\]\\): a restart would not make it again: not supported\\n$`));
  });
});

/** A v1 hierarchy of the test's own (name=ucrtest), mounted in a temp dir; undefined (the
 * reason logged: the test is skipped) where it cannot be mounted. */
function mountV1(): string | undefined {
  const at = fs.mkdtempSync(path.join(os.tmpdir(), 'ucr-cgroup-v1-'));
  dirs.push(at);
  const r = spawnSync('mount', ['-t', 'cgroup', '-o', 'none,name=ucrtest', 'ucrtest', at], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`cgroups.test: v1 test skipped: cannot mount a v1 named hierarchy: ${r.stderr.trim()}`);
    return undefined;
  }
  mounts.push(at);
  return at;
}

describe('cgroup v1 (a named hierarchy)', () => {
  it('a process and its child come back in their cgroups of a hierarchy mounted elsewhere; unmounted at restart: a warning, they stay where the restarter is', async () => {
    const at = mountV1();
    if (!at) return;
    const dir = cgroupDir(at);
    const c = await startCase('cgroup', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'image.ucr');
    await checkpointKill(c, img);
    let r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'latin1')).toContain(`:name=ucrtest:/${path.basename(dir)}/a\n`);
    expect(await verdict(c)).toBe('PASS');
    await waitFor(() => !exists(c.pid), 10_000, 'the case to end');
    // the hierarchy stays (its cgroups do) but has no mount: a warning naming it
    expect(spawnSync('umount', [at]).status).toBe(0);
    mounts.splice(mounts.indexOf(at), 1);
    r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^ucr: warning: cgroup name=ucrtest:/${path.basename(dir)}/a: that hierarchy is not mounted here`, 'm'));
    expect(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'latin1')).toContain(':name=ucrtest:/\n');
    // remount to remove its cgroups
    await cleanup();
    const again = spawnSync('mount', ['-t', 'cgroup', '-o', 'none,name=ucrtest', 'ucrtest', at]);
    expect(again.status).toBe(0);
    mounts.push(at);
  });

  it('a thread moved alone into another cgroup (its tasks file) comes back in it; removed since, its cgroup is made again', async () => {
    const at = mountV1();
    if (!at) return;
    await threadRoundTrip(cgroupDir(at));
  });

  it("a user's process: the directories are made with its credentials (root restarting the user's image, and the user restarting it); where the user may not make them, the restart fails naming them, and leaves nothing", async () => {
    const at = mountV1();
    if (!at) return;
    const dir = cgroupDir(at);
    fs.chownSync(dir, 65534, 65534); // delegated to nobody
    const { c, img } = await userImage('cgroup', ['--dir', dir]);
    await waitFor(() => !fs.readFileSync(path.join(dir, 'a', 'b', 'cgroup.procs'), 'latin1').trim(), 10_000, 'the child to be gone');
    rmCgroup(path.join(dir, 'a'));
    let r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.statSync(path.join(dir, 'a', 'b')).uid).toBe(65534);
    expect(await verdict(c)).toBe('PASS');
    await waitFor(() => !exists(c.pid), 10_000, 'the case to end');
    rmCgroup(path.join(dir, 'a'));
    fs.chownSync(dir, 0, 0);
    r = ucr(['restart', '-i', img, '--detach']);
    expectOneLine(r, new RegExp(`: process ${c.pid}: cannot make cgroup directory ${dir}/a as uid 65534 \\(process ${c.pid}\\): permission denied`));
    expect(exists(c.pid)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'a'))).toBe(false);
    fs.chownSync(dir, 65534, 65534);
    const u = ucrAsNobody(['restart', '-i', img, '--detach']);
    expect(u.code, u.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});
