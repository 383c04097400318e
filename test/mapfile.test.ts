/**
 * The addon's mapFile (native/addon/mapfile.cc), what bin/ucr loads the bundle and its code
 * cache with: a file's bytes as a Buffer or a latin1 string that V8 compiles like any source,
 * the same bytes readFileSync gives; a file replaced by rename leaves the mapped text as it was
 * (scripts/bundle.mjs replaces dist/ucr.cjs that way); empty, missing and directory paths; the
 * mapping goes when V8 lets the value go. In a Node process of its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDON, inNode } from './in-node.js';

const PRELUDE = `
  const m = { exports: {} };
  process.dlopen(m, ${JSON.stringify(ADDON)});
  const a = m.exports;
  const fs = require('node:fs');
  const print = (o) => fs.writeSync(1, JSON.stringify(o));
  const mapped = (f) => fs.readFileSync('/proc/self/maps', 'latin1').split('\\n').filter((l) => l.endsWith(' ' + f)).length;
`;

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ucr-mapfile-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('mapFile', () => {
  it('gives the bytes readFileSync gives, as a Buffer and as a latin1 string', () => {
    const f = path.join(dir, 'bytes');
    const bytes = Buffer.alloc(300_001);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff; // every byte value
    fs.writeFileSync(f, bytes);
    const out = inNode(`${PRELUDE}
      const b = a.mapFile(${JSON.stringify(f)});
      const s = a.mapFile(${JSON.stringify(f)}, true);
      const want = fs.readFileSync(${JSON.stringify(f)});
      print({ buffer: Buffer.isBuffer(b), sameBuffer: b.equals(want), string: typeof s, sameString: s === want.toString('latin1'), len: s.length, maps: mapped(${JSON.stringify(f)}) });
    `);
    expect(out).toEqual({ buffer: true, sameBuffer: true, string: 'string', sameString: true, len: 300_001, maps: 2 });
  });

  it('a mapped script compiles and runs, with a code cache given as a mapped Buffer', () => {
    const f = path.join(dir, 'script.js');
    fs.writeFileSync(f, `(function () { let s = 0; for (let i = 1; i <= 100; i++) s += i; return s + ${JSON.stringify('-mapped')}; })()`);
    const out = inNode(`${PRELUDE}
      const vm = require('node:vm');
      const first = new vm.Script(a.mapFile(${JSON.stringify(f)}, true), { filename: ${JSON.stringify(f)} });
      fs.writeFileSync(${JSON.stringify(f + '.cache')}, first.createCachedData());
      const again = new vm.Script(a.mapFile(${JSON.stringify(f)}, true), { filename: ${JSON.stringify(f)}, cachedData: a.mapFile(${JSON.stringify(f + '.cache')}) });
      print({ value: again.runInThisContext(), rejected: again.cachedDataRejected });
    `);
    expect(out).toEqual({ value: '5050-mapped', rejected: false });
  });

  it('keeps the text it mapped when the file is replaced by rename', () => {
    const f = path.join(dir, 'renamed');
    fs.writeFileSync(f, 'old text');
    const out = inNode(`${PRELUDE}
      const s = a.mapFile(${JSON.stringify(f)}, true);
      fs.writeFileSync(${JSON.stringify(f + '.tmp')}, 'new text, longer');
      fs.renameSync(${JSON.stringify(f + '.tmp')}, ${JSON.stringify(f)});
      print({ s, now: a.mapFile(${JSON.stringify(f)}, true) });
    `);
    expect(out).toEqual({ s: 'old text', now: 'new text, longer' });
  });

  it('an empty file is an empty value; a missing file or a directory throws with code, errno and syscall', () => {
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    const out = inNode(`${PRELUDE}
      const err = (f) => { try { a.mapFile(f, true); return 'no error'; } catch (e) { return [e.code, e.errno, e.syscall]; } };
      print({ s: a.mapFile(${JSON.stringify(empty)}, true), b: a.mapFile(${JSON.stringify(empty)}).length, missing: err(${JSON.stringify(path.join(dir, 'none'))}), dir: err(${JSON.stringify(dir)}) });
    `);
    expect(out).toEqual({ s: '', b: 0, missing: ['ENOENT', 2, 'open'], dir: ['EISDIR', 21, 'mmap'] });
  });

  it('unmaps the file once V8 has collected the value', () => {
    const f = path.join(dir, 'collected');
    fs.writeFileSync(f, 'x'.repeat(100_000));
    const out = inNode(
      `${PRELUDE}
      (async () => {
        let s = a.mapFile(${JSON.stringify(f)}, true);
        let b = a.mapFile(${JSON.stringify(f)});
        const before = mapped(${JSON.stringify(f)});
        const len = s.length + b.length;
        s = undefined;
        b = undefined;
        for (let i = 0; i < 3; i++) {
          global.gc();
          await new Promise((r) => setImmediate(r));
        }
        print({ before, after: mapped(${JSON.stringify(f)}), len });
      })();
    `,
      ['--expose-gc'],
    );
    expect(out).toEqual({ before: 2, after: 0, len: 200_000 });
  });
});
