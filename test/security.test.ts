/**
 * Privilege (docs/security.md): images are 0600; restart refuses an image file that others could
 * write or that is owned by neither root nor its maker unless --trust-image; a caller that is not
 * root (only CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE, as user nobody) checkpoints and restarts its
 * own processes, and is refused any image whose recorded credentials are not its own, even a
 * forged one.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, killAndWait, NOBODY, restartDetached, startAsNobody, startCase, UCR, ucr, verdict, waitFor } from './harness.js';
import { editRecord, KIND } from './image-edit.js';

afterEach(cleanup);

const CAPS = ['--inh-caps=+checkpoint_restore,+sys_ptrace', '--ambient-caps=+checkpoint_restore,+sys_ptrace'];

/** ucr run as nobody with CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE only. */
function ucrAsNobody(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync('setpriv', [...NOBODY, ...CAPS, process.execPath, UCR, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

function expectOneLine(r: { code: number | null; stderr: string }, re: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(re);
}

describe('the image file must come from someone trusted', () => {
  it('refuses an image others could write, or owned by another user; --trust-image overrides', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    expect(fs.statSync(img).mode & 0o777).toBe(0o600);
    fs.chmodSync(img, 0o666);
    expectOneLine(ucr(['restart', '-i', img, '--detach']), /^ucr: image .*img\.ucr: writable by other users \(mode 0666\); refused \(--trust-image/);
    expect(exists(c.pid)).toBe(false);
    fs.chmodSync(img, 0o620);
    expectOneLine(ucr(['restart', '-i', img, '--detach']), /writable by other users \(mode 0620\)/);
    fs.chmodSync(img, 0o600);
    fs.chownSync(img, 65534, 65534);
    expectOneLine(ucr(['restart', '-i', img, '--detach']), /^ucr: image .*img\.ucr: owned by uid 65534, neither root nor uid 0 that made it; refused/);
    expect(exists(c.pid)).toBe(false);
    expect(ucr(['restart', '-i', img, '--detach', '--trust-image']).code).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('a caller without root (CAP_CHECKPOINT_RESTORE + CAP_SYS_PTRACE, as nobody)', () => {
  it('checkpoints and restarts its own process, which comes back as nobody with no capability', async () => {
    const c = await startAsNobody('creds');
    const img = path.join(c.dir, 'img.ucr');
    const ck = ucrAsNobody(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(ck.code, ck.stderr).toBe(0);
    expect(fs.statSync(img).uid).toBe(65534);
    await waitFor(() => !exists(c.pid), 10_000, 'the pid to be free');
    const r = ucrAsNobody(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    const status = fs.readFileSync(`/proc/${c.pid}/status`, 'utf8');
    expect(status).toMatch(/Uid:\s+65534\s+65534\s+65534\s+65534\n/);
    expect(status).toMatch(/CapEff:\s+0+\n/);
    expect(status).toMatch(/CapPrm:\s+0+\n/);
    expect(await verdict(c)).toBe('PASS');
  });

  it("is refused another user's image, and a forged one claiming root's or its own credentials with more capabilities", async () => {
    // root's process, image made by root
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    fs.chmodSync(c.dir, 0o755);
    fs.chownSync(img, 65534, 65534); // readable by nobody; --trust-image gets past the file check
    expectOneLine(ucrAsNobody(['restart', '-i', img, '--detach', '--trust-image']), new RegExp(`^ucr: process ${c.pid}: recorded uids 0/0/0/0 are not the caller's; only root may restore it \\(the caller is uid 65534\\)`));
    expect(exists(c.pid)).toBe(false);

    // nobody's own image, edited to claim uid 0 (the checksums are recomputed: no signature)
    const n = await startAsNobody('counter');
    const own = path.join(n.dir, 'own.ucr');
    expect(ucrAsNobody(['checkpoint', String(n.pid), '-o', own, '--kill']).code).toBe(0);
    await waitFor(() => !exists(n.pid), 10_000, 'the pid to be free');
    const good = fs.readFileSync(own);
    const forge = (name: string, edit: (t: Record<string, any>) => void) => {
      const p = path.join(n.dir, name);
      fs.writeFileSync(p, editRecord(good, KIND.TASK, edit), { mode: 0o600 });
      fs.chownSync(p, 65534, 65534);
      return p;
    };
    const asRoot = forge('root.ucr', (t) => (t.creds.uid = [0, 0, 0, 0]));
    expectOneLine(ucrAsNobody(['restart', '-i', asRoot, '--detach']), new RegExp(`^ucr: process ${n.pid}: recorded uids 0/0/0/0 are not the caller's`));
    const groups = forge('groups.ucr', (t) => (t.creds.groups = [0]));
    expectOneLine(ucrAsNobody(['restart', '-i', groups, '--detach']), /recorded groups \[0\] are not the caller's \[\]/);
    const caps = forge('caps.ucr', (t) => (t.creds.caps.permitted = t.creds.caps.effective = '00000000003fffff'));
    expectOneLine(ucrAsNobody(['restart', '-i', caps, '--detach']), /its permitted capabilities hold 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,20,21, which the caller has not/);
    expect(exists(n.pid)).toBe(false);
    // the untouched one restarts, as nobody
    expect(ucrAsNobody(['restart', '-i', own, '--detach']).code).toBe(0);
    expect(fs.readFileSync(`/proc/${n.pid}/status`, 'utf8')).toMatch(/Uid:\s+65534\s+65534\s+65534\s+65534\n/);
    expect(await verdict(n)).toBe('PASS');
    void restartDetached;
  });
});
