import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, killAndWait, restartDetached, startCase, tmpdir, trackPid, ucr, UCR, verdict, waitFor } from './harness.js';

afterEach(cleanup);

/** A script that logs "action pid pids" lines and fails (exit 3) at failAt. */
function script(dir: string, failAt = ''): { file: string; log: () => string[] } {
  const file = path.join(dir, 'action.sh');
  const log = path.join(dir, 'actions.log');
  fs.writeFileSync(file, `#!/bin/sh\necho "$UCR_ACTION $UCR_PID $UCR_IMAGE $1" >> "${log}"\n[ "$UCR_ACTION" = "${failAt}" ] && exit 3\nexit 0\n`, { mode: 0o755 });
  return { file, log: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []) };
}

const untraced = (pid: number) => /TracerPid:\s+0\n/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));

describe('--action-script', () => {
  it('runs at pre-dump, post-dump, pre-restore, post-restore, post-resume with the pid and image', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const s = script(c.dir);
    checkpointCase(c, img, ['--kill', '--action-script', s.file]);
    expect(s.log()).toEqual([`pre-dump ${c.pid} ${img} pre-dump`, `post-dump ${c.pid} ${img} post-dump`]);
    await killAndWait(c.pid);
    const r = ucr(['restart', '-i', img, '--detach', '--action-script', s.file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    trackPid(c.pid);
    expect(s.log().slice(2)).toEqual([`pre-restore ${c.pid} ${img} pre-restore`, `post-restore ${c.pid} ${img} post-restore`, `post-resume ${c.pid} ${img} post-resume`]);
    expect(await verdict(c)).toBe('PASS');
  });

  for (const at of ['pre-dump', 'post-dump'])
    it(`a failing ${at} script aborts the checkpoint: no image, the tree runs on untraced (even with --kill)`, async () => {
      const c = await startCase('counter');
      const img = path.join(c.dir, 'img.ucr');
      const s = script(tmpdir('act'), at);
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill', '--action-script', s.file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`ucr: action script ${s.file} failed at ${at} (exit status 3)\n`);
      expect(fs.existsSync(img)).toBe(false);
      expect(fs.readdirSync(c.dir).filter((f) => f.includes('img'))).toEqual([]);
      expect(exists(c.pid) && untraced(c.pid)).toBe(true);
      expect(await verdict(c)).toBe('PASS');
    });

  it('a failing post-restore script leaves no process', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    const s = script(tmpdir('act'), 'post-restore');
    const r = ucr(['restart', '-i', img, '--detach', '--action-script', s.file]);
    trackPid(c.pid);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ucr: action script ${s.file} failed at post-restore (exit status 3)\n`);
    await waitFor(() => !exists(c.pid), 10_000, 'the restored task to be gone');
    expect(s.log().map((l) => l.split(' ')[0])).toEqual(['pre-restore', 'post-restore']);
  });
});

describe('bin/ucr run as a command (its #! line)', () => {
  /** bin/ucr executed itself, as a shell runs `ucr`, with env changed by more (undefined: unset). */
  const asCommand = (args: string[], more: Record<string, string | undefined>) => {
    const env = { ...process.env, ...more };
    for (const [k, v] of Object.entries(more)) if (v === undefined) delete env[k];
    const r = spawnSync(UCR, args, { env, timeout: 60_000 });
    return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };

  it('starts Node without NODE_EXTRA_CA_CERTS (no certificate load) and gives it back to what ucr starts', async () => {
    // Node warns at start-up when the file cannot be loaded: no warning, not loaded
    const missing = path.join(tmpdir('certs'), 'no such dir', 'certs "$(x)" ${HOME}.pem');
    const v = asCommand(['--version'], { NODE_EXTRA_CA_CERTS: missing });
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_EXTRA_CA_CERTS: missing } }).stderr.toString()).toContain('Ignoring extra certs');
    // the action script (started by ucr) sees the variable as it was given, and nothing of ucr's
    const c = await startCase('counter');
    const file = path.join(c.dir, 'env.sh');
    const log = path.join(c.dir, 'env.log');
    fs.writeFileSync(file, `#!/bin/sh\nenv | grep -E "^(UCR_)?NODE_EXTRA_CA_CERTS=" >> "${log}"\necho "$UCR_ACTION" >> "${log}"\n`, { mode: 0o755 });
    const r = asCommand(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img.ucr'), '--action-script', file], { NODE_EXTRA_CA_CERTS: missing });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(log, 'utf8')).toBe(`NODE_EXTRA_CA_CERTS=${missing}\npre-dump\nNODE_EXTRA_CA_CERTS=${missing}\npost-dump\n`);
    // unset: unset for what ucr starts too
    fs.rmSync(log);
    const u = asCommand(['checkpoint', String(c.pid), '-o', path.join(c.dir, 'img2.ucr'), '--action-script', file], { NODE_EXTRA_CA_CERTS: undefined });
    expect(u.code).toBe(0);
    expect(fs.readFileSync(log, 'utf8')).toBe('pre-dump\npost-dump\n');
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('--notify-signal', () => {
  it('a task with a handler gets si_value 1 before the checkpoint and 2 after the restart', async () => {
    const c = await startCase('notify');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill', '--notify-signal', 'SIGUSR2']);
    await killAndWait(c.pid);
    const r = ucr(['restart', '-i', img, '--detach', '--notify-signal', 'USR2', '--json']);
    expect(r.code).toBe(0);
    trackPid(c.pid);
    expect(JSON.parse(r.stdout).notified).toEqual([c.pid]);
    expect(await verdict(c)).toBe('PASS');
  });

  it('without the option nothing is sent (the case counts 0 and 0)', async () => {
    const c = await startCase('notify', { args: ['--expect', '0,0'] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a task without a handler is not sent the signal (SIGUSR2 would kill it)', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--notify-signal', 'SIGUSR2', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).notified).toEqual([]);
    expect(await verdict(c)).toBe('PASS');
  });

  it('an unknown signal is a usage error (exit 2)', () => {
    const r = ucr(['checkpoint', '1', '-o', '/tmp/never.ucr', '--notify-signal', 'SIGNOPE']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such signal "SIGNOPE"/);
  });
});
