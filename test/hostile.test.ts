/**
 * Hostile and extreme images (issue 14 part 4): every refusal is one line naming the record and
 * the field, checked before anything is allocated or created, in bounded memory; the running
 * system's limits (pid_max, the restorer's RLIMIT_NOFILE) are checked; and a program whose fds
 * reach far up restores.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../src/image/cbor.js';
import { checkpointCase, cleanup, exists, killAndWait, restartDetached, startCase, tmpdir, UCR, ucr, verdict } from './harness.js';
import { editRecord, expectClear, KIND, recordPayload } from './image-edit.js';
import { replacePayload, reseal } from './fuzz.js';
import { frames } from './image-edit.js';

afterAll(cleanup);

/** Runs the CLI with words before node (prlimit, setpriv) and node options (a heap bound). */
function ucrWith(prefix: string[], nodeOpts: string[], args: string[]) {
  const r = spawnSync(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), ...nodeOpts, UCR, ...args], { timeout: 120_000, maxBuffer: 1 << 26 });
  return { code: r.status, signal: r.signal, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

/** One clear line on stderr, exit 1. */
function expectRefused(r: { code: number | null; stderr: string }, re: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expectClear(r.stderr);
  expect(r.stderr).toMatch(/^ucr: /);
  expect(r.stderr).toMatch(re);
}

/** The highest fd a program can have here: 60000 when root may raise hard limits
 * (CAP_SYS_RESOURCE), else just below this process's hard RLIMIT_NOFILE (which the restorer
 * inherits: then the helper must fit its own fds below the program's). */
function farFd(): number {
  const eff = BigInt('0x' + /^CapEff:\s+([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'latin1'))![1]);
  const hard = Number(/^Max open files\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'latin1'))![1]);
  return eff & (1n << 24n) ? 60000 : hard - 2;
}

describe('fds near and above the restorer\'s RLIMIT_NOFILE', () => {
  it('a program whose fd is far up (its own limit raised to it) restores at that number', async () => {
    const fd = farFd();
    const c = await startCase('highfd', { args: ['--fd', String(fd)] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
    console.log(`fd ${fd} restored`);
  });

  it('is refused with one line naming the fd and the limit when the restorer cannot reach it', async () => {
    const c = await startCase('highfd', { args: ['--fd', '3000'] });
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    // a hard limit of 1024 and no CAP_SYS_RESOURCE to raise it
    const r = ucrWith(['prlimit', '--nofile=1024:1024', 'setpriv', '--bounding-set=-sys_resource', '--inh-caps=-sys_resource', '--'], [], ['restart', '-i', img, '--detach']);
    expectRefused(r, /TASK \d+\.fds\[\d+\]\.fd: fd 3000 is not below the restorer's RLIMIT_NOFILE hard limit 1024/);
    expect(exists(c.pid)).toBe(false);
  });
});
