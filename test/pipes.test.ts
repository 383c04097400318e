/**
 * The addon's pipeRead and pipeWrite (native/addon/pipes.cc: the helper's pipes without
 * node:net, src/kernel/helper.ts), driven with /bin/cat and /bin/sh in place of the helper, in a
 * Node process of its own: 8 MiB written in pieces through cat come back whole and in order
 * although the pipes hold 1 MiB (the rest is kept, written as the pipe drains, 'drain' said
 * once it is all out); end() lets cat see EOF only after everything, and the reader's end comes
 * after the last byte; a reader that has gone makes a write fail with EPIPE ('close' with its
 * errno, later writes dropped); destroy() drops what is kept and closes at once (what cat got is
 * a prefix of what was written); every fd is closed afterwards; node:net and node:stream are
 * never loaded.
 */
import { describe, expect, it } from 'vitest';
import { ADDON, inNode } from './in-node.js';



/** The prelude of each script: the addon, spawn(args) of a program with its three pipes, the
 * fd count, and print (the result as one JSON line on fd 1, with write(2)). */
const PRELUDE = `
  const fs = require('node:fs');
  const m = { exports: {} };
  process.dlopen(m, ${JSON.stringify(ADDON)});
  const a = m.exports;
  const env = Object.entries(process.env).map(([k, v]) => k + '=' + v);
  const spawn = (file, args) => a.spawnHelper(file, args, [], env);
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const print = (o) => fs.writeSync(1, JSON.stringify(o));
  // 8 MiB in which every 4-byte word is its own offset: a byte out of place shows
  const data = Buffer.alloc(8 << 20);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
`;

describe('pipeRead and pipeWrite', () => {
  it('carry 8 MiB through cat whole and in order, keep what the pipe does not take, say drain and the end, and close every fd', () => {
    const out = inNode(`${PRELUDE}
      const before = fds();
      const [pid, pidfd, inFd, outFd, errFd] = spawn('/bin/cat', []);
      const got = [];
      let gotLen = 0, ended = false, endErr = -1, events = [], maxKept = 0, order = [];
      a.pipeRead(outFd, (chunk, n) => {
        if (chunk) { got.push(Buffer.from(chunk.subarray(0, n))); gotLen += n; return; }
        ended = true; endErr = n; order.push('out-end');
        finish();
      });
      a.pipeRead(errFd, (chunk) => { if (!chunk) { order.push('err-end'); finish(); } });
      let exited;
      a.watchExit(pidfd, (code, sig) => { exited = [code, sig]; order.push('exit'); finish(); });
      const w = a.pipeWrite(inFd, (ev, errno) => { events.push([ev, errno]); if (ev === 'close') finish(); });
      // eight writes of 1 MiB at once: the pipe takes 1 MiB, cat cannot read until the loop runs
      for (let i = 0; i < 8; i++) maxKept = Math.max(maxKept, w.write(data.subarray(i << 20, (i + 1) << 20)));
      const keptAfter = w.write(Buffer.alloc(0));
      w.end();
      let left = 4;
      function finish() {
        if (--left) return;
        const all = Buffer.concat(got);
        print({ same: all.equals(data), gotLen, endErr, events, maxKept, keptAfter, exited, order,
          fdsLeft: fds() - before, stream: process.moduleLoadList.some((x) => /NativeModule (net|stream)$/.test(x)) });
      }
    `);
    expect(out.gotLen).toBe(8 << 20);
    expect(out.same).toBe(true);
    expect(out.endErr).toBe(0);
    // most of it was kept at first, then written; end() came before it was all out, so no
    // drain is said, only the close after the last byte
    expect(out.maxKept as number).toBeGreaterThan(4 << 20);
    expect(out.keptAfter).toBe(out.maxKept);
    expect(out.events).toEqual([['close', 0]]);
    expect(out.exited).toEqual([0, 0]);
    expect(out.fdsLeft).toBe(0);
    expect(out.stream).toBe(false);
  });

  it("says drain once what was kept is written, and the writer goes on after it", () => {
    const out = inNode(`${PRELUDE}
      const [pid, pidfd, inFd, outFd, errFd] = spawn('/bin/cat', []);
      let gotLen = 0, drains = 0, phase = 0;
      const got = [];
      a.pipeRead(outFd, (chunk, n) => { if (chunk) { got.push(Buffer.from(chunk.subarray(0, n))); gotLen += n; } else done(); });
      a.pipeRead(errFd, () => {});
      a.watchExit(pidfd, () => {});
      const w = a.pipeWrite(inFd, (ev) => {
        if (ev !== 'drain') return;
        drains++;
        // the second half after the first has drained
        if (phase++ === 0) { w.write(data.subarray(4 << 20)); } else w.end();
      });
      const kept = w.write(data.subarray(0, 4 << 20));
      function done() { print({ kept, drains, same: Buffer.concat(got).equals(data), gotLen }); }
    `);
    expect(out.kept as number).toBeGreaterThan(0);
    expect(out.drains).toBe(2);
    expect(out.gotLen).toBe(8 << 20);
    expect(out.same).toBe(true);
  });

  it('reports a reader that has gone as a close with EPIPE, drops later writes, closes the fd', () => {
    const out = inNode(`${PRELUDE}
      const before = fds();
      // a program that closes its stdin and exits: nothing reads the pipe any more
      const [pid, pidfd, inFd, outFd, errFd] = spawn('/bin/sh', ['-c', 'exec <&-; exit 0']);
      let left = 3;
      a.pipeRead(outFd, (c) => { if (!c) step(); });
      a.pipeRead(errFd, (c) => { if (!c) step(); });
      const events = [];
      const w = a.pipeWrite(inFd, (ev, errno) => { events.push([ev, errno]); finish(); });
      let kept;
      a.watchExit(pidfd, () => step());
      function step() {
        if (--left) return;
        // its read end is closed: the first write fails
        kept = [w.write(data.subarray(0, 1024)), w.write(data.subarray(0, 1024))];
      }
      function finish() { setImmediate(() => print({ events, kept, fdsLeft: fds() - before })); }
    `);
    expect(out.events).toEqual([['close', 32]]);
    expect(out.kept).toEqual([0, 0]);
    expect(out.fdsLeft).toBe(0);
  });

  it('destroy() drops what is kept and closes at once: what the reader gets is a prefix of what was written', () => {
    const out = inNode(`${PRELUDE}
      const before = fds();
      const [pid, pidfd, inFd, outFd, errFd] = spawn('/bin/cat', []);
      const got = [];
      let left = 4;
      a.pipeRead(outFd, (chunk, n) => { if (chunk) got.push(Buffer.from(chunk.subarray(0, n))); else finish(); });
      a.pipeRead(errFd, (c) => { if (!c) finish(); });
      a.watchExit(pidfd, () => finish());
      const events = [];
      const w = a.pipeWrite(inFd, (ev, errno) => { events.push([ev, errno]); finish(); });
      const kept = w.write(data);
      w.destroy();
      const after = w.write(data.subarray(0, 4096));
      function finish() {
        if (--left) return;
        const all = Buffer.concat(got);
        print({ kept, after, events, len: all.length, prefix: all.equals(data.subarray(0, all.length)), fdsLeft: fds() - before });
      }
    `);
    expect(out.kept as number).toBeGreaterThan(0);
    expect(out.after).toBe(0);
    expect(out.events).toEqual([['close', 0]]);
    expect(out.len as number).toBeLessThan(8 << 20);
    expect(out.prefix).toBe(true);
    expect(out.fdsLeft).toBe(0);
  });
});
