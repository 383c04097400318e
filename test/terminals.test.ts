/**
 * Terminals beyond inherited stdio (issue 17): a pty of the tree with bytes queued both ways,
 * /dev/tty opened by the program, /dev/null and /dev/urandom, the owner and mode of
 * /dev/pts/N, and a slave whose master was closed (hung up).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, restartDetached, startCase, trackPid, treeOf, ucr, verdict, waitFor } from './harness.js';

afterEach(cleanup);

describe('terminals', () => {
  it('a pty with a line and a half queued for the slave and output queued for the master, /dev/tty, /dev/null, /dev/urandom, a chmod/chown of /dev/pts/N and a hung up slave come back: the queued bytes read exactly once, nothing echoed again', async () => {
    const c = await startCase('ttyq');
    const pids = treeOf(c.pid);
    for (const p of pids.slice(1)) trackPid(p);
    const img = path.join(c.dir, 'image.ucr');
    const ck = checkpointCase(c, img, ['--kill']);
    expect(ck.stderr).toBe('');
    for (const p of pids) await waitFor(() => !exists(p), 10_000, `pid ${p} to be released`);
    const r = restartDetached(img);
    expect(r.stderr).toBe('');
    expect(await verdict(c)).toBe('PASS');
  });

  it('a checkpoint that reads the queued bytes leaves them in the running tree (and in the image)', async () => {
    const c = await startCase('ttyq');
    for (const p of treeOf(c.pid).slice(1)) trackPid(p);
    const img = path.join(c.dir, 'image.ucr');
    const ck = checkpointCase(c, img);
    expect(ck.stderr).toBe('');
    expect(fs.existsSync(img)).toBe(true);
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses at checkpoint a /dev/tty whose terminal is no longer its holder\'s controlling terminal, in one line; the tree runs on with its queued bytes intact', async () => {
    const c = await startCase('ttyq', { args: ['--notty'] });
    const pids = treeOf(c.pid);
    for (const p of pids.slice(1)) trackPid(p);
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ucr: process ${pids[1]} fd 10 (/dev/tty): its terminal /dev/pts/${ptsOf(pids[1]!)} is not the controlling terminal of process ${pids[1]} any more: not supported\n`);
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c)).toBe('PASS');
  });

  it('refuses at checkpoint a /dev/tty whose terminal was hung up (vhangup), in one line', async () => {
    const c = await startCase('ttyq', { args: ['--hup'] });
    const pids = treeOf(c.pid);
    for (const p of pids.slice(1)) trackPid(p);
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ucr: process ${pids[1]} fd 10 (/dev/tty): its terminal was hung up: not supported yet\n`);
    expect(fs.existsSync(img)).toBe(false);
    expect(pids.every(exists)).toBe(true);
  });

  for (const [flag, why] of [
    ['--pkt', 'wait at its packet-mode master: not supported yet'],
    ['--stopped', 'wait at its master while its output is stopped \\(Ctrl-S\\) or full: not supported yet'],
  ])
    it(`refuses at checkpoint output queued at a master it could not put back (${flag}), in one line`, async () => {
      const c = await startCase('ttyq', { args: [flag] });
      const pids = treeOf(c.pid);
      for (const p of pids.slice(1)) trackPid(p);
      const img = path.join(c.dir, 'image.ucr');
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^ucr: process ${c.pid} fd \\d+ \\(/dev/ptmx, /dev/pts/\\d+\\): 5 bytes the terminal wrote ${why}\n$`));
      expect(fs.existsSync(img)).toBe(false);
      expect(pids.every(exists)).toBe(true);
    });
});

/** the index of the pty on a process's fd 0 */
function ptsOf(pid: number): number {
  return Number(/^\/dev\/pts\/(\d+)$/.exec(fs.readlinkSync(`/proc/${pid}/fd/0`))![1]);
}
