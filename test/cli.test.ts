import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exitOf, killAndWait, startCase, tmpdir, track, trackPid, UCR, ucr, ucrAsync, verdict, waitFor, waitRestored } from './harness.js';

afterEach(cleanup);

describe('ucr CLI', () => {
  it('help lists the commands and examples', () => {
    const r = ucr(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['checkpoint', 'restart', 'inspect', 'version']) expect(r.stdout).toContain(c);
    expect(ucr(['checkpoint', '--help']).stdout).toContain('ucr checkpoint 1234 --kill -o - | ssh host ucr restart -i -');
    expect(ucr(['restart', '--help']).stdout).toContain('--pid-wait');
  });

  it('exit codes: 1 for an error with one clear line, 2 for usage errors', () => {
    const r = ucr(['checkpoint', '999999', '-o', '/tmp/never.ucr']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('ucr: process 999999 does not exist\n');
    expect(fs.existsSync('/tmp/never.ucr')).toBe(false);
    expect(ucr(['checkpoint', 'abc', '-o', 'x']).code).toBe(2);
    expect(ucr(['checkpoint', '-o', 'x']).stderr).toBe("ucr: checkpoint: give either a pid, --session <sid> or --pgid <pgid>\nsee 'ucr checkpoint --help'\n");
    expect(ucr(['checkpoint', '-o', 'x']).code).toBe(2);
    expect(ucr(['checkpoint', '1']).code).toBe(2); // -o missing
    expect(ucr(['nosuchcommand']).code).toBe(2);
    expect(ucr(['inspect']).code).toBe(2);
    expect(ucr(['restart', '-i', '/tmp/never.ucr', '--timers', 'sometimes']).code).toBe(2);
    expect(ucr(['restart', '-i', '/tmp/never.ucr']).stderr).toBe('ucr: image /tmp/never.ucr: no such file\n');
    expect(ucr(['--version']).code).toBe(0);
    expect(ucr(['inspect', '--help']).code).toBe(0);
  });

  it('SIGINT aborts: a checkpoint leaves the tree running (exit 130), a restart leaves no process', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const marker = path.join(c.dir, 'in-action');
    const script = path.join(c.dir, 'slow.sh');
    // the action script blocks at the named action until ucr is interrupted (then it is ended)
    fs.writeFileSync(script, `#!/bin/sh\n[ "$UCR_ACTION" = "$1" ] || exit 0\n[ "$UCR_ACTION" = "$SLOW_AT" ] || exit 0\ntouch "${marker}"\nexec sleep 600\n`, { mode: 0o755 });
    const run = (args: string[], slowAt: string) => {
      const p = spawn(process.execPath, [UCR, ...args, '--action-script', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SLOW_AT: slowAt } });
      track(p);
      return p;
    };
    const p1 = run(['checkpoint', String(c.pid), '-o', img, '--kill'], 'post-dump');
    const done1 = exitOf(p1);
    await waitFor(() => fs.existsSync(marker), 20_000, 'post-dump');
    p1.kill('SIGINT');
    const r1 = await done1;
    expect(r1.stderr).toBe(`ucr: checkpoint of process ${c.pid} aborted\n`);
    expect(r1.code).toBe(130);
    expect(fs.existsSync(img)).toBe(false);
    expect(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0\n/);

    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    fs.rmSync(marker);
    const p2 = run(['restart', '-i', img, '--detach'], 'post-restore');
    const done2 = exitOf(p2);
    await waitFor(() => fs.existsSync(marker), 20_000, 'post-restore');
    expect(fs.existsSync(`/proc/${c.pid}`)).toBe(true);
    p2.kill('SIGINT');
    const r2 = await done2;
    expect(r2.stderr).toBe('ucr: restart aborted: no process was left\n');
    expect(r2.code).toBe(130);
    await waitFor(() => !fs.existsSync(`/proc/${c.pid}`), 10_000, 'no process left');
  });

  it('--trace writes a Chrome trace naming every phase per task; inspect --trace prints it as a table', async () => {
    const c = await startCase('tree');
    const img = path.join(c.dir, 'img.ucr');
    const t1 = path.join(c.dir, 'checkpoint.json');
    const t2 = path.join(c.dir, 'restart.json');
    checkpointCase(c, img, ['--kill', '--trace', t1]);
    const pids = (JSON.parse(ucr(['inspect', img, '--json']).stdout).meta.tree.tasks as { pid: number }[]).map((t) => t.pid);
    for (const p of pids) await waitFor(() => !fs.existsSync(`/proc/${p}`), 10_000, `pid ${p} free`);
    const r = ucr(['restart', '-i', img, '--detach', '--trace', t2]);
    expect(r.code).toBe(0);
    for (const p of pids) trackPid(p);
    expect(await verdict(c)).toBe('PASS');
    const expected = {
      [t1]: { op: 'checkpoint', perTask: ['freeze', 'capture', 'pages'], global: ['files', 'write-metadata', 'write-pages', 'kill'] },
      [t2]: { op: 'restart', perTask: ['map', 'finish'], global: ['read-metadata', 'check', 'plan', 'create', 'memory', 'verify', 'resume'] },
    };
    for (const [file, want] of Object.entries(expected)) {
      const j = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(j.displayTimeUnit).toBe('ms');
      expect(j.otherData.op).toBe(want.op);
      const xs = j.traceEvents.filter((e: { ph: string }) => e.ph === 'X');
      for (const e of xs) {
        expect(typeof e.ts).toBe('number');
        expect(e.dur).toBeGreaterThanOrEqual(0);
        expect(e.pid).toBe(1);
      }
      const rows = j.traceEvents.filter((e: { ph: string; name: string }) => e.ph === 'M' && e.name === 'thread_name').map((e: { args: { name: string } }) => e.args.name);
      expect(rows.sort()).toEqual(['coordinator', ...pids.map((p) => `task ${p}`)].sort());
      for (const ph of want.global) expect(xs.some((e: { name: string; tid: number }) => e.name === ph && e.tid === 0), `${want.op} ${ph}`).toBe(true);
      for (const ph of want.perTask)
        for (const p of pids.slice(0, 1)) expect(xs.some((e: { name: string; tid: number }) => e.name === ph && e.tid === p), `${want.op} ${ph} of ${p}`).toBe(true);
      // every live task has its own per-task phases
      const live = new Set(xs.filter((e: { name: string }) => e.name === want.perTask[0]).map((e: { tid: number }) => e.tid));
      expect(live.size).toBe(5);
      const table = ucr(['inspect', '--trace', file]);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toBe(`${want.op}: ${xs.length} phase(s)`);
      for (const ph of [...want.global, ...want.perTask]) expect(table.stdout).toMatch(new RegExp(`\\s${ph}$`, 'm'));
    }
    const bad = path.join(c.dir, 'bad.json');
    fs.writeFileSync(bad, '{"traceEvents": 3}');
    expect(ucr(['inspect', '--trace', bad]).stderr).toBe(`ucr: ${bad}: not a trace file: no traceEvents array\n`);
  });

  it('inspect --all draws the tree and lists memory, fds per task and shared objects', async () => {
    const c = await startCase('tree');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img);
    const j = JSON.parse(ucr(['inspect', img, '--json']).stdout);
    const r = ucr(['inspect', img, '--all']);
    expect(r.code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
    const out = r.stdout;
    const tasks = j.meta.tree.tasks as { pid: number; ppid: number; comm: string; sid: number; pgid: number }[];
    const [root, ...rest] = tasks;
    const byPpid = (p: number) => tasks.filter((t) => t.ppid === p && t !== root).sort((a, b) => a.pid - b.pid);
    const line = (t: (typeof tasks)[0]) => `${t.pid} ${t.comm} [running] sid ${t.sid} pgid ${t.pgid}`;
    // root, then A (├─) with A1 under it (│  └─), then B (└─) with B1 (   └─)
    const [a, b] = byPpid(root!.pid);
    const expectTree = [
      `  ${line(root!)}`,
      `  ├─ ${line(a!)}`,
      `  │  └─ ${line(byPpid(a!.pid)[0]!)}`,
      `  └─ ${line(b!)}`,
      `     └─ ${line(byPpid(b!.pid)[0]!)}`,
    ].join('\n');
    expect(out).toContain(`tree:\n${expectTree}\nmemory:`);
    expect(rest.length).toBe(4);
    for (const t of tasks) expect(out).toMatch(new RegExp(`^  ${t.pid} +\\d+ +[\\d.]+ MiB +[\\d.]+ MiB +\\d+  `, 'm'));
    // the pipe shared by root (read end), A and B (write end) is one object held three times
    const shared = out.split('shared objects:')[1]!.split('\n').filter((l) => /^  #\d+ pipe .* write end/.test(l));
    expect(shared.some((l) => l.includes(`${a!.pid} fd`) && l.includes(`${b!.pid} fd`))).toBe(true);
    expect(out).toMatch(new RegExp(`^  ${root!.pid}:\n(    .*\n)*? +\\d+ #\\d+ +pipe pipe:\\[\\d+\\] \\(pipe \\d+ read end\\)`, 'm'));
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

  it('--log-file: JSON lines with every phase (debug by default), --log-level filters', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const log = path.join(c.dir, 'ucr.log');
    const r = ucr(['--log-file', log, 'checkpoint', String(c.pid), '-o', img]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const phases = lines.filter((l) => l.msg === 'phase');
    expect(phases.map((l) => l.phase)).toEqual(expect.arrayContaining(['freeze', 'capture', 'files', 'write-metadata', 'write-pages', 'resume']));
    for (const l of phases) expect(l).toMatchObject({ level: 20, module: 'checkpoint', pid: c.pid, tool: 'ucr' });
    const quiet = path.join(c.dir, 'quiet.log');
    expect(ucr(['--log-file', quiet, '--log-level', 'warn', 'checkpoint', String(c.pid), '-o', img + '2']).code).toBe(0);
    expect(fs.readFileSync(quiet, 'utf8')).toBe('');
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
    expect(j.trailer.records).toBe(5 + j.pageRecords); // HEADER, TREE, FILES, IPC, TASK, pages
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses what it cannot checkpoint yet, naming it, and leaves the process running untraced', async () => {
    // a character device that is neither stateless nor a terminal
    const dir = tmpdir('kmsg');
    fs.writeFileSync(path.join(dir, 'f'), '');
    const p = track(spawn('bash', ['-c', 'exec 7</dev/kmsg; exec sleep 1000'], { stdio: 'ignore' }));
    await waitFor(() => fs.existsSync(`/proc/${p.pid}/fd/7`) && fs.readlinkSync(`/proc/${p.pid}/exe`).endsWith('sleep'), 5000, 'sleep with fd 7');
    const out = path.join(dir, 'x.ucr');
    const r = ucr(['checkpoint', String(p.pid), '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ucr: process ${p.pid} fd 7 (/dev/kmsg): terminals and other character devices are not supported yet (only as inherited stdio)\n`);
    expect(fs.readdirSync(dir)).toEqual(['f']);
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
      expect(r.stderr).toMatch(/dump-pages: cannot write the image: no space left on device \(ENOSPC\)/);
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
