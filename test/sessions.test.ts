import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, exists, killAndWait, restartDetached, startCase, trackPid, treeRoundTrip, ucr, verdict, waitFor } from './harness.js';

afterEach(cleanup);

function statIds(pid: number): { state: string; ppid: number; pgid: number; sid: number } {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]) };
}

describe('zombies', () => {
  it('keep their process group and session when they differ from their parent\'s; a zombie group leader keeps its live member; a zombie alone in a group whose leader exited and was reaped stays in it (zdtm zombie01)', async () => {
    const { c, verdict, pids } = await treeRoundTrip('zombie_pgrp');
    expect(pids).toHaveLength(7);
    expect(verdict).toBe('PASS');
    expect(c.pid).toBeGreaterThan(0);
  });
});

describe('sessions', () => {
  it('a child forked before its parent\'s setsid() stays in the old session; a zombie session leader whose members were reparented to a subreaper; a session whose leader is gone (a daemon that double-forked under a subreaper)', async () => {
    const { verdict, pids } = await treeRoundTrip('sessions');
    expect(pids).toHaveLength(7);
    expect(verdict).toBe('PASS');
  });

  it('orphans of a zombie session leader: a subtree checkpoint that shares a pipe or a removed working directory with another orphan names --session, which takes the whole session back, orphans under init', async () => {
    const c = await startCase('sessions', { args: ['--orphans'] });
    const m1 = statIds(c.pid);
    const z = m1.sid;
    expect(statIds(z).state).toBe('Z');
    const others = fs
      .readdirSync('/proc')
      .map(Number)
      .filter((p) => p && p !== c.pid && p !== z && exists(p) && statIds(p).sid === z);
    expect(others).toHaveLength(2);
    const m2 = others.find((p) => statIds(p).pgid === p)!;
    const m3 = others.find((p) => p !== m2)!;
    trackPid(m3);
    expect(statIds(m2).pgid).toBe(m2);
    const hint = `it is in session ${z} of the tree: checkpoint the whole session with --session ${z}, or use --allow-leaks to checkpoint anyway`;
    const cwd = ucr(['checkpoint', String(m3), '-o', path.join(c.dir, 'm3.ucr')]);
    expect(cwd.code).toBe(1);
    expect(cwd.stderr).toBe(`ucr: process ${m3}'s working directory ${c.out}.cwd (deleted) is also the working directory of process ${c.pid} (sessions) outside the checkpointed tree (${hint})\n`);
    const img = path.join(c.dir, 'img.ucr');
    const sub = ucr(['checkpoint', String(c.pid), '-o', img]);
    expect(sub.code).toBe(1);
    expect(sub.stderr).toMatch(new RegExp(`^ucr: process ${c.pid} fd \\d+ \\(pipe:\\[\\d+\\]\\) is also held by process ${m2} \\(sessions\\) fd \\d+ outside the checkpointed tree \\(it is in session ${z} of the tree: checkpoint the whole session with --session ${z}, or use --allow-leaks to checkpoint anyway\\)\\n$`));
    const ck = ucr(['checkpoint', '--session', String(z), '-o', img, '--kill']);
    // (warnings only: stdout and stderr are files R holds too, reopened by their path)
    expect(ck.stderr.split('\n').filter((l) => l && !l.startsWith('ucr: warning: '))).toEqual([]);
    expect(ck.code).toBe(0);
    await killAndWait(c.proc.pid!); // R, whose zombie child Z was: pid Z is free once R is gone
    for (const p of [c.pid, m2, m3, z]) await waitFor(() => !exists(p), 10_000, `pid ${p} free`);
    restartDetached(img);
    for (const p of [c.pid, m2, m3]) {
      const s = statIds(p);
      expect([s.ppid, s.sid]).toEqual([1, z]);
      expect(fs.readlinkSync(`/proc/${p}/cwd`)).toBe(`${c.out}.cwd (deleted)`);
    }
    expect(statIds(c.pid).pgid).toBe(z);
    expect(statIds(m2).pgid).toBe(m2);
    expect(await verdict(c)).toBe('PASS');
  });
});
