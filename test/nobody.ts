/** Running ucr and test cases as user nobody (uid/gid 65534, no supplementary group), for the
 * privilege tests (test/security.test.ts, test/privilege.test.ts). */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { CASES, exists, tmpdir, track, trackPid, UCR, waitFor, type Case } from './harness.js';
import { editRecord, resealed } from './image-edit.js';

export const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const NOBODY_UID = 65534;
const CAPS = ['--inh-caps=+checkpoint_restore,+sys_ptrace', '--ambient-caps=+checkpoint_restore,+sys_ptrace'];

/** ucr run as nobody with CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE only. */
export function ucrAsNobody(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync('setpriv', [...NOBODY, ...CAPS, process.execPath, UCR, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

/** A case run as nobody in a directory everyone may write, stdio on /dev/null (files root
 * opened could not be reopened by nobody). */
export async function startAsNobody(name: string, args: string[] = []): Promise<Case> {
  const dir = tmpdir(`nobody-${name}`);
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'result');
  const proc = track(
    spawn(path.join(CASES, 'launcher'), ['--stdin', '/dev/null', '--stdout', '/dev/null', '--stderr', '/dev/null', '--', 'setpriv', ...NOBODY, path.join(CASES, name), '--out', out, ...args], { stdio: 'ignore', cwd: dir }),
  );
  await waitFor(() => fs.existsSync(out + '.ready') || fs.existsSync(out), 20_000, `${name} to be ready`);
  if (!fs.existsSync(out + '.ready')) throw new Error(`${name} failed to set up: ${fs.readFileSync(out, 'utf8').trim()}`);
  const pid = Number(fs.readFileSync(out + '.ready', 'utf8').trim());
  trackPid(pid);
  return { name, pid, out, dir, proc };
}

/** Exit status 1 and exactly one line on stderr, matching re. */
export function expectOneLine(r: { code: number | null; stderr: string }, re: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(re);
}

/** A nobody process of case name, checkpointed by nobody itself with --kill: its image (owned
 * by nobody) and that image's bytes. */
export async function userImage(name: string, args: string[] = []): Promise<{ c: Case; img: string; good: Buffer }> {
  const c = await startAsNobody(name, args);
  const img = path.join(c.dir, 'img.ucr');
  const r = ucrAsNobody(['checkpoint', String(c.pid), '-o', img, '--kill']);
  expect(r.code, r.stderr).toBe(0);
  expect(fs.statSync(img).uid).toBe(NOBODY_UID);
  await waitFor(() => !exists(c.pid), 10_000, 'the pid to be free');
  return { c, img, good: fs.readFileSync(img) };
}

/** The image with a record edited and the digest chained again, written as nobody's file (the
 * attacker's). */
export function forge(c: Case, good: Buffer, name: string, kind: number, edit: (r: Record<string, any>) => void): string {
  const p = path.join(c.dir, name);
  fs.writeFileSync(p, resealed(editRecord(good, kind, edit)), { mode: 0o600 });
  fs.chownSync(p, NOBODY_UID, NOBODY_UID);
  return p;
}
