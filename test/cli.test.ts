import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exitOf, killAndWait, startCase, tmpdir, track, UCR, ucr, ucrAsync, verdict, waitFor, waitRestored } from './harness.js';

afterEach(cleanup);

describe('ucr CLI', () => {
  it('help lists the commands and examples', () => {
    const r = ucr(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['checkpoint', 'restart', 'inspect', 'version']) expect(r.stdout).toContain(c);
    expect(ucr(['checkpoint', '--help']).stdout).toContain('ucr checkpoint 1234 --kill -o - | ucr restart -i -');
    expect(ucr(['restart', '--help']).stdout).toContain('--pid-wait');
  });

  it('usage errors exit 1 with a clear line', () => {
    const r = ucr(['checkpoint', '999999', '-o', '/tmp/never.ucr']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ucr: process 999999 does not exist\n');
    expect(fs.existsSync('/tmp/never.ucr')).toBe(false);
    expect(ucr(['checkpoint', 'abc', '-o', 'x']).code).not.toBe(0);
  });

  it('restart without --detach waits for the task and exits with its status', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    const p = ucrAsync(['restart', '-i', img]);
    const done = exitOf(p);
    await waitRestored(c.pid, 'counter');
    expect(await verdict(c)).toBe('PASS');
    expect((await done).code).toBe(0);

    // a task killed by a signal: 128 + signal
    await waitFor(() => !fs.existsSync(`/proc/${c.pid}`), 10_000, 'pid free');
    fs.rmSync(c.out);
    const p2 = ucrAsync(['restart', '-i', img]);
    const done2 = exitOf(p2);
    await waitRestored(c.pid, 'counter');
    process.kill(c.pid, 'SIGKILL');
    const r2 = await done2;
    expect(r2.stderr).toBe('');
    expect(r2.code).toBe(137);
  });

  it('streams a process through a pipe: checkpoint --kill -o - | restart -i -', async () => {
    const c = await startCase('memory');
    // async: this process must keep reaping (it is the killed task's parent) while the pipe runs
    const p = spawn('bash', ['-c', `set -o pipefail; "${process.execPath}" "${UCR}" checkpoint ${c.pid} --kill -o - | "${process.execPath}" "${UCR}" restart -i - --detach --pid-wait 10000`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const r = await exitOf(p);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it('inspect --json describes the task', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img);
    const r = ucr(['inspect', img, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.meta.tree.tasks[0].pid).toBe(c.pid);
    expect(j.meta.tasks[0].vmas.length).toBeGreaterThan(5);
    expect(j.trailer.records).toBe(4 + j.pageRecords); // HEADER, TREE, FILES, TASK, pages
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses what it cannot checkpoint yet, naming it, and leaves the process running untraced', async () => {
    const dir = tmpdir('sock');
    // fd 7: one end of a unix socket pair (the other stays with this test process)
    const p = track(spawn('sleep', ['1000'], { stdio: ['ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ipc'] }));
    await waitFor(() => fs.existsSync(`/proc/${p.pid}/fd/7`) && fs.readlinkSync(`/proc/${p.pid}/exe`).endsWith('sleep'), 5000, 'sleep with fd 7');
    const out = path.join(dir, 'x.ucr');
    const r = ucr(['checkpoint', String(p.pid), '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ucr: process ${p.pid} fd 7 \\(socket:\\[\\d+\\]\\): sockets are not supported yet \\(only as inherited stdio\\)\n$`));
    expect(fs.readdirSync(dir)).toEqual([]);
    const status = fs.readFileSync(`/proc/${p.pid}/status`, 'utf8');
    expect(status).toMatch(/TracerPid:\s+0\n/);
    expect(status).toMatch(/State:\s+S/);
  });

  it('a checkpoint that runs out of space fails with the reason, leaves no file, and the process runs on', async () => {
    const dir = tmpdir('full');
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir]).status).toBe(0);
    try {
      const c = await startCase('memory'); // 64 MiB of pages: far more than fits
      const r = ucr(['checkpoint', String(c.pid), '-o', path.join(dir, 'x.ucr')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/dump-pages: cannot write the image \(errno 28\)/);
      expect(fs.readdirSync(dir)).toEqual([]);
      expect(await verdict(c)).toBe('PASS');
    } finally {
      spawnSync('umount', [dir]);
    }
  });

  it('refuses to checkpoint a process the caller could not ptrace', async () => {
    // a process of another user, and ucr as root without CAP_SYS_PTRACE
    const p = track(spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'sleep', '1000'], { stdio: 'ignore' }));
    await waitFor(() => fs.existsSync(`/proc/${p.pid}/exe`) && fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8') === 'sleep\n', 5000, 'sleep as nobody');
    const dir = tmpdir('perm');
    const out = path.join(dir, 'x.ucr');
    const r = spawnSync('setpriv', ['--bounding-set', '-sys_ptrace', process.execPath, UCR, 'checkpoint', String(p.pid), '-o', out], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`ucr: process ${p.pid}: permission denied (the caller may not ptrace it)\n`);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
