/** Open files as the kernel showed them: /proc and /sys files, status flags per open file,
 * stdio that is a named FIFO or file, files of tmpfs mapped shared (issue 16, files and /proc). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpoint, UcrEmitter, type ExternalStdioEvent } from '../src/index.js';
import { UCR, checkpointKill, cleanup, exists, fifo, freePids, killAndWait, restartDetached, startCase, tmpdir, treeOf, ucr, verdict, waitBlockedIn, waitFor } from './harness.js';

afterEach(cleanup);

/** checkpoint --kill, every pid free, restart with extra options; returns the restart's result */
async function killAndRestart(c: { pid: number; dir: string; name: string }, restartArgs: string[] = []) {
  const img = path.join(c.dir, 'image.ucr');
  await checkpointKill(c as never, img);
  if (!restartArgs.length) return restartDetached(img);
  return ucr(['restart', '-i', img, '--detach', ...restartArgs]);
}

describe('files of /proc and /sys', () => {
  it('/proc/self, /proc/thread-self, /proc/PID of a child and /proc/PID/task/TID files are reopened for the restored tasks at their offsets; /proc/stat and sysfs files are not refused as "changed"', async () => {
    const c = await startCase('procfiles', { args: ['--thread'] });
    await killAndRestart(c);
    expect(await verdict(c)).toBe('PASS');
  });

  it('with --pids they name the tasks at their new pids', async () => {
    const c = await startCase('procfiles');
    const free = freePids(c.pid, 2);
    const [root, child] = treeOf(c.pid);
    const r = await killAndRestart(c, ['--pids', `${root}:${free},${child}:${free + 1}`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    process.kill(free, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out), 20_000, 'the verdict');
    expect(fs.readFileSync(c.out, 'utf8').trim()).toBe('PASS');
  });
});

describe('status flags belong to the open file', () => {
  it('two open files of one pipe end, the two ends, and four open files of one FIFO keep their own O_NONBLOCK, O_DIRECT, and O_ASYNC with its owner (process, thread) and signal', async () => {
    const c = await startCase('pipeflags');
    await killAndRestart(c);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('pipe contents', () => {
  it('pipes of 64 KiB, 128 KiB, 256 KiB and 1 MiB keep their size and every queued byte (100 bytes, full, 256 buffers of 4000 bytes from as many writes, empty): the checkpoint peeks at them one after the other with one pipe', async () => {
    const c = await startCase('pipesizes');
    await killAndRestart(c);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('stdio', () => {
  for (const keep of [true, false])
    it(`a named FIFO on stdin is reopened by its path, its queued bytes read once (${keep ? 'the writer outside keeps it open: the same pipe' : 'the writer closes it until after the restart: refilled'})`, async () => {
      const dir = tmpdir('stdio-fifo');
      const fifo = path.join(dir, 'in.fifo');
      spawnSync('mkfifo', [fifo]);
      let writer = fs.openSync(fifo, 'r+'); // outside the tree, holds the FIFO
      const c = await startCase('stdio_fifo', { stdin: { path: fifo } });
      fs.writeSync(writer, 'before\n');
      const img = path.join(c.dir, 'image.ucr');
      const ck = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(ck.code).toBe(0);
      expect(ck.stderr).toMatch(new RegExp(`^ucr: warning: process ${c.pid} fd 0 \\(FIFO ${fifo}\\) is also open in process ${process.pid} \\(.+\\) outside the checkpointed tree: the restart opens the FIFO again by its path\\n$`));
      await waitFor(() => !exists(c.pid), 10_000, 'the tree to go');
      if (!keep) fs.closeSync(writer);
      const r = ucr(['restart', '-i', img, '--detach'], { stdio: ['ignore', 'pipe', 'pipe'] });
      expect(r.stderr).toBe('');
      if (!keep) writer = fs.openSync(fifo, 'r+');
      fs.writeSync(writer, 'after\n');
      expect(await verdict(c)).toBe('PASS');
      fs.closeSync(writer);
    });

  it('stdio leading outside the tree (an anonymous pipe to the test) is said at checkpoint: one line on stderr, an event for the library', async () => {
    const c = await startCase('blocked_read', { stdin: 'pipe' });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img]);
    expect(r.code).toBe(0);
    const link = fs.readlinkSync(`/proc/${c.pid}/fd/0`);
    const what = link.startsWith('pipe:') ? 'a pipe to a process outside the tree' : 'a socket'; // node's stdio pipes are socketpairs
    expect(r.stderr).toBe(`ucr: process ${c.pid} fd 0 (${link}) is ${what}: not saved; a restart connects it to its own stdin\n`);
    const events = new UcrEmitter();
    const seen: ExternalStdioEvent[] = [];
    events.on('external-stdio', (e) => seen.push(e));
    const res = await checkpoint(c.pid, { output: path.join(c.dir, 'image2.ucr'), events });
    expect(seen).toEqual([{ op: 'checkpoint', pid: c.pid, fds: [0], path: link, slot: 0 }]);
    expect(res.external).toEqual([{ pid: c.pid, fds: [0], path: link, slot: 0 }]);
    // on restart it is the restarting process's stdin, or the fd given with --inherit-fd
    await killAndWait(c.pid);
    const stdin = fifo(c.dir);
    const rr = ucr(['restart', '-i', img, '--detach', '--inherit-fd', '0=3'], { stdio: ['ignore', 'pipe', 'pipe', stdin.fd] });
    expect(rr.stderr).toBe('');
    await waitBlockedIn(c.pid, 0);
    stdin.write('go\n');
    expect(await verdict(c, null)).toBe('PASS');
  });
});

describe('tmpfs files mapped shared (POSIX shared memory)', () => {
  const shmCase = async () => {
    const name = `/ucr-shmfile-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
    const file = `/dev/shm${name}`;
    const c = await startCase('shmfile', { args: ['--name', name] });
    const img = path.join(c.dir, 'image.ucr');
    const pids = await checkpointKill(c, img);
    return { c, img, pids, file };
  };
  const clean = (file: string) => fs.rmSync(file, { force: true });

  it('gone after the checkpoint (a reboot, a cleanup): created again at its name with its contents, mode and holes, shared by parent and child, found again by shm_open', async () => {
    const { c, img, file } = await shmCase();
    try {
      clean(file);
      restartDetached(img);
      expect(await verdict(c)).toBe('PASS');
    } finally {
      clean(file);
    }
  });

  it('still there, written since: the very file again, with the contents it had at checkpoint', async () => {
    const { c, img, file } = await shmCase();
    try {
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.alloc(8192, 0xee), 0, 8192, 0);
      fs.closeSync(fd);
      restartDetached(img);
      expect(await verdict(c)).toBe('PASS');
    } finally {
      clean(file);
    }
  });

  it('another file at its name is refused, naming it, and left alone; a restart that fails later removes the file it created', async () => {
    const { c, img, pids, file } = await shmCase();
    try {
      const before = fs.readFileSync(file);
      fs.rmSync(file);
      fs.writeFileSync(file, before);
      const r = ucr(['restart', '-i', img, '--detach']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`ucr: tmpfs file ${file}: another file has taken its path since the checkpoint; remove it to restart (the image holds the file's contents)\n`);
      for (const p of pids) expect(exists(p)).toBe(false);
      expect(fs.readFileSync(file).equals(before)).toBe(true);
      clean(file);
      const f = spawnSync(process.execPath, [UCR, 'restart', '-i', img, '--detach'], { env: { ...process.env, UCR_FAULT: 'task-map' }, encoding: 'utf8' });
      expect(f.stderr).toMatch(/injected fault/);
      for (const p of pids) expect(exists(p)).toBe(false);
      expect(fs.existsSync(file)).toBe(false);
      void c;
    } finally {
      clean(file);
    }
  });
});
