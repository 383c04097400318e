/**
 * How the command line fails (issue 19): a usage error is one line and where to read more; every
 * other failure is one line in words naming the user's path (errno by name), never a raw Node
 * error or an internal temporary name, and leaves no file behind, even when the helper is
 * missing or dies at once; a restart without privilege says what is missing and how to get it;
 * a reader of stdout that goes away stops ucr quietly.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, exists, killAndWait, ROOT, startCase, tmpdir, trackPid, UCR, ucr, verdict, waitFor } from './harness.js';
import { NOBODY, startAsNobody } from './nobody.js';

afterEach(cleanup);

function untraced(pid: number): boolean {
  return /TracerPid:\s+0\n/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** One line, "ucr: ...", nothing of Node's own (stack, error class, temporary file). */
function expectOneCleanLine(r: { code: number | null; stderr: string }, status: number, re: RegExp, what: string): void {
  expect(r.code, `${what}: ${r.stderr}`).toBe(status);
  expect(r.stderr.split('\n').filter(Boolean), what).toHaveLength(1);
  expect(r.stderr, what).toMatch(re);
  expect(r.stderr, what).not.toMatch(/partial|node:|Error\b|^\s+at |errno \d/m);
}

describe('usage errors', () => {
  it('are one line naming the command and a pointer to its help (at most 3 lines, exit 2, no help dump)', () => {
    const cases: [string[], RegExp][] = [
      [[], /^ucr: give a command: checkpoint, restart, inspect, help, completion, version\nsee 'ucr --help'\n$/],
      [['-v'], /^ucr: give a command/],
      [['nosuchcommand'], /^ucr: unknown command 'nosuchcommand'\nsee 'ucr --help'\n$/],
      [['chekpoint', '1'], /^ucr: unknown command 'chekpoint' \(did you mean checkpoint\?\)\n/],
      [['checkpoint', '1'], /^ucr: checkpoint: required option '-o, --output <file>' not specified\nsee 'ucr checkpoint --help'\n$/],
      [['checkpoint', 'abc', '-o', 'x'], /^ucr: checkpoint: .*'abc' is invalid for argument 'pid'\. pid must be an integer >= 1\nsee 'ucr checkpoint --help'\n$/],
      [['checkpoint', '-o', 'x'], /^ucr: checkpoint: give either a pid, --session <sid> or --pgid <pgid>\nsee 'ucr checkpoint --help'\n$/],
      [['checkpoint', '1', '2', '-o', 'x'], /^ucr: checkpoint: too many arguments/],
      [['checkpoint', '1', '-o', 'x', '--tcp', 'maybe'], /^ucr: checkpoint: option '--tcp <policy>' argument 'maybe' is invalid\. Allowed choices are close, established\.\n/],
      [['restart'], /^ucr: restart: required option '-i, --input <file>' not specified\nsee 'ucr restart --help'\n$/],
      [['restart', '-i', 'x', '--timers', 'sometimes'], /^ucr: restart: option '--timers <policy>' argument 'sometimes' is invalid/],
      [['restart', '-i', 'x', '--pids', '1:3,2:3'], /^ucr: restart: .*two tasks cannot get the same new pid/],
      [['restart', '-i', 'x', '--bogus'], /^ucr: restart: unknown option '--bogus'\nsee 'ucr restart --help'\n$/],
      [['inspect'], /^ucr: inspect: give an image file \(or --trace <file>\)\nsee 'ucr inspect --help'\n$/],
      [['inspect', 'x', '--task', 'me'], /^ucr: inspect: option '--task <pid>' argument 'me' is invalid/],
      [['help', 'nosuch'], /^ucr: help: no command 'nosuch' \(commands: checkpoint, restart, inspect, help, completion, version\)\nsee 'ucr help --help'\n$/],
      [['completion'], /^ucr: completion: missing required argument 'shell'\n/],
      [['completion', 'fish'], /^ucr: completion: command-argument value 'fish' is invalid for argument 'shell'\. Allowed choices are bash, zsh\.\n/],
    ];
    for (const [args, re] of cases) {
      const r = ucr(args);
      const what = `ucr ${args.join(' ')}`;
      expect(r.code, `${what}: ${r.stderr}`).toBe(2);
      expect(r.stderr, what).toMatch(re);
      expect(r.stderr.split('\n').filter(Boolean).length, what).toBeLessThanOrEqual(3);
      expect(r.stderr, what).toMatch(/\nsee 'ucr (\w+ )?--help'\n$/);
      expect(r.stderr, what).not.toMatch(/Usage:/);
      expect(r.stdout, what).toBe('');
    }
  });
});

describe('failures', () => {
  it("are one line in words naming the user's path, errno by name, never a raw Node error; no file is left and the process runs on", async () => {
    const c = await startCase('counter');
    const dir = tmpdir('fail');
    const existing = path.join(dir, 'existing.ucr');
    fs.writeFileSync(existing, 'an older image', { mode: 0o600 });
    const garbage = path.join(dir, 'garbage.ucr');
    fs.writeFileSync(garbage, 'this is not an image at all, only words'.repeat(10), { mode: 0o600 });
    const before = fs.readdirSync(dir).sort();
    const q = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const cases: [string[], RegExp][] = [
      [['checkpoint', String(c.pid), '-o', path.join(dir, 'nodir', 'x.ucr')], new RegExp(`^ucr: output ${q(dir)}/nodir/x\\.ucr: the directory ${q(dir)}/nodir does not exist \\(ENOENT\\)\\n$`)],
      [['checkpoint', String(c.pid), '-o', dir], new RegExp(`^ucr: output ${q(dir)}: is a directory \\(EISDIR\\)\\n$`)],
      [['checkpoint', String(c.pid), '-o', existing, '--no-clobber'], new RegExp(`^ucr: output ${q(existing)}: already exists; refused \\(--no-clobber\\)\\n$`)],
      [['checkpoint', String(c.pid), '-o', path.join(dir, 'x.ucr'), '--action-script', path.join(dir, 'none.sh')], new RegExp(`^ucr: action script ${q(dir)}/none\\.sh: cannot run it: no such file or directory \\(ENOENT\\)\\n$`)],
      [['--log-file', '/proc/none/ucr.log', 'checkpoint', String(c.pid), '-o', path.join(dir, 'x.ucr')], /^ucr: log file \/proc\/none\/ucr\.log: cannot open it: [a-z ]+ \(E[A-Z]+\)\n$/],
      [['checkpoint', '999999', '-o', path.join(dir, 'x.ucr')], /^ucr: process 999999 does not exist\n$/],
      [['inspect', dir], new RegExp(`^ucr: image ${q(dir)}: is a directory, not an image file\\n$`)],
      [['restart', '-i', dir, '--detach'], new RegExp(`^ucr: image ${q(dir)}: is a directory, not an image file\\n$`)],
      [['inspect', path.join(dir, 'none.ucr')], new RegExp(`^ucr: image ${q(dir)}/none\\.ucr: no such file\\n$`)],
      [['inspect', garbage], new RegExp(`^ucr: ${q(garbage)}: not a ucr image \\(bad magic\\)\\n$`)],
      [['inspect', '--trace', dir], new RegExp(`^ucr: trace ${q(dir)}: cannot read it: is a directory \\(EISDIR\\)\\n$`)],
    ];
    for (const [args, re] of cases) {
      const what = `ucr ${args.join(' ')}`;
      expectOneCleanLine(ucr(args), 1, re, what);
      expect(fs.readdirSync(dir).sort(), what).toEqual(before);
      expect(fs.readFileSync(existing, 'utf8'), what).toBe('an older image');
      expect(untraced(c.pid), what).toBe(true);
    }
    expect(await verdict(c)).toBe('PASS');
  });

  it('with the helper missing, not executable, or dying at once: one line naming it, no file left, the process untouched, nothing restarted', async () => {
    // an installation of ucr whose ucr-helper is broken (the real one is never touched)
    const pkg = tmpdir('pkg');
    fs.cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    const release = path.join(pkg, 'build', 'Release');
    fs.mkdirSync(release, { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'build', 'Release', 'ucr_native.node'), path.join(release, 'ucr_native.node'));
    const helper = path.join(release, 'ucr-helper');
    const broken = (args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(pkg, 'bin', 'ucr'), ...args], { encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, stderr: r.stderr };
    };

    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    checkpointCase(c, img); // with the real helper, for the restarts below
    const out = tmpdir('out');
    const setups: [string, () => void, RegExp][] = [
      ['missing', () => {}, new RegExp(`^ucr: ucr-helper: not found \\(tried ${release}/ucr-helper, .*\\); run npm install\\n$`)],
      ['not executable', () => fs.copyFileSync(path.join(ROOT, 'build', 'Release', 'ucr-helper'), helper), new RegExp(`^ucr: ucr-helper ${helper}: cannot start it: permission denied \\(EACCES\\)\\n$`)],
      ['dying at once', () => fs.writeFileSync(helper, '#!/bin/sh\necho "error while loading shared libraries: libz.so.1" >&2\nexit 127\n', { mode: 0o755 }), new RegExp(`^ucr: ucr-helper ${helper}: exited with status 127 before it was done: error while loading shared libraries: libz\\.so\\.1\\n$`)],
    ];
    for (const [how, setup, re] of setups) {
      setup();
      if (how !== 'missing') fs.chmodSync(helper, how === 'not executable' ? 0o644 : 0o755);
      expectOneCleanLine(broken(['checkpoint', String(c.pid), '-o', path.join(out, 'x.ucr')]), 1, re, `checkpoint, helper ${how}`);
      expect(fs.readdirSync(out), how).toEqual([]);
      expect(untraced(c.pid), how).toBe(true);
      // a copy at a free pid: nothing may be created
      expectOneCleanLine(broken(['restart', '-i', img, '--pids', 'auto', '--detach']), 1, re, `restart, helper ${how}`);
      expect(fs.readdirSync(c.dir).sort(), how).toEqual(['img.ucr', 'result.ready', 'stderr', 'stdout']);
    }
    expect(await verdict(c)).toBe('PASS');
  });

  it('a restart without privilege names the capabilities missing, the task and the phase, and how to get them; nothing is left', async () => {
    const c = await startAsNobody('counter');
    const img = path.join(c.dir, 'img.ucr');
    const asNobody = (caps: string[], args: string[]) => {
      const r = spawnSync('setpriv', [...NOBODY, ...caps, process.execPath, UCR, ...args], { encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, stderr: r.stderr };
    };
    const caps = ['--inh-caps=+checkpoint_restore,+sys_ptrace', '--ambient-caps=+checkpoint_restore,+sys_ptrace'];
    const ck = asNobody(caps, ['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(ck.code, ck.stderr).toBe(0);
    await waitFor(() => !exists(c.pid), 10_000, 'the pid to be free');
    const node = fs.realpathSync(process.execPath);
    const r = asNobody([], ['restart', '-i', img, '--detach']);
    expectOneCleanLine(
      r,
      1,
      new RegExp(
        `^ucr: process ${c.pid}: create: task ${c.pid}: clone3 with set_tid failed: operation not permitted \\(EPERM\\); restart needs root, or CAP_CHECKPOINT_RESTORE \\+ CAP_SYS_PTRACE, and the caller \\(uid 65534\\) lacks CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE: run it with sudo, or give them to node for a user install: sudo setcap cap_checkpoint_restore,cap_sys_ptrace\\+ep ${node.replace(/[.+]/g, '\\$&')}\\n$`,
      ),
      'restart as nobody',
    );
    expect(exists(c.pid)).toBe(false);
    // with them it works: the message told the truth
    const ok = asNobody(caps, ['restart', '-i', img, '--detach']);
    expect(ok.code, ok.stderr).toBe(0);
    trackPid(c.pid);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('a reader of stdout that goes away', () => {
  it('stops every command that writes to stdout quietly, with the SIGPIPE status (141)', async () => {
    const c = await startCase('counter');
    const img = path.join(c.dir, 'img.ucr');
    const trace = path.join(c.dir, 'trace.json');
    checkpointCase(c, img, ['--trace', trace]);
    // stdout is a pipe whose reader has exited before ucr starts: its first write gets EPIPE
    const closedReader = (args: string[]) => {
      const r = spawnSync('bash', ['-c', 'exec 3> >(exit 0); wait $!; "$@" >&3', 'bash', process.execPath, UCR, ...args], { encoding: 'utf8', timeout: 60_000 });
      return { code: r.status, stderr: r.stderr };
    };
    const commands = [
      ['inspect', img],
      ['inspect', img, '--all'],
      ['inspect', img, '--task', String(c.pid)],
      ['inspect', img, '--json'],
      ['inspect', img, '--verify'],
      ['inspect', '--trace', trace],
      ['version'],
      ['help'],
      ['help', 'restart'],
      ['completion', 'bash'],
      ['--help'],
      ['checkpoint', String(c.pid), '-o', path.join(c.dir, 'json.ucr'), '--json'],
    ];
    for (const args of commands) {
      const r = closedReader(args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code, args.join(' ')).toBe(141);
    }
    // restart --json: the tree is restored and runs; only the report had nowhere to go
    await killAndWait(c.pid);
    const r = closedReader(['restart', '-i', img, '--detach', '--json']);
    trackPid(c.pid);
    expect(r).toEqual({ code: 141, stderr: '' });
    // and as people do it, into head: the whole output is longer than a pipe holds
    const head = spawnSync('bash', ['-c', 'set -o pipefail; "$@" | head -n 1 >/dev/null', 'bash', process.execPath, UCR, 'inspect', img, '--all'], { encoding: 'utf8' });
    expect(head.stderr).toBe('');
    expect([0, 141]).toContain(head.status);
    expect(await verdict(c)).toBe('PASS');
  });
});
