/**
 * The addon's spawnHelper and watchExit (native/addon/spawn.cc: how the coordinator starts the
 * helper, src/kernel/helper.ts), driven with /bin/sh in place of the helper, in a Node process of
 * its own: the fds given land at 3, 4, ... even where a target number is a later source's; the
 * child has nothing else open, none of signals 1-31 ignored (Node ignores SIGPIPE) and none
 * blocked, the environment given (process.env as changed at run time, or any other); its three
 * pipes carry stdin, stdout and stderr; its exit status and a killing signal come back; the pidfd
 * and the pipes are closed afterwards; a program that cannot be started throws with code and
 * syscall.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADDON, inNode } from './in-node.js';



describe('spawnHelper', () => {
  it('gives the child exactly its pipes and fds (a target that is a later source included), default signals, the environment; reports its status and closes what it opened', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucr-spawn-'));
    try {
      const out = inNode(`
        const fs = require('node:fs'), net = require('node:net');
        const m = { exports: {} };
        process.dlopen(m, ${JSON.stringify(ADDON)});
        const a = ${JSON.stringify(dir)} + '/a', b = ${JSON.stringify(dir)} + '/b';
        fs.writeFileSync(a, 'A'); fs.writeFileSync(b, 'B');
        const fa = fs.openSync(a, 'r'), fb = fs.openSync(b, 'r');
        // target fa gets b's fd and target fa + 1 gets fa: a dup2 in order would give both b
        const fds = [];
        for (let t = 3; t <= fa + 1; t++) fds.push(t === fa ? fb : fa);
        void process.stdout; // (a pipe: libuv's first stream keeps an fd of /dev/null in reserve for good)
        const before = fs.readdirSync('/proc/self/fd').length;
        // fds this process inherited without close-on-exec (a test runner's): every child has them
        const open = fs.readdirSync('/proc/self/fd').map(Number).filter((f) => f > 2 && !fds.includes(f));
        const kept = open.filter((f) => { try { return !(parseInt(/flags:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/fdinfo/' + f, 'latin1'))[1], 8) & 0o2000000); } catch { return false; } });
        process.env.UCR_SPAWN_TEST = 'set at run time';
        const script = 'read line; echo "in:$line"; echo "env:$UCR_SPAWN_TEST"; ' +
          'echo "fa:$(stat -L -c %i /proc/self/fd/' + fa + ')"; echo "fa1:$(stat -L -c %i /proc/self/fd/' + (fa + 1) + ')"; ' +
          'grep -E "^Sig(Ign|Blk)" /proc/self/status; echo to-stderr >&2; echo fds:; ls /proc/self/fd; exit 3';
        const [pid, pidfd, inFd, outFd, errFd] = m.exports.spawnHelper('/bin/sh', ['-c', script], fds, Object.entries(process.env).map(([k, v]) => k + '=' + v));
        const stdin = new net.Socket({ fd: inFd, readable: false, writable: true });
        const stdout = new net.Socket({ fd: outFd, readable: true, writable: false });
        const stderr = new net.Socket({ fd: errFd, readable: true, writable: false });
        let o = '', e = '', closed = 0, status;
        stdout.on('data', (d) => (o += d)); stderr.on('data', (d) => (e += d));
        const done = () => {
          if (++closed < 3) return;
          fs.closeSync(fa); fs.closeSync(fb);
          const after = fs.readdirSync('/proc/self/fd').length;
          process.stdout.write(JSON.stringify({ o, e, status, kept, fa, inoA: fs.statSync(a).ino, inoB: fs.statSync(b).ino, n: fds.length, before, after: after + 2 }));
        };
        stdout.on('close', done); stderr.on('close', done);
        stdin.end('hello\\n');
        m.exports.watchExit(pidfd, (code, signal) => { status = [code, signal]; stdin.destroy(); done(); });
      `);
      const text = out.o as string;
      const head = text.slice(0, text.indexOf('fds:\n'));
      const lines = Object.fromEntries(head.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
      // ls's own fds: the ones it was given, and the directory it reads (the lowest free number)
      const listed = text.slice(text.indexOf('fds:\n') + 5).trim().split('\n').map(Number).sort((x, y) => x - y);
      expect(lines.in).toBe('hello');
      expect(lines.env).toBe('set at run time');
      expect(Number(lines.fa)).toBe(out.inoB);
      expect(Number(lines.fa1)).toBe(out.inoA);
      // 0, 1, 2 and the fds given, nothing of Node's (and ls's directory after them)
      const n = out.n as number;
      const kept = new Set(out.kept as number[]);
      expect(listed.filter((f) => f < n + 3 || !kept.has(f))).toEqual(Array.from({ length: n + 4 }, (_, i) => i));
      // signals 1-31 (as libuv's spawn; the real-time ones stay as they were)
      expect(BigInt(`0x${lines.SigIgn}`) & 0x7fffffffn).toBe(0n);
      expect(BigInt(`0x${lines.SigBlk}`)).toBe(0n);
      expect(out.e).toBe('to-stderr\n');
      expect(out.status).toEqual([3, 0]);
      expect(out.after).toBe(out.before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the child the environment passed, reports a child killed by a signal, and throws for a program that cannot be started', () => {
    const out = inNode(`
      const m = { exports: {} };
      process.dlopen(m, ${JSON.stringify(ADDON)});
      let err;
      try { m.exports.spawnHelper('/nonexistent/ucr-helper', [], [], []); } catch (e) { err = { code: e.code, syscall: e.syscall }; }
      // the environment given, not the process's (a worker thread's process.env is its own)
      const [, efd, , eout] = m.exports.spawnHelper('/usr/bin/env', [], [], ['A=1', 'B=two words']);
      const es = new (require('node:net').Socket)({ fd: eout, readable: true, writable: false });
      let envOut = '';
      es.on('data', (d) => (envOut += d));
      m.exports.watchExit(efd, () => {});
      es.on('close', () => {
        const [pid, pidfd] = m.exports.spawnHelper('/bin/sh', ['-c', 'kill -TERM $$; sleep 5'], [], []);
        m.exports.watchExit(pidfd, (code, signal) => {
          let reaped = false;
          try { process.kill(pid, 0); } catch (e) { reaped = e.code === 'ESRCH'; }
          process.stdout.write(JSON.stringify({ err, envOut, status: [code, signal], reaped }));
          process.exit(0);
        });
      });
    `);
    expect(out.err).toEqual({ code: 'ENOENT', syscall: 'posix_spawn' });
    expect(out.envOut).toBe('A=1\nB=two words\n');
    expect(out.status).toEqual([-1, 15]);
    expect(out.reaped).toBe(true);
  });
});
