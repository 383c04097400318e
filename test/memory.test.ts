import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inspect } from '../src/orchestrator/inspect.js';
import { KIND, editRecord, resealed } from './image-edit.js';
import { checkpointCase, cleanup, exists, killAndWait, killedCase, restartDetached, tmpdir, track, trackPid, waitFor, roundTrip, sleep, startCase, treeOf, treeRoundTrip, UCR, ucr, verdict } from './harness.js';

afterEach(cleanup);

describe('memory survives checkpoint → kill → restart', () => {
  it('64 MiB random anonymous memory, heap, stack, read-only and PROT_NONE areas, written private file mapping; malloc after restart', async () => {
    const { verdict } = await roundTrip('memory');
    expect(verdict).toBe('PASS');
  });

  it('a tree whose page records outgrow what the checkpoint writes itself (1 MiB root first, then 3 x 8 MiB children: the io process takes over in the middle of a child) comes back with every page', async () => {
    const { c, img, pids } = await killedCase('pagetree');
    expect(pids).toHaveLength(4);
    const meta = inspect({ input: img }).meta;
    expect(meta.tasks[0]!.pid).toBe(c.pid);
    expect(restartDetached(img).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a sparse mapping keeps its holes: 256 MiB mapped, 4 MiB written in 64 blocks; the image and the restored Rss follow the written pages', async () => {
    const c = await startCase('sparse');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    expect(fs.statSync(img).size).toBeLessThan(8 << 20);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('2400 mappings (2000 pages of alternating protections, 400 private maps of one file page): several batches of injected calls', async () => {
    const { verdict } = await roundTrip('vmas');
    expect(verdict).toBe('PASS');
  });

  it('every mapping keeps its kernel flags (VmFlags): madvise DONTFORK, DONTDUMP, HUGEPAGE, NOHUGEPAGE, MERGEABLE, WIPEONFORK, SEQUENTIAL, RANDOM, mlock, MAP_NORESERVE, MAP_DROPPABLE, shared mappings that may become writable; fork sees them', async () => {
    const { verdict } = await roundTrip('vmflags');
    expect(verdict).toBe('PASS');
  });

  it('a CPU-bound loop keeps its registers and memory (running checksum)', async () => {
    const { verdict } = await roundTrip('counter');
    expect(verdict).toBe('PASS');
  });

  it('guard regions (MADV_GUARD_INSTALL) of anonymous and private file mappings still fault after restart; the pages around them keep their data (checkpoint reads around them)', async () => {
    const { verdict } = await roundTrip('guards');
    expect(verdict).toBe('PASS');
  });

  it("the page scan by the kernel's PAGEMAP_SCAN finds the very runs and guard regions a read of pagemap finds (sparse memory, zero pages, guard regions, more runs than one scan answers; the read is what a kernel without the ioctl gets)", async () => {
    for (const name of ['guards', 'sparse', 'vmas', 'holes']) {
      const c = await startCase(name);
      process.kill(c.pid, 'SIGSTOP'); // nothing changes between the two checkpoints
      const runs = (fault: string) => {
        const img = path.join(c.dir, `image${fault}.ucr`);
        process.env.UCR_FAULT = fault;
        try {
          checkpointCase(c, img);
        } finally {
          delete process.env.UCR_FAULT;
        }
        const r = inspect({ input: img });
        return JSON.stringify(r.meta.tasks.map((t) => [t.pid, t.pageRuns, t.guards ?? []]));
      };
      const scanned = runs('');
      const read = runs('no-pagemap-scan');
      process.kill(c.pid, 'SIGCONT');
      expect(scanned, name).toBe(read);
      if (name === 'guards') expect(scanned).toContain('],[['); // it has guard regions
    }
  });

  it('8,192 runs of one page in one mapping (more than one page scan answers), zero pages among them: every page comes back, no hole filled', async () => {
    const { verdict } = await roundTrip('holes');
    expect(verdict).toBe('PASS');
  });

  it('x87, SSE and AVX state: a floating-point loop ends with the exact result', async () => {
    const { verdict } = await roundTrip('fpu');
    expect(verdict).toBe('PASS');
  });

  it("x87, SSE and AVX state of 8 more threads: each thread's loops end with its own exact result (each thread's xstate comes back as its own)", async () => {
    const { verdict } = await roundTrip('fpu', { args: ['--threads', '8'] });
    expect(verdict).toBe('PASS');
  });

  it("SSE registers of 24 threads, 12 of them in 3 groups with equal XSAVE areas (the restore plan names an earlier thread's area instead of repeating it): every thread's registers come back as its own", async () => {
    const { c, img } = await killedCase('xsame');
    expectEqualAndDistinct(inspect({ input: img }).meta.tasks[0]!.threads.map((th) => th.xstate), 24);
    expect(restartDetached(img).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it("SSE registers of 12 child processes, 6 of them in 3 groups with equal XSAVE areas (the restore plan names an earlier task's area instead of repeating it): every process's registers come back as its own", async () => {
    const { c, img, pids } = await killedCase('xsame', { args: ['--threads', '2', '--children', '12'] });
    expect(pids).toHaveLength(13);
    expectEqualAndDistinct(inspect({ input: img }).meta.tasks.slice(1).map((t) => t.xstate), 12);
    expect(restartDetached(img).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it("x87, SSE and AVX state from a task's XSAVE area without its final zeros (format 1.8 writes a tree's so): the loop ends with its exact result; the same area in a 1.7 image is refused", async () => {
    const { c, img } = await killedCase('fpu');
    const good = fs.readFileSync(img);
    let full = 0;
    let kept = 0;
    const trimmed = (minor: number) => {
      const b = resealed(
        editRecord(good, KIND.TASK, (t) => {
          const x = t.xstate as Uint8Array;
          full = x.length;
          let n = x.length;
          while (n > 576 && x[n - 1] === 0) n--;
          kept = n;
          t.xstate = x.slice(0, n);
        }),
      );
      b.writeUInt32LE(minor, 12);
      return b;
    };
    const p = path.join(c.dir, 'trimmed.ucr');
    fs.writeFileSync(p, trimmed(7));
    expect(kept).toBeLessThan(full); // (else this test proves nothing)
    const r = ucr(['restart', '-i', p, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`TASK ${c.pid}\\.xstate: ${kept} bytes, the HEADER's cpu\\.xstateSize is ${full}`));
    expect(exists(c.pid)).toBe(false);
    fs.writeFileSync(p, trimmed(8));
    expect(restartDetached(p).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});

/** n XSAVE areas, some equal (a group) and more than 3 distinct ones: else a test of the plan's
 * naming of equal areas proves nothing. */
function expectEqualAndDistinct(areas: Uint8Array[], n: number): void {
  const keys = new Set(areas.map((x) => Buffer.from(x).toString('hex')));
  expect(areas).toHaveLength(n);
  expect(keys.size).toBeLessThan(n);
  expect(keys.size).toBeGreaterThan(3);
}

describe('copy-on-write sharing', () => {
  it('pages a parent, two children and a grandchild share since fork stay one page each, pages written since by any of them stay apart; contents, holes and smaps Rss/Pss/Shared/Private match', async () => {
    const c = await startCase('cow');
    const img = path.join(c.dir, 'image.ucr');
    const pids = treeOf(c.pid);
    expect(pids).toHaveLength(4);
    checkpointCase(c, img, ['--kill']);
    // the pages the children share with their parent are saved once
    const r = inspect({ input: img, verify: true }); // the stream's order checked as a restart reads it
    const inherited = r.meta.tasks.reduce((s, t) => s + (t.inherited ?? []).reduce((a, [, n]) => a + n, 0), 0);
    expect(inherited).toBeGreaterThan(3 * 150);
    // 1.3 for inherited pages (1.6 when its tasks have 64 or more anonymous mappings, packed:
    // vma-pack.ts); 1.8 as the children's records take parts from their parents' (same-parts.ts)
    expect(r.format).toBe('1.8');
    for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('written pages of a file mapped privately (read-write, and read-only after writing as RELRO is) stay shared by the processes that share them since fork; the file\'s own pages stay the file\'s', async () => {
    const c = await startCase('cowfile');
    const img = path.join(c.dir, 'image.ucr');
    const pids = treeOf(c.pid);
    expect(pids).toHaveLength(3);
    checkpointCase(c, img, ['--kill']);
    const r = inspect({ input: img });
    const inherited = r.meta.tasks.reduce((s, t) => s + (t.inherited ?? []).reduce((a, [, n]) => a + n, 0), 0);
    // A: X[0..15], Y[0..3]; B: X[0..31], Y[0..3]; and the written pages of the libraries they map
    expect(inherited).toBeGreaterThanOrEqual(16 + 4 + 32 + 4);
    for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a checkpoint leaves the running tree its sharing (pages are read without pinning shared ones, which would copy them)', async () => {
    const c = await startCase('cow');
    const r = checkpointCase(c, path.join(c.dir, 'image.ucr'));
    expect(r.code).toBe(0);
    expect(await verdict(c)).toBe('PASS'); // the same processes, compared with themselves before the checkpoint
  });
});

/** A directory on tmpfs (the restart's lanes read an image there through a mapping), removed by cleanup. */
function shmDir(tag: string): string {
  const d = fs.mkdtempSync(`/dev/shm/ucr-${tag}-`);
  afterEachRm.push(d);
  return d;
}
const afterEachRm: string[] = [];
afterEach(() => {
  for (const d of afterEachRm.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('restart from an image on tmpfs (pages read through a mapping of the file, in two lanes)', () => {
  it('an image cut while the restart reads its pages (before the checksum reads them: SIGBUS; before the copy: EFAULT) is refused in one line as truncated and leaves nothing; the whole image restores', async () => {
    const c = await startCase('memory');
    const dir = shmDir('cut');
    const img = path.join(dir, 'image.ucr');
    const whole = path.join(dir, 'whole.ucr');
    checkpointCase(c, whole, ['--kill']);
    await killAndWait(c.pid);
    for (const point of ['image-cut', 'image-cut-copy']) {
      fs.copyFileSync(whole, img);
      const r = spawnSync(process.execPath, [UCR, 'restart', '-i', img, '--detach'], {
        env: { ...process.env, UCR_FAULT: point },
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 60_000,
      });
      const err = r.stderr.toString();
      expect(r.status, `${point}: ${err}`).toBe(1);
      expect(err.trim().split('\n'), point).toHaveLength(1);
      expect(err, point).toMatch(/^ucr: .*: truncated image: /); // this lane's words, or the other's (its reading of the next frame meets the cut first)
      expect(fs.statSync(img).size, point).toBeLessThan(fs.statSync(whole).size);
      await waitFor(() => !exists(c.pid), 10_000, `${point}: pid ${c.pid} gone`);
    }
    restartDetached(whole);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('--skip-memory', () => {
  it.each(['disk', 'tmpfs'])('restores the named range of the named task zero-filled and the rest exactly (image on %s)', async (where) => {
    const c = await startCase('skipmem');
    const addr = parseInt(fs.readFileSync(c.out + '.addr', 'utf8'), 16);
    const img = path.join(where === 'disk' ? c.dir : shmDir('skip'), 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    fs.writeFileSync(c.out + '.skip', '');
    const r = ucr(['restart', '-i', img, '--detach', '--skip-memory', `${c.pid}:0x${addr.toString(16)}-0x${(addr + 8192).toString(16)}`]);
    expect(r.stderr).toBe('');
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses a pid that is not in the image', async () => {
    const c = await startCase('skipmem');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    const r = ucr(['restart', '-i', img, '--detach', '--skip-memory', '1:0x1000-0x2000']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe("ucr: restart: --skip-memory: process 1 is not a live task of the image\nsee 'ucr restart --help'");
    expect(exists(c.pid)).toBe(false);
  });
});

describe('shared memory', () => {
  it('shared anonymous memory (with a hole), a memfd mapped shared by two tasks, privately by one and held as an fd, a write-sealed memfd: contents and sharing come back', async () => {
    const { verdict, pids } = await treeRoundTrip('shmem');
    expect(pids).toHaveLength(2);
    expect(verdict).toBe('PASS');
  });

  it('memfds, unlinked files and an O_TMPFILE file keep their mode, owner, access and modification times and seals (F_SEAL_GROW/SHRINK/SEAL, F_SEAL_FUTURE_WRITE under a writable mapping, MFD_NOEXEC_SEAL), and the seals hold', async () => {
    const dir = tmpdir('objmeta');
    const { verdict } = await roundTrip('objmeta', { args: ['--dir', dir] });
    expect(verdict).toBe('PASS');
  });
});

describe('shared memory held outside the tree', () => {
  it('is refused when another process maps it too, naming that process; --allow-leaks checkpoints with a warning', async () => {
    // a parent and its child share anonymous memory; only the child (which holds no fd the
    // parent has) is checkpointed
    const script = [
      'import mmap, os, sys, time',
      'm = mmap.mmap(-1, 65536, mmap.MAP_SHARED)',
      'm[0:5] = b"hello"',
      'pid = os.fork()',
      'if pid == 0:',
      '    os.closerange(0, 65536)',
      '    time.sleep(1000)',
      'print(pid, flush=True)',
      'time.sleep(1000)',
    ].join('\n');
    const p = track(spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] }));
    const child = Number(await new Promise<string>((resolve) => p.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    trackPid(child);
    await waitFor(() => fs.readFileSync(`/proc/${child}/maps`, 'utf8').includes('/dev/zero (deleted)') && fs.readdirSync(`/proc/${child}/fd`).length === 0, 5000, 'the child ready');
    const dir = tmpdir('shm-leak');
    const img = path.join(dir, 'child.ucr');
    const r = ucr(['checkpoint', String(child), '-o', img]);
    expect(r.stderr).toBe(`ucr: shared anonymous memory is also mapped by process ${p.pid} (python3) outside the checkpointed tree (use --allow-leaks to checkpoint anyway)\n`);
    expect(r.code).toBe(1);
    expect(fs.existsSync(img)).toBe(false);
    const r2 = ucr(['checkpoint', String(child), '-o', img, '--allow-leaks', '--kill']);
    expect(r2.code).toBe(0);
    expect(r2.stderr).toMatch(new RegExp(`shared anonymous memory is also mapped by process ${p.pid} \\(python3\\) outside the checkpointed tree: leaked, the restart will not share it`));
  });
});

describe('threads', () => {
  it('four pthreads with TLS and a shared mutex-protected counter come back at their tids, advance, and join with the right values', async () => {
    const { c, verdict } = await roundTrip('threads');
    expect(verdict).toBe('PASS');
    expect(c.pid).toBeGreaterThan(0);
  });
});

describe('signals and timers', () => {
  it('handlers (SA_RESTART|SA_ONSTACK|SA_SIGINFO, masks), SIG_IGN, sigaltstack, a blocked pending SIGUSR2, three queued SIGRTMIN with values, a per-thread pending signal, a thread woken from a condition variable, a 50 ms ITIMER_REAL', async () => {
    const { verdict } = await roundTrip('signals');
    expect(verdict).toBe('PASS');
  });

  it('signals 32 and 33 (glibc\'s own: SIGEV_THREAD timers, cancellation, setxid) pending and blocked come back pending with their values, not delivered during the restart', async () => {
    const { verdict } = await roundTrip('glibcsigs');
    expect(verdict).toBe('PASS');
  });
});

describe('many queued signals', () => {
  it('650 queued real-time signals (500 process-wide of two signals, 150 directed at a thread) come back with their siginfos in order; an image claiming more than RLIMIT_SIGPENDING is refused', async () => {
    const c = await startCase('rtqueue');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img);
    const edited = path.join(c.dir, 'edited.ucr');
    fs.writeFileSync(edited, editRecord(fs.readFileSync(img), KIND.TASK, (t) => (t.rlimits[11][0] = 100)));
    expect(() => inspect({ input: edited })).toThrow(/signals: corrupt image: 650 signals pending, more than its RLIMIT_SIGPENDING \(100\)/);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('robust futex lists', () => {
  it('a thread and a child process that die holding robust mutexes after the restart leave them EOWNERDEAD (set_robust_list of every thread restored)', async () => {
    const { verdict } = await treeRoundTrip('robust');
    expect(verdict).toBe('PASS');
  });
});

describe('POSIX timers', () => {
  it('keep their ids, notification values and time left (relative: counted from the restart)', async () => {
    const { verdict } = await roundTrip('timers');
    expect(verdict).toBe('PASS');
  });

  it('--timers=absolute: a timer whose deadline passed while the process was checkpointed fires at once', async () => {
    const c = await startCase('timers', { args: ['--expect-fired'] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    await sleep(1000); // longer than the 600 ms one-shot timer had left
    const r = ucr(['restart', '-i', img, '--detach', '--timers', 'absolute']);
    expect(r.stderr).toBe('');
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('a process whose main thread has exited', () => {
  it('comes back with the main thread a zombie again and its two threads running at their tids', async () => {
    const { c, verdict } = await roundTrip('leader_exit');
    expect(verdict).toBe('PASS');
    expect(c.pid).toBeGreaterThan(0);
  });

  it('as a child in a tree: comes back under its parent, runs on, and its parent collects its exit status once its last thread exits', async () => {
    const c = await startCase('leader_exit', { args: ['--child'] });
    const parent = c.proc.pid!;
    expect(Number(fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])).toBe(parent);
    const img = path.join(c.dir, 'img.ucr');
    const ck = ucr(['checkpoint', String(parent), '-o', img, '--kill']);
    expect(ck.code, ck.stderr).toBe(0);
    for (const p of [parent, c.pid]) await waitFor(() => !exists(p), 10_000, `pid ${p} free`);
    restartDetached(img);
    expect(fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8')).toMatch(new RegExp(`^${c.pid} \\(leader_exit\\) Z ${parent} `));
    expect(await verdict(c)).toBe('PASS');
    await waitFor(() => fs.existsSync(`${c.out}.parent`), 10_000, 'the parent to collect it');
    expect(fs.readFileSync(`${c.out}.parent`, 'utf8')).toBe('exit 0\n');
  });
});
