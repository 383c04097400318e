/**
 * Faults at restart with objects that outlive processes (System V objects, unix socket files and
 * bound names): nothing is left after a failure or a SIGKILL at any point (split from
 * faults.test.ts, which has the tree's own cases).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectInjected, ucrWithFault } from './fault-run.js';
import { checkpointKill, cleanup, exists, restartDetached, startCase, verdict, waitFor } from './harness.js';
import { filesIn, helperPids, sysvObjects, unixNames } from './leftovers.js';

afterAll(cleanup);

describe('restart is all or nothing, with System V objects', () => {
  it('no segment, semaphore set or message queue is left after a failure or a SIGKILL', async () => {
    const c = await startCase('sysvipc');
    const objects = fs.readFileSync(`${c.out}.ipc`, 'utf8').trim().split(/\s+/);
    const ipcrm = () => {
      for (let i = 0; i + 1 < objects.length; i += 2) spawnSync('ipcrm', [objects[i]!, objects[i + 1]!], { stdio: 'ignore' });
    };
    try {
      const img = path.join(c.dir, 'img.ucr');
      const pids = await checkpointKill(c, img);
      ipcrm(); // the objects outlive the killed tree: free their ids and keys
      const ids = objects.filter((_, i) => i % 2 === 1).map(Number);
      const sysv = sysvObjects(ids);
      expect(sysv).toBe(' |  | ');
      const files = filesIn(c.dir);
      const gone = async (what: string) => {
        await waitFor(() => pids.every((q) => !exists(q)) && helperPids().length === 0, 20_000, `${what}: every task gone`);
        expect(sysvObjects(ids), `${what}: System V objects`).toBe(sysv);
        expect(filesIn(c.dir), `${what}: files`).toEqual(files);
      };
      for (const p of ['create', `task-map:${c.pid}`, 'restore-pages', 'verify', `task-finish:${c.pid}`, 'detach']) {
        expectInjected(ucrWithFault(['restart', '-i', img, '--detach'], p), p);
        await gone(p);
      }
      for (const p of ['create', `task-map:${c.pid}`, 'restore-pages']) {
        expect(ucrWithFault(['restart', '-i', img, '--detach'], p, 'sigkill').signal, p).toBe('SIGKILL');
        await gone(`SIGKILL at ${p}`);
      }
      restartDetached(img);
      expect(sysvObjects(ids), 'the objects are seen once restored').not.toBe(sysv);
      expect(await verdict(c)).toBe('PASS');
    } finally {
      ipcrm();
    }
  });
});

describe('restart is all or nothing, with unix sockets', () => {
  it('no socket file, bound name or socket is left after a failure or a SIGKILL', async () => {
    const c = await startCase('unixsock');
    const img = path.join(c.dir, 'img.ucr');
    const pids = await checkpointKill(c, img);
    // the killed tree's socket files go first: a socket file left after a failed restart is
    // then one the restart made (it replaces stale ones, and makes those where none is left)
    const stale = filesIn(c.dir).filter((f) => fs.lstatSync(path.join(c.dir, f)).isSocket());
    expect(stale.length, 'the case binds names in its directory').toBeGreaterThan(0);
    for (const f of stale) fs.rmSync(path.join(c.dir, f));
    const files = filesIn(c.dir);
    // (other programs on the machine bind sockets too: only the case's names count)
    const mine = () => unixNames().filter((n) => n.startsWith(c.dir) || n === `@ucr-unixsock-${c.pid}`);
    const names = mine(); // none: the tree was killed

    const gone = async (what: string) => {
      await waitFor(() => pids.every((q) => !exists(q)) && helperPids().length === 0, 20_000, `${what}: every task gone`);
      expect(filesIn(c.dir), `${what}: files`).toEqual(files);
      expect(mine(), `${what}: bound unix sockets`).toEqual(names);
    };
    for (const p of ['create', `task-map:${c.pid}`, 'restore-pages', `task-finish:${c.pid}`, 'detach']) {
      expectInjected(ucrWithFault(['restart', '-i', img, '--detach'], p), p);
      await gone(p);
    }
    for (const p of ['create', `task-map:${c.pid}`]) {
      expect(ucrWithFault(['restart', '-i', img, '--detach'], p, 'sigkill').signal, p).toBe('SIGKILL');
      await gone(`SIGKILL at ${p}`);
    }
    restartDetached(img);
    expect(mine().length, 'the names are seen once restored').toBeGreaterThan(1);
    expect(filesIn(c.dir), 'the socket files are made again once restored').toEqual([...files, ...stale].sort());
    expect(await verdict(c)).toBe('PASS');
  });
});
