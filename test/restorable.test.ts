import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, killAndWait, restartDetached, startCase, treeRoundTrip, ucr, verdict } from './harness.js';

afterEach(cleanup);

describe('content objects of any size', () => {
  it('unlinked files of 0, 10, 1234 and 4097 bytes and memfds of 0, 10 and 4097 bytes come back with exactly their size and contents', async () => {
    const { verdict: v } = await treeRoundTrip('odd_objects');
    expect(v).toBe('PASS');
  });
});

describe('removed directories', () => {
  it('a removed working directory (of two tasks) and a removed directory held open come back removed, at their paths, shared as they were', async () => {
    const { verdict: v, pids } = await treeRoundTrip('deleted_cwd');
    expect(pids).toHaveLength(2);
    expect(v).toBe('PASS');
  });
});

/** pid runs: alive, not stopped, traced by nobody. */
function runsFreely(pid: number): boolean {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return /State:\s+[RS]/.test(status) && /TracerPid:\s+0\n/.test(status);
}

describe('the checkpoint runs restart\'s own checks on what it writes', () => {
  it('a process with 65 supplementary groups is either restarted exactly or refused at checkpoint with one line, no file, the tree running as it was', async () => {
    const groups = Array.from({ length: 65 }, (_, i) => 1000 + i);
    const c = await startCase('creds', { asNobody: [], groups });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    if (r.code === 0) {
      await killAndWait(c.pid);
      restartDetached(img);
    } else {
      expect(r.stderr).toMatch(/^ucr: process \d+: the image would not restart \(.*groups.*\): not written\n$/);
      expect(fs.readdirSync(c.dir).filter((f) => f.startsWith('image.ucr'))).toEqual([]);
      expect(runsFreely(c.pid)).toBe(true);
    }
    expect(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(new RegExp(`Groups:\\s+${groups.join(' ')}\\s*\\n`));
    expect(await verdict(c)).toBe('PASS');
  });
});
