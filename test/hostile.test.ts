/**
 * Hostile and extreme images (issue 14 part 4): every refusal is one line naming the record and
 * the field, checked before anything is allocated or created, in bounded memory; the running
 * system's limits (pid_max, the restorer's RLIMIT_NOFILE) are checked; and a program whose fds
 * reach far up restores.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, killAndWait, restartDetached, startCase, tmpdir, UCR, ucr, verdict } from './harness.js';
import { editRecord, expectClear, KIND, recordPayload } from './image-edit.js';
import { replacePayload, reseal } from './fuzz.js';
import { frames } from './image-edit.js';

afterAll(cleanup);

/** Runs the CLI with words before node (prlimit, setpriv) and node options (a heap bound). */
function ucrWith(prefix: string[], nodeOpts: string[], args: string[]) {
  const r = spawnSync(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), ...nodeOpts, UCR, ...args], { timeout: 120_000, maxBuffer: 1 << 26 });
  return { code: r.status, signal: r.signal, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

/** One clear line on stderr, exit 1. */
function expectRefused(r: { code: number | null; stderr: string }, re: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expectClear(r.stderr);
  expect(r.stderr).toMatch(/^ucr: /);
  expect(r.stderr).toMatch(re);
}

/** The highest fd a program can have here: 60000 when root may raise hard limits
 * (CAP_SYS_RESOURCE), else just below this process's hard RLIMIT_NOFILE (which the restorer
 * inherits: then the helper must fit its own fds below the program's). */
function farFd(): number {
  const eff = BigInt('0x' + /^CapEff:\s+([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'latin1'))![1]);
  const hard = Number(/^Max open files\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'latin1'))![1]);
  return eff & (1n << 24n) ? 60000 : hard - 2;
}

describe('fds near and above the restorer\'s RLIMIT_NOFILE', () => {
  it('a program whose fd is far up (its own limit raised to it) restores at that number', async () => {
    const fd = farFd();
    const c = await startCase('highfd', { args: ['--fd', String(fd)] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
    console.log(`fd ${fd} restored`);
  });

  it('is refused with one line naming the fd and the limit when the restorer cannot reach it', async () => {
    const c = await startCase('highfd', { args: ['--fd', '3000'] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    // a hard limit of 1024 and no CAP_SYS_RESOURCE to raise it
    const r = ucrWith(['prlimit', '--nofile=1024:1024', 'setpriv', '--bounding-set=-sys_resource', '--inh-caps=-sys_resource', '--'], [], ['restart', '-i', img, '--detach']);
    expectRefused(r, /TASK \d+\.fds\[\d+\]\.fd: fd 3000 is not below the restorer's RLIMIT_NOFILE hard limit 1024/);
    expect(exists(c.pid)).toBe(false);
  });
});

describe('many tasks mapping the same files', () => {
  it('restart under a hard RLIMIT_NOFILE of 1024: a mapped file takes one fd per set of credentials, not one per mapping', async () => {
    // 41 processes with 30-45 mappings of one file each (1,500 mappings in all, more fds than
    // the limit if each took its own)
    const c = await startCase('mapfiles', { args: ['--children', '40', '--maps', '30'] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    const r = ucrWith(['prlimit', '--nofile=1024:1024', 'setpriv', '--bounding-set=-sys_resource', '--inh-caps=-sys_resource', '--'], [], ['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('hostile metadata', () => {
  let good: Buffer;
  let dir: string;
  let pid: number;
  beforeAll(async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    good = fs.readFileSync(img);
    dir = tmpdir('hostile');
    pid = c.pid;
  });
  const write = (b: Buffer, name = 'h.ucr') => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, b, { mode: 0o600 });
    return p;
  };
  /** The image with the first record of a kind given this payload (checksum and trailer right). */
  const withPayload = (kind: number, p: Buffer) => replacePayload(good, frames(good).find((f) => f.kind === kind)!, p);
  /** The image with a record edited as data (checksum and trailer right). */
  const edited = (kind: number, f: (r: Record<string, any>) => void) => reseal(editRecord(good, kind, f));
  const heap = ['--max-old-space-size=1024'];

  it('a record claiming 1.9 GB is refused from its frame, before anything is read, in bounded memory', () => {
    const b = Buffer.from(good);
    const f = frames(good).find((x) => x.kind === KIND.TASK)!;
    b.writeBigUInt64LE(1_900_000_000n, f.at + 8);
    const p = write(b);
    fs.truncateSync(p, 1_950_000_000); // sparse: the bytes are there
    for (const cmd of [['inspect', p], ['restart', '-i', p, '--detach']])
      expectRefused(ucrWith([], heap, cmd), /TASK \d+ record claims 1900000000 bytes, at most 268435456/);
    fs.rmSync(p);
  });

  it('metadata that would decode into more memory than the cap is refused before it is allocated (70 M entries, 5 M byte strings)', () => {
    // a TREE that is one array of 70 million zeros (70 MB, checksum right): 560 MB decoded
    const zeros = Buffer.alloc(5 + 70_000_000);
    zeros[0] = 0x9a;
    zeros.writeUInt32BE(70_000_000, 1);
    expectRefused(ucrWith([], heap, ['inspect', write(withPayload(KIND.TREE, zeros))]), /TREE record: the metadata would take more than 512 MiB of memory decoded \(at byte 5\)/);
    // a FILES record of 5 million empty byte strings (5 MB): ~1 GB decoded
    const empties = Buffer.alloc(5 + 5_000_000, 0x40);
    empties[0] = 0x9a;
    empties.writeUInt32BE(5_000_000, 1);
    expectRefused(ucrWith([], heap, ['inspect', write(withPayload(KIND.FILES, empties))]), /FILES record: the metadata would take more than 512 MiB of memory decoded/);
    // an array claiming 2^32 - 1 entries in a few bytes
    expectRefused(ucrWith([], heap, ['inspect', write(withPayload(KIND.TASK, Buffer.from('9affffffff00', 'hex')))]), /TASK \d+ record: length 4294967295 exceeds the record/);
    fs.rmSync(path.join(dir, 'h.ucr'));
  }, 120_000);

  it('deep CBOR nesting is refused naming the record', () => {
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x81), Buffer.from([0])]);
    expectRefused(ucr(['inspect', write(withPayload(KIND.TASK, deep))]), /TASK \d+ record: value nested too deeply/);
  });

  it('100,000 zombies are refused at the documented task limit; a 30,000-deep chain at the depth limit; a cycle of parents by its field', () => {
    const zombies = (n: number, ppid: (i: number) => number) =>
      edited(KIND.TREE, (t) => {
        const root = t.tasks[0];
        for (let i = 0; i < n; i++) t.tasks.push({ ...root, pid: 2 + i === root.pid ? 1 : 2 + i, ppid: ppid(i), state: 'zombie', exitStatus: 0, threads: 1 });
      });
    expectRefused(ucr(['restart', '-i', write(zombies(100_000, () => pid)), '--detach']), /TREE\.tasks: corrupt image: more than 32768 entries/);
    const chain = zombies(30_000, (i) => (i === 0 ? pid : 2 + i - 1 === pid ? 1 : 2 + i - 1));
    expectRefused(ucr(['inspect', write(chain)]), /TREE\.tasks\[\d+\]: corrupt image: process \d+ is more than 4096 generations below the top of the tree/);
    const cycle = edited(KIND.TREE, (t) => {
      const root = t.tasks[0];
      const [a, b] = [root.pid === 2 ? 4 : 2, root.pid === 3 ? 4 : 3];
      t.tasks.push({ ...root, pid: a, ppid: b, state: 'zombie', exitStatus: 0 }, { ...root, pid: b, ppid: a, state: 'zombie', exitStatus: 0 });
    });
    expectRefused(ucr(['inspect', write(cycle)]), /TREE\.tasks\[\d+\]\.ppid: corrupt image: process \d+ is its own ancestor/);
  }, 120_000);

  it("pids above this system's pid_max, fd and object sizes beyond the kernel's are refused naming the field", () => {
    const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    const tooHigh = edited(KIND.TREE, (t) => t.tasks.push({ ...t.tasks[0], pid: pidMax, ppid: t.tasks[0].pid, state: 'zombie', exitStatus: 0 }));
    expectRefused(ucr(['restart', '-i', write(tooHigh), '--detach']), new RegExp(`TREE\\.tasks\\[1\\]\\.pid: pid ${pidMax} is not below this system's kernel\\.pid_max ${pidMax}`));
    expect(exists(pid)).toBe(false);
    expectRefused(ucr(['inspect', write(edited(KIND.TASK, (t) => (t.fds[t.fds.length - 1].fd = 1 << 20)))]), /fds\[\d+\]\.fd: corrupt image: 1048576 is outside 0\.\.1048575/);
    expectRefused(ucr(['inspect', write(edited(KIND.TASK, (t) => (t.threads = [{ ...t.threads[0], tid: 1 << 22 }])))]), /threads|tid/);
    const obj = edited(KIND.FILES, (f) => (f.objects = [{ id: 1, kind: 'memfd', name: 'x', size: 2 ** 46, seals: 0, runs: [] }]));
    expectRefused(ucr(['inspect', write(obj)]), /objects\[0\]\.size: corrupt image: 70368744177664 is outside 0\.\.70368744177663/);
    // pages listed that the image file cannot hold
    const cut = frames(good).find((f) => f.kind >= 16)!.at;
    expectRefused(ucr(['inspect', write(good.subarray(0, cut + 16))]), /truncated image: the metadata lists \d+ pages \(\d+ bytes\), the 16 bytes left in the image cannot hold them/);
  });

  it('what the helper could not take is refused by the checks first, naming the field; a long comm is cut, not refused', async () => {
    const cases: [(t: Record<string, any>) => void, RegExp][] = [
      [(t) => (t.cwd = ''), /TASK \d+\.cwd: corrupt image: empty path/],
      [(t) => (t.exe = '/bin/x\u0000y'), /TASK \d+\.exe: corrupt image: text holds a NUL character/],
      [(t) => (t.vmas.find((v: any) => v.kind === 'file').path = 'a'.repeat(4096)), /vmas\[\d+\]\.path: corrupt image: path longer than 4095 bytes/],
      [(t) => (t.rseq = t.rseq && { ...t.rseq, len: 4096 }), /rseq\.len: corrupt image: 4096 is outside 0\.\.4095|rseq/],
      [(t) => t.specials.push({ ...t.specials[0] }), /specials\[\d+\]: corrupt image: \S+ twice, or over another special mapping/],
      [(t) => (t.specials[0].end = t.specials[0].start + (2 << 20)), /specials\[0\]: corrupt image: larger than 1 MiB/],
      [(t) => (t.specials[0].name = '\u001b[2J'), /specials\[0\]\.name: corrupt image: unknown special mapping "\\u001b\[2J"/],
      [(t) => (t.xstate = new Uint8Array(t.xstate.length + 64)), /TASK \d+\.xstate: \d+ bytes, the HEADER's cpu\.xstateSize is \d+/],
      // format 1.5: a thread's may be shorter (its zeros left out), never longer
      [(t) => (t.threads = [{ tid: t.pid + 1, comm: 'x', regs: t.regs, xstate: new Uint8Array(t.xstate.length + 64), sigmask: 0, rseq: null, tidAddress: 0, signals: { altstack: t.signals.altstack, pending: new Uint8Array(0) } }]), /TASK \d+\.threads\[0\]\.xstate: \d+ bytes, the HEADER's cpu\.xstateSize is \d+/],
    ];
    for (const [f, re] of cases) expectRefused(ucr(['restart', '-i', write(edited(KIND.TASK, f)), '--detach']), re);
    expect(exists(pid)).toBe(false);
    // 15 two-byte characters: 30 bytes, the kernel keeps 15
    const p = write(edited(KIND.TASK, (t) => (t.comm = 'é'.repeat(15))));
    const r = ucr(['restart', '-i', p, '--detach']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(`/proc/${pid}/comm`, 'utf8')).toBe('ééééééé\n');
    await killAndWait(pid);
  });

  it('inspect shows image strings escaped: no terminal escape, bidi override or raw newline from an image reaches the terminal', () => {
    const evil = '\u001b]0;owned\u0007\u001b[2J\u202e\u0085';
    let img = editRecord(good, KIND.HEADER, (h) => (h.kernel.release = evil));
    img = editRecord(img, KIND.TREE, (t) => (t.tasks[0].comm = '\u001b[31mred\n'));
    img = reseal(editRecord(img, KIND.TASK, (t) => {
      t.comm = '\u001b[31mred\n';
      t.exe = `/bin/${evil}\nsecond line`;
      t.cwd = `/tmp/\r${evil}`;
    }));
    const p = write(img);
    // --all: every string of the image, and no warnings that depend on this host (the summary
    // warns that a restart here would be refused: the edited kernel release differs)
    const plain = ucr(['inspect', write(good, 'good.ucr'), '--all']).stdout.split('\n').length;
    for (const json of [false, true]) {
      const r = ucr(['inspect', p, ...(json ? ['--json'] : ['--all'])]);
      if (!json) expect(ucr(['inspect', p]).stdout + ucr(['inspect', p]).stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
      const out = r.stdout + r.stderr;
      expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
      if (!json) {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.split('\n').length).toBe(plain);
        expect(r.stdout).toContain('\\x1b]0;owned\\x07\\x1b[2J\\u202e\\x85');
      } else expect(JSON.parse(r.stdout).meta.tasks[0].exe).toBe(`/bin/${evil}\nsecond line`);
    }
  });
});

describe('a file replaced by another of the same size and mtime', () => {
  /** Puts a copy of file at its path (new inode), with the same contents, size and mtime. */
  function replaceKeepingLooks(file: string): { was: number; now: number } {
    const st = fs.statSync(file);
    const tmp = `${file}.new`;
    fs.copyFileSync(file, tmp);
    fs.utimesSync(tmp, st.atime, (Math.trunc(st.mtimeMs) + 0.5) / 1000); // the same whole ms, which ucr records
    fs.renameSync(tmp, file);
    const now = fs.statSync(file);
    expect([now.size, Math.trunc(now.mtimeMs)]).toEqual([st.size, Math.trunc(st.mtimeMs)]); // as ucr records them
    expect(now.ino).not.toBe(st.ino);
    return { was: st.ino, now: now.ino };
  }

  it('open: refused naming the file and its inode; mapped: refused naming the mapping and its inode', async () => {
    const dir = tmpdir('replaced');
    const c = await startCase('files', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    const d = path.join(dir, 'd.txt');
    const { was, now } = replaceKeepingLooks(d);
    expectRefused(ucr(['restart', '-i', img, '--detach']), new RegExp(`file ${d}: changed since the checkpoint \\(its inode is ${now}, it was ${was} at checkpoint\\); restart with --file-validation=off`));
    expect(exists(c.pid)).toBe(false);

    const v = await startCase('vmas');
    const vimg = path.join(v.dir, 'img.ucr');
    checkpointCase(v, vimg, ['--kill']);
    await killAndWait(v.pid);
    const map = `${v.out}.map`;
    const ids = replaceKeepingLooks(map);
    expectRefused(ucr(['restart', '-i', vimg, '--detach']), new RegExp(`process ${v.pid}: mapped file ${map} was replaced since the checkpoint \\(its inode is ${ids.now}, it was ${ids.was} at checkpoint\\)`));
    expect(exists(v.pid)).toBe(false);
  });
});


describe('work bounded by the size of the image', () => {
  it('a tree at the task limit (32,768: every task leads its session and group, 4,096 generations deep) is validated and planned in linear work', async () => {
    const { checkTree } = await import('../src/image/validate.js');
    const { planTree, planTerminals } = await import('../src/orchestrator/plan-tree.js');
    const { MAX_TASKS, MAX_TREE_DEPTH } = await import('../src/image/format.js');
    const tasks = Array.from({ length: MAX_TASKS }, (_, i) => {
      const pid = i + 2;
      // a chain MAX_TREE_DEPTH long, then everyone else a child of the root
      const ppid = i === 0 ? 1 : i < MAX_TREE_DEPTH ? pid - 1 : 2;
      return { pid, ppid, pgid: pid, sid: pid, comm: 'x', state: i === 0 ? 'running' : 'zombie', threads: 1, ...(i ? { exitStatus: 0 } : {}) };
    });
    const t0 = performance.now();
    const tree = checkTree({ tasks } as never, 'TREE');
    const plan = planTree(tree.tasks, (p) => p);
    planTerminals(plan, [0], (pid) => ({ ctty: 0, tpgid: pid }));
    expect(plan.tasks.length).toBe(MAX_TASKS);
    expect(plan.actions.filter((a) => a.op === 'clone').length).toBe(MAX_TASKS);
    console.log(`a ${MAX_TASKS}-task tree validated and planned in ${(performance.now() - t0).toFixed(0)} ms`);
  });
});
