import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, checkpointKill, cleanup, exists, fifo, roundTrip, sleep, exitOf, killAndWait, restartDetached, startCase, tmpdir, treeRoundTrip, ucr, ucrAsync, verdict, waitBlockedIn, waitFor, type StartOptions } from './harness.js';

afterEach(cleanup);

describe('files, cwd and umask', () => {
  it('offsets, O_APPEND, close-on-exec, dup-shared offsets, fd 42, /dev/null, /dev/zero, /dev/urandom, cwd, umask', async () => {
    const dir = tmpdir('files-dir');
    const c = await startCase('files', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses a restart when an open file is gone, naming it, and creates nothing', async () => {
    const dir = tmpdir('files-gone');
    const c = await startCase('files', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    fs.rmSync(path.join(dir, 'd.txt'));
    const p = ucrAsync(['restart', '-i', img, '--detach']);
    const r = await exitOf(p);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/d\.txt/);
    expect(fs.existsSync(`/proc/${c.pid}`)).toBe(false);
  });
});

describe('--file-validation', () => {
  it('refuses a file open for writing whose size changed, naming it; --file-validation=off restarts anyway', async () => {
    const dir = tmpdir('files-grown');
    const c = await startCase('files', { args: ['--dir', dir] });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    fs.appendFileSync(path.join(dir, 'log.txt'), 'appended since\n');
    const size = fs.statSync(path.join(dir, 'log.txt')).size;
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `ucr: file ${path.join(dir, 'log.txt')}: changed since the checkpoint (its size is ${size} bytes, it was ${size - 15} at checkpoint); restart with --file-validation=off to accept it`,
    );
    expect(exists(c.pid)).toBe(false);
    const r2 = ucr(['restart', '-i', img, '--detach', '--file-validation=off']);
    expect(r2.stderr).toBe('');
    expect(r2.code).toBe(0);
    expect(exists(c.pid)).toBe(true);
  });
});

describe('tasks blocked in system calls resume as the kernel would', () => {
  it('read() on stdin (-ERESTARTSYS): re-issued after restart, gets the data', async () => {
    const c = await startCase('blocked_read', { stdin: 'pipe' });
    await waitBlockedIn(c.pid, 0);
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    // The restored task's stdin is external: it is connected to ucr restart's stdin.
    const stdin = fifo(c.dir);
    const p = ucrAsync(['restart', '-i', img, '--detach'], [stdin.fd, 'ignore', 'pipe']);
    const r = await exitOf(p);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await waitBlockedIn(c.pid, 0);
    stdin.write('go\n');
    expect(await verdict(c, null)).toBe('PASS');
  });

  it('clock_nanosleep (-ERESTART_RESTARTBLOCK): an interrupted relative sleep completes, a later one is interrupted only by the signal (EINTR, never 516)', async () => {
    const c = await startCase('sleeper');
    // first round trip inside the 300 ms sleep that must complete, second inside nanosleep(3600 s)
    for (let round = 0; round < 2; round++) {
      await waitBlockedIn(c.pid, 230);
      if (round === 1) await sleep(400);
      const img = path.join(c.dir, `image${round}.ucr`);
      checkpointCase(c, img);
      await killAndWait(c.pid);
      restartDetached(img);
    }
    await waitBlockedIn(c.pid, 230);
    expect(await verdict(c)).toBe('PASS');
  });

  it('sigsuspend (-ERESTARTNOHAND): woken by the signal after restart, mask restored', async () => {
    const c = await startCase('sigsuspend_wait');
    await waitBlockedIn(c.pid, 130);
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    restartDetached(img);
    await waitFor(() => fs.existsSync(`/proc/${c.pid}`), 5000, 'restored task');
    expect(await verdict(c)).toBe('PASS');
  });

  it('the checkpointed task keeps running afterwards (no --kill) and still verifies', async () => {
    const c = await startCase('sleeper');
    await waitBlockedIn(c.pid, 230);
    checkpointCase(c, path.join(c.dir, 'image.ucr'));
    // a sleep interrupted by the freeze goes on as restart_syscall (219) until it ends
    await waitBlockedIn(c.pid, [230, 219]);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('credentials', () => {
  for (const [what, extra] of [
    ['with no capabilities', []],
    ['with an ambient capability and a reduced bounding set', ['--inh-caps=+net_bind_service', '--ambient-caps=+net_bind_service', '--bounding-set=-net_raw']],
  ] as [string, string[]][])
  it(`a process of an ordinary user comes back as that user, groups, dumpable and capabilities included (${what})`, async () => {
    const c = await startCase('creds', { asNobody: extra });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(/Uid:\s+65534\s+65534\s+65534\s+65534\n/);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe("threads' credentials", () => {
  // each thread's own ids, groups, capability sets and no_new_privs come back: the threads are
  // born with the restorer's and given the image's, except when those are the same
  for (const [what, opt] of [
    ["root's, the restorer's own", {}],
    ['root with a reduced bounding set', { prefix: ['setpriv', '--bounding-set=-net_raw,-sys_nice', '--'] }],
    ['root with an ambient capability and fewer inheritable ones', { prefix: ['setpriv', '--inh-caps=-all,+net_bind_service', '--ambient-caps=+net_bind_service', '--'] }],
    ['an ordinary user', { asNobody: [] }],
  ] as [string, StartOptions][])
    it(`every thread of a process comes back with its own (${what})`, async () => {
      const { verdict } = await roundTrip('threadcreds', { ...opt, args: ['--threads', '6'] });
      expect(verdict).toBe('PASS');
    });
});

describe('files opened before the process dropped its privileges', () => {
  it('a root-only file opened as root and held after setuid to 65534 comes back open at its offset (root restarts root\'s image), the process still 65534', async () => {
    const { verdict } = await roundTrip('dropped');
    expect(verdict).toBe('PASS');
  });

  it('an image that is not root\'s cannot reopen it with more than the task\'s credentials: the restart is refused naming the file, and nothing is left', async () => {
    const c = await startCase('dropped');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    await waitFor(() => !exists(c.pid), 10_000, `pid ${c.pid} to be released`);
    fs.chownSync(img, 65534, 65534);
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code).not.toBe(0);
    // its stdout (the harness's file) or its log: both were opened as root
    expect(r.stderr, r.stderr).toMatch(/^ucr: process \d+: files: \/\S+: cannot open the file as uid 65534 .*permission denied \(EACCES\)\n$/);
    expect(exists(c.pid)).toBe(false);
  });
});

describe('anonymous descriptors', () => {
  it('eventfd (count, semaphore, shared by dup), signalfd (mask, with a pending signal), timerfd (ticking, and armed), memfd (name, contents, offset, seals)', async () => {
    const { verdict } = await roundTrip('anonfds');
    expect(verdict).toBe('PASS');
  });
});

describe('named pipes', () => {
  it('a FIFO removed from its path while open comes back without a name: its queued bytes, both ends, its mode; nothing is left at the path', async () => {
    const { verdict } = await roundTrip('fifoghost');
    expect(verdict).toBe('PASS');
  });

  it('a removed FIFO whose path another file took since is made beside it: that file is left alone', async () => {
    const c = await startCase('fifoghost');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    await waitFor(() => !exists(c.pid), 10_000, `pid ${c.pid} to be released`);
    fs.writeFileSync(`${c.out}.fifo`, 'someone else');
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
    expect(fs.readFileSync(`${c.out}.fifo`, 'utf8')).toBe('someone else');
    expect(fs.readdirSync(path.dirname(c.out)).filter((n) => n.startsWith('.ucr-fifo-'))).toEqual([]);
  });

  it('a FIFO read by the parent and written by the child keeps its queued bytes and ends; a FIFO opened O_RDWR keeps its bytes', async () => {
    const { verdict, pids } = await treeRoundTrip('fifo');
    expect(pids).toHaveLength(2);
    expect(verdict).toBe('PASS');
  });

  it('refuses a restart when the FIFO is gone, naming it, and creates nothing', async () => {
    const c = await startCase('fifo');
    const img = path.join(c.dir, 'image.ucr');
    const pids = await checkpointKill(c, img);
    fs.unlinkSync(c.out + '.fifo1');
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe(`ucr: FIFO ${c.out}.fifo1: no longer exists: it cannot be reopened`);
    for (const p of pids) expect(exists(p)).toBe(false);
  });
});

describe('files whose path was unlinked', () => {
  it('come back with their contents (holes kept), mode, offset shared with a child, a shared mapping, and a private mapping of a file whose path was taken since', async () => {
    const { verdict, pids } = await treeRoundTrip('unlinked');
    expect(pids).toHaveLength(2);
    expect(verdict).toBe('PASS');
  });
});

describe('epoll', () => {
  it('keeps its targets (registered by two tasks, each with its own fd numbers), masks (edge-triggered, a fired one-shot) and 64-bit data', async () => {
    const { verdict, pids } = await treeRoundTrip('epoll');
    expect(pids).toHaveLength(2);
    expect(verdict).toBe('PASS');
  });

  it('keeps registrations whose fd was closed while the file lives on at another fd (one number since reused by other files, one far above every open fd): keyed by the old number, readiness reported, the number closed again', async () => {
    const { verdict } = await roundTrip('epollclosed');
    expect(verdict).toBe('PASS');
  });
});

describe('inotify', () => {
  it('keeps its watches at their watch descriptors with their masks, and no stray events', async () => {
    const { verdict } = await roundTrip('inotify');
    expect(verdict).toBe('PASS');
  });
});

describe('file locks', () => {
  it('flock, OFD and POSIX locks (of two tasks) come back with their owners and ranges', async () => {
    const { verdict, pids } = await treeRoundTrip('locks');
    expect(pids).toHaveLength(2);
    expect(verdict).toBe('PASS');
  });

  it('tables of 80+ fds inherited over two generations: each task keeps its own close-on-exec bits, the POSIX and OFD locks its children took through inherited fds, the flock of the open file all three share, a number pointed at another inherited pipe, the shared file flags', async () => {
    const { verdict, pids } = await treeRoundTrip('inheritlocks');
    expect(pids).toHaveLength(3);
    expect(verdict).toBe('PASS');
  });
});

describe('terminals', () => {
  it('a pty pair inside the tree comes back at its number, with its settings, session, controlling terminal and foreground group', async () => {
    const { verdict, pids } = await treeRoundTrip('pty');
    expect(pids).toHaveLength(3);
    expect(verdict).toBe('PASS');
  });
});
