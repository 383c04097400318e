/**
 * The addon's V8 calls (native/addon/v8heap.cc: what src/heap.ts uses instead of node:v8 and
 * node:perf_hooks), in a Node process of its own: heapSpaceSizes gives the sizes node:v8 gives;
 * setV8Flags sets a flag as v8.setFlagsFromString does; watchGC calls back after collections
 * (from the event loop, not in them), not after stop(), and does not keep the process alive.
 */
import { describe, expect, it } from 'vitest';
import { ADDON, inNode } from './in-node.js';



const PRELUDE = `
  const m = { exports: {} };
  process.dlopen(m, ${JSON.stringify(ADDON)});
  const a = m.exports;
  const v8 = require('node:v8');
  const print = (o) => require('node:fs').writeSync(1, JSON.stringify(o));
`;

describe('the addon and V8', () => {
  it('heapSpaceSizes gives the young and old space sizes node:v8 gives', () => {
    const out = inNode(`${PRELUDE}
      const keep = []; for (let i = 0; i < 2e5; i++) keep.push({ i });
      const s = v8.getHeapSpaceStatistics();
      const [young, old] = a.heapSpaceSizes();
      print({ young, old, v8young: s.find((x) => x.space_name === 'new_space').space_size, v8old: s.find((x) => x.space_name === 'old_space').space_size, n: keep.length });
    `);
    expect(out.young).toBe(out.v8young);
    expect(out.old).toBe(out.v8old);
    expect(out.young as number).toBeGreaterThan(0);
  });

  it('setV8Flags sets a flag (the exposed gc of a new context) as v8.setFlagsFromString does', () => {
    const out = inNode(`${PRELUDE}
      const vm = require('node:vm');
      const before = vm.runInNewContext('typeof gc');
      a.setV8Flags('--expose-gc');
      const after = vm.runInNewContext('typeof gc');
      a.setV8Flags('--no-expose-gc');
      const back = vm.runInNewContext('typeof gc');
      print({ before, after, back });
    `);
    expect(out).toEqual({ before: 'undefined', after: 'function', back: 'undefined' });
  });

  it('watchGC calls back after collections, from the event loop, never after stop(), keeps nobody alive, survives a collection in the teardown', () => {
    const out = inNode(`${PRELUDE}
      let calls = 0, inLoop = true;
      const stop = a.watchGC(() => { calls++; });
      // a collection now: the callback comes later, from the loop
      gc();
      const sync = calls;
      setImmediate(() => {
        const afterOne = calls;
        stop();
        gc();
        setImmediate(() => {
          print({ sync, afterOne, afterStop: calls });
          // a second watch left running, woken by a collection in Node's teardown (when
          // JavaScript may no longer run): the process still ends, and well
          a.watchGC(() => {});
          process.on('exit', () => gc());
        });
      });
    `, ['--expose-gc']);
    expect(out.sync).toBe(0);
    expect(out.afterOne as number).toBeGreaterThanOrEqual(1);
    expect(out.afterStop).toBe(out.afterOne);
  });
});
