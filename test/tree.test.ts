import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkpointCase,
  cleanup,
  exists,
  freePids,
  exitOf,
  killAndWait,
  restartDetached,
  roundTrip,
  startCase,
  tmpdir,
  track,
  trackPid,
  UCR,
  CASES,
  ucr,
  ucrAsync,
  verdict,
  waitFor,
  waitRestored,
} from './harness.js';
import { readMetadata } from '../src/image/reader.js';
import { planLines, planRestart } from '../src/orchestrator/restart-plan.js';

afterEach(cleanup);

function children(pid: number): number[] {
  const t = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return t ? t.split(' ').map(Number) : [];
}

function descendants(pid: number): number[] {
  return children(pid).flatMap((c) => [c, ...descendants(c)]);
}

describe('process trees', () => {
  it('a session leader with two children and grandchildren, a child with its own session and group, pipes with queued data, one pipe shared by three tasks', async () => {
    const { c, verdict: v } = await roundTrip('tree');
    expect(v).toBe('PASS');
    expect(c.pid).toBeGreaterThan(0);
  });

  it('an unreaped zombie child (reaped with its status after restart) and a stopped child (state T after restart)', async () => {
    const c = await startCase('zombie_stopped');
    const img = path.join(c.dir, 'img.ucr');
    const kids = children(c.pid);
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    for (const k of kids) await waitFor(() => !exists(k), 10_000, `pid ${k} free`);
    restartDetached(img);
    const states = children(c.pid).map((k) => fs.readFileSync(`/proc/${k}/stat`, 'utf8').split(') ')[1]![0]).sort();
    expect(states).toEqual(['T', 'Z']);
    expect(await verdict(c)).toBe('PASS');
  });

  it('restarts one branch of a larger tree into the caller\'s session, while the rest runs on', async () => {
    const c = await startCase('subtree');
    const r = Number(fs.readFileSync(c.out + '.branch', 'utf8'));
    const branch = [r, ...descendants(r)];
    expect(branch).toHaveLength(3);
    const img = path.join(c.dir, 'branch.ucr');
    const ck = ucr(['checkpoint', String(r), '-o', img, '--kill']);
    // the branch's stdout/stderr are files shared with the root outside it: reopened by path
    const shared = (fd: number, file: string) =>
      `ucr: warning: process ${r} fd ${fd} (${path.join(c.dir, file)}) is also held by process ${c.pid} (subtree) fd ${fd} outside the checkpointed tree: the restart opens the file again by its path, as an open file of its own\n`;
    expect(ck.stderr).toBe(shared(1, 'stdout') + shared(2, 'stderr'));
    for (const p of branch) await waitFor(() => !exists(p), 10_000, `pid ${p} free`);
    const rr = ucr(['restart', '-i', img, '--detach']);
    expect(rr.stderr).toBe('');
    expect(fs.readlinkSync(`/proc/${r}/fd/1`)).toBe(path.join(c.dir, 'stdout'));
    expect([r, ...descendants(r)].sort()).toEqual(branch.sort());
    // into the caller's session (its leader is outside the image), as its own process group
    const st = fs.readFileSync(`/proc/${r}/stat`, 'utf8').split(') ')[1]!.split(' ');
    expect(Number(st[2])).toBe(r);
    expect(Number(st[3])).toBe(Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[3]));
    process.kill(r, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out + '.R'), 20_000, 'the branch verdict');
    expect(fs.readFileSync(c.out + '.R', 'utf8').trim()).toBe('PASS');
    // the root never saw its branch go: it verifies its other branch as usual
    expect(await verdict(c)).toBe('PASS');
  });

  it('--pids auto restarts a copy of a running tree at new pids while the original runs on; --pids old:new moves chosen tasks', async () => {
    const c = await startCase('tree', { args: ['--any-pids'] });
    const img = path.join(c.dir, 'img.ucr');
    const before = [c.pid, ...descendants(c.pid)];
    checkpointCase(c, img);
    const r1 = ucr(['restart', '-i', img, '--detach', '--pids', 'auto', '--json']);
    expect(r1.stderr).toBe('');
    const m = JSON.parse(r1.stdout) as { pids: Record<string, number>; root: number; phases: { phase: string; pid?: number }[] };
    expect(Object.keys(m.pids).map(Number).sort()).toEqual(before.sort());
    // each task's kernel restart is a phase of its own (run by its tracer, several at once)
    for (const step of ['map', 'finish']) expect(m.phases.filter((p) => p.phase === step).map((p) => p.pid).sort()).toEqual(before.sort());
    for (const [o, n] of Object.entries(m.pids)) expect(n).not.toBe(Number(o));
    // the original runs on untouched; the copy is a tree of its own (writing the same result file)
    expect(await verdict(c)).toBe('PASS');
    fs.rmSync(c.out);
    process.kill(m.root, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out), 20_000, 'the copy verdict');
    expect(fs.readFileSync(c.out, 'utf8').trim()).toBe('PASS');
    for (const p of Object.values(m.pids)) await waitFor(() => !exists(p) || fs.readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z'), 10_000, 'copy exit');

    // explicit: the root moves, the rest keeps its pids
    const free = freePids(c.pid, 1, before);
    await waitFor(() => before.every((p) => !exists(p)), 10_000, 'original tree gone');
    fs.rmSync(c.out);
    const r2 = ucr(['restart', '-i', img, '--detach', '--pids', `${c.pid}:${free}`, '--json']);
    expect(r2.stderr).toBe('');
    const m2 = JSON.parse(r2.stdout) as { pids: Record<string, number> };
    expect(m2.pids[c.pid]).toBe(free);
    for (const p of before.slice(1)) expect(m2.pids[p]).toBe(p);
    process.kill(free, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out), 20_000, 'the remapped verdict');
    expect(fs.readFileSync(c.out, 'utf8').trim()).toBe('PASS');
  });

  it('refuses a pipe also held outside the tree, naming both processes; --allow-leaks checkpoints it and inspect lists it', async () => {
    const dir = tmpdir('leak');
    const py = track(
      spawn('python3', ['-c', 'import os,sys,time\nr,w=os.pipe()\nos.write(w,b"leak")\npid=os.fork()\nif pid==0:\n  os.dup2(r,5)\n  os.execvp("sleep",["sleep","1000"])\nprint(pid,flush=True)\ntime.sleep(1000)'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    );
    const child = await new Promise<number>((resolve) => py.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
    await waitFor(() => fs.existsSync(`/proc/${child}/fd/5`) && fs.readlinkSync(`/proc/${child}/exe`).endsWith('sleep'), 5000, 'sleep holding the pipe');
    const img = path.join(dir, 'leak.ucr');
    const r = ucr(['checkpoint', String(child), '-o', img]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ucr: process ${child} fd 5 \\(pipe:\\[\\d+\\]\\) is also held by process ${py.pid} \\(python3\\) fd \\d+ outside the checkpointed tree \\(use --allow-leaks to checkpoint anyway\\)\\n$`));
    expect(fs.existsSync(img)).toBe(false);
    const ok = ucr(['checkpoint', String(child), '-o', img, '--allow-leaks']);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/warning: .*leaked/);
    const ins = ucr(['inspect', img]);
    expect(ins.stdout).toMatch(new RegExp(`leaked objects .*held by ${py.pid} \\(python3\\)`));
    expect(ins.stdout).toMatch(/pipe \d+: 4 bytes queued/);
    process.kill(child, 'SIGKILL');
  });
});


describe('sessions and groups', () => {
  for (const how of ['--session', '--pgid'] as const) {
    it(`${how}: a session leader whose child died, leaving grandchildren under init, comes back the same (placeholders)`, async () => {
      const c = await startCase('orphans');
      const sidOf = (p: number) => {
        try {
          return Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]);
        } catch {
          return -1;
        }
      };
      const members = fs
        .readdirSync('/proc')
        .map(Number)
        .filter((p) => p && sidOf(p) === c.pid);
      expect(members).toHaveLength(3);
      const img = path.join(c.dir, 'img.ucr');
      const r = ucr(['checkpoint', how, String(c.pid), '-o', img, '--kill']);
      expect(r.stderr).toBe('');
      for (const p of members) await waitFor(() => !exists(p), 10_000, `pid ${p} free`);
      restartDetached(img);
      for (const p of members.filter((p) => p !== c.pid)) {
        const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
        expect(st.slice(1, 4).map(Number)).toEqual([1, c.pid, c.pid]); // ppid init, pgid, sid
      }
      expect(await verdict(c)).toBe('PASS');
    });
  }
});

describe('vfork', () => {
  it('waits for a vfork child to exec before freezing its parent, or names the wait it gave up on', async () => {
    const slow = await startCase('vforker', { args: ['--exec-after', '3000'] });
    await waitFor(() => children(slow.pid).length === 1, 5000, 'the vfork child');
    const r = ucr(['checkpoint', String(slow.pid), '-o', path.join(slow.dir, 'x.ucr'), '--vfork-wait', '300']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ucr: process ${slow.pid} is waiting in vfork\\(\\) for its child \\d+, which did not exec or exit within 300 ms\\n$`));
    expect(fs.readdirSync(slow.dir)).not.toContain('x.ucr');

    const c = await startCase('vforker', { args: ['--exec-after', '700'] });
    await waitFor(() => children(c.pid).length === 1, 5000, 'the vfork child');
    const t0 = Date.now();
    const img = path.join(c.dir, 'img.ucr');
    const ok = ucr(['checkpoint', String(c.pid), '-o', img, '--json']);
    expect(ok.stderr).toBe('');
    expect(Date.now() - t0).toBeGreaterThan(200);
    expect((JSON.parse(ok.stdout) as { tasks: number }).tasks).toBe(2); // the parent and the exec'd sleep
    expect(await verdict(c)).toBe('PASS');
    expect(await verdict(slow)).toBe('PASS');
  });

  it('a parent in clone(CLONE_VM | CLONE_VFORK), as posix_spawn() makes its child, is waited for too, saved once the child has exec\'d, and restarts with clone()\'s result', async () => {
    const slow = await startCase('vforker', { args: ['--exec-after', '3000', '--clone'] });
    await waitFor(() => children(slow.pid).length === 1, 5000, 'the vfork child');
    const r = ucr(['checkpoint', String(slow.pid), '-o', path.join(slow.dir, 'x.ucr'), '--vfork-wait', '300']);
    expect(r.stderr).toMatch(new RegExp(`^ucr: process ${slow.pid} is waiting in vfork\\(\\) for its child \\d+, which did not exec or exit within 300 ms\\n$`));
    expect(fs.readdirSync(slow.dir)).not.toContain('x.ucr'); // the 300 ms bound named above, nothing written
    expect(await verdict(slow)).toBe('PASS');

    const c = await startCase('vforker', { args: ['--exec-after', '700', '--clone'] });
    await waitFor(() => children(c.pid).length === 1, 5000, 'the vfork child');
    const kids = children(c.pid);
    const img = path.join(c.dir, 'img.ucr');
    const ok = ucr(['checkpoint', String(c.pid), '-o', img, '--kill', '--json']);
    expect(ok.stderr).toBe('');
    expect((JSON.parse(ok.stdout) as { tasks: number }).tasks).toBe(2);
    await killAndWait(c.pid);
    for (const k of kids) await waitFor(() => !exists(k), 10_000, `pid ${k} free`);
    restartDetached(img);
    expect(children(c.pid)).toEqual(kids);
    expect(fs.readlinkSync(`/proc/${kids[0]}/exe`)).toMatch(/sleep$/);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('restart into an existing session', () => {
  it('a job restarted from a terminal becomes its foreground group, and gets the terminal as stdio', async () => {
    const c = await startCase('foreground', { stdin: 'pipe', noSetsid: true });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    // ucr restart (not detached) as the session leader of a new pseudo-terminal, like a shell
    const py = 'import os,sys\npid,fd=os.forkpty()\nif pid==0:\n  os.execvp(sys.argv[1],sys.argv[1:])\nwhile True:\n  try:\n    d=os.read(fd,4096)\n  except OSError:\n    break\n  if not d:\n    break\n_,st=os.waitpid(pid,0)\nsys.exit(os.waitstatus_to_exitcode(st))';
    const p = track(spawn('python3', ['-c', py, process.execPath, UCR, 'restart', '-i', img], { stdio: ['ignore', 'ignore', 'pipe'] }));
    const done = exitOf(p);
    await waitRestored(c.pid, 'foreground');
    expect(await verdict(c)).toBe('PASS');
    expect((await done).code).toBe(0);
  });
});

describe('--pidns', () => {
  it('restarts a copy of a running tree at its own pids inside a new pid namespace, under ucr init', async () => {
    const c = await startCase('tree'); // --same-pids: every task checks its pid is the original one
    const img = path.join(c.dir, 'img.ucr');
    const before = [c.pid, ...descendants(c.pid)];
    checkpointCase(c, img);
    const r = ucr(['restart', '-i', img, '--detach', '--pidns', '--json']);
    expect(r.stderr).toBe('');
    const m = JSON.parse(r.stdout) as { root: number; pids: Record<string, number>; hostPids: Record<string, number> };
    for (const p of before) expect(m.pids[p]).toBe(p); // the original pids, inside
    const init = Number(fs.readFileSync(`/proc/${m.root}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    expect(fs.readFileSync(`/proc/${init}/comm`, 'utf8').trim()).toBe('ucr-init');
    expect(fs.readFileSync(`/proc/${m.root}/status`, 'utf8')).toMatch(new RegExp(`NSpid:\\s+${m.root}\\s+${c.pid}\\n`));
    expect(await verdict(c)).toBe('PASS'); // the original, untouched
    fs.rmSync(c.out);
    process.kill(m.root, 'SIGTERM');
    await waitFor(() => fs.existsSync(c.out), 20_000, 'the copy verdict');
    expect(fs.readFileSync(c.out, 'utf8').trim()).toBe('PASS');
    await waitFor(() => !exists(init), 10_000, 'ucr init to exit with the root');
  });
});

describe('all or nothing', () => {
  it('a bad page record late in the stream kills the whole partial tree: no task, zombie or stopped task is left', async () => {
    const c = await startCase('tree');
    const img = path.join(c.dir, 'img.ucr');
    const pids = [c.pid, ...descendants(c.pid)];
    checkpointCase(c, img, ['--kill']);
    for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} free`);
    const b = fs.readFileSync(img);
    let last = -1; // the last PAGES record
    for (let at = 16; at < b.length; at += 16 + Number(b.readBigUInt64LE(at + 8))) if (b.readUInt32LE(at) === 16) last = at;
    b[last + 16 + 16 + 5]! ^= 1;
    const bad = path.join(c.dir, 'bad.ucr');
    fs.writeFileSync(bad, b);
    const r = ucr(['restart', '-i', bad, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/restore-pages: page record at 0x[0-9a-f]+: corrupt image: checksum mismatch/);
    for (const p of pids) expect(exists(p), `pid ${p}`).toBe(false);
    // and the good image still restarts
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('--pidns with a root that was pid 1 of its own namespace', () => {
  it('comes back as pid 1 of a new namespace, without ucr init', async () => {
    const dir = tmpdir('ns1');
    const out = path.join(dir, 'result');
    const u = track(
      spawn('unshare', ['--pid', '--fork', path.join(CASES, 'launcher'), '--stdin', '/dev/null', '--stdout', path.join(dir, 'o'), '--stderr', path.join(dir, 'e'), '--', path.join(CASES, 'counter'), '--out', out], {
        stdio: 'ignore',
      }),
    );
    await waitFor(() => fs.existsSync(out + '.ready'), 10_000, 'counter as pid 1 of its namespace');
    expect(fs.readFileSync(out + '.ready', 'utf8').trim()).toBe('1');
    const host = children(u.pid!)[0]!;
    trackPid(host);
    expect(fs.readFileSync(`/proc/${host}/status`, 'utf8')).toMatch(/NSpid:\s+\d+\s+1\n/);
    const img = path.join(dir, 'img.ucr');
    const ck = ucr(['checkpoint', String(host), '-o', img]);
    expect(ck.stderr).toBe('');
    const r = ucr(['restart', '-i', img, '--detach', '--pidns', '--json']);
    expect(r.stderr).toBe('');
    const m = JSON.parse(r.stdout) as { root: number; pids: Record<string, number> };
    trackPid(m.root);
    expect(m.pids[host]).toBe(1);
    expect(fs.readFileSync(`/proc/${m.root}/status`, 'utf8')).toMatch(new RegExp(`NSpid:\\s+${m.root}\\s+1\\n`));
    expect(fs.readFileSync(`/proc/${m.root}/comm`, 'utf8').trim()).toBe('counter'); // no ucr-init above it
    const c = { name: 'counter', pid: host, out, dir, proc: u };
    expect(await verdict(c)).toBe('PASS');
    fs.rmSync(out);
    expect(await verdict({ ...c, pid: m.root })).toBe('PASS');
  });
});

describe('after a restart the tree alone holds its files', () => {
  it('a pipe whose last writer exits gives its reader end of file, while ucr still waits for the root', async () => {
    const c = await startCase('eof');
    const img = path.join(c.dir, 'img.ucr');
    const pids = [c.pid, ...descendants(c.pid)];
    checkpointCase(c, img, ['--kill']);
    for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} free`);
    const r = exitOf(ucrAsync(['restart', '-i', img])); // not detached: the helper waits for the root
    await waitRestored(c.pid, 'eof');
    expect(await verdict(c)).toBe('PASS');
    expect((await r).code).toBe(0);
  });
});

describe('the restart plan of a tree', () => {
  it("is the same line for line when no task shares a part with its parent (the plan makes a shared part's lines once)", async () => {
    const c = await startCase('tree');
    const img = path.join(c.dir, 'image.ucr');
    expect(checkpointCase(c, img).code).toBe(0);
    const run = { workers: 1, pidWaitMs: 0, spool: false, trusted: false, elapsedMs: 0 };
    const plan = (unshare: boolean) => {
      const fd = fs.openSync(img, 'r');
      try {
        const { meta } = readMetadata(fd, img);
        const byPid = new Map(meta.tasks.map((t) => [t.pid, t]));
        const parts = ['vmas', 'rlimits', 'mm', 'creds', 'sigactions', 'signals', 'itimers', 'auxv'] as const;
        // the reader gave forked children their parent's objects (else this test proves nothing)
        const shared = meta.tree.tasks.filter((e) => byPid.get(e.pid) && parts.every((k) => byPid.get(e.pid)![k] === byPid.get(e.ppid)?.[k]));
        expect(shared.length).toBeGreaterThan(0);
        if (unshare)
          for (const t of meta.tasks) {
            for (const k of parts) (t as unknown as Record<string, unknown>)[k] = structuredClone(t[k]);
            t.fds = t.fds; // rows of its own (fdRows), not the buffer of an equal table
          }
        return [...planLines(meta, planRestart(meta, {}), {}, run)].flat();
      } finally {
        fs.closeSync(fd);
      }
    };
    const lines = plan(false);
    expect(lines.length).toBeGreaterThan(100);
    expect(plan(true)).toEqual(lines);
  });
});
