import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSmaps, smapsByLines, type MapsEntry } from '../src/kernel/smaps.js';

/** The entries parseSmaps gives (copies: it hands out one object), flags as sorted lists. */
function parsed(text: string): unknown[] {
  const out: unknown[] = [];
  parseSmaps(Buffer.from(text, 'latin1'), (m) => out.push({ ...m, flags: [...m.flags].sort() }));
  return out;
}

const plain = (l: MapsEntry[]) => l.map((m) => ({ ...m, flags: [...m.flags].sort() }));

const block = (head: string, flags = 'rd wr mr mw me ac sd') => `${head}\nSize:                  4 kB\nRss:                   4 kB\nVmFlags: ${flags} \n`;

/** Runs check on the smaps text of every process this test can read (at least one). */
function eachSmaps(check: (text: string) => void): void {
  let seen = 0;
  for (const p of ['self', ...fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))]) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${p}/smaps`, 'latin1');
    } catch {
      continue;
    }
    check(text);
    seen++;
  }
  expect(seen).toBeGreaterThan(0);
}

describe('smaps (src/kernel/smaps.ts, native/addon/smaps.cc)', () => {
  it('gives what the line-by-line parser gives, for every process this test can read', () => {
    eachSmaps((text) => expect(parsed(text)).toEqual(plain(smapsByLines(text))));
  });

  it("gives the same mappings from the helper's condensed text (its first lines and VmFlags lines only)", () => {
    // native/helper/checkpoint/dump_procfs.c read_smaps keeps a line that begins with a
    // lower-case hex digit or with "VmFlags:"
    const condensed = (t: string) => t.split(/(?<=\n)/).filter((l) => /^[0-9a-f]|^VmFlags:/.test(l)).join('');
    eachSmaps((text) => expect(parsed(condensed(text))).toEqual(parsed(text)));
  });

  it('takes odd lines as the line-by-line parser does', () => {
    const heads = [
      '7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ',
      '7f0000001000-7f0000002000 r--s 0001f000 fd:01 1234567                    /path with  spaces (deleted)',
      '7f0000002000-7f0000003000 rw-p 00000000 00:00 0 \t[stack]',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
      '7f0000003000-7f0000004000 rw-p 00000000 00:00 0                          /caf\xe9',
    ];
    const text = heads.map((h, i) => block(h, i % 2 ? 'rd mr mw me dw' : 'rd wr mr mw me ac sd')).join('');
    expect(parsed(text)).toEqual(plain(smapsByLines(text)));
    expect(parsed(text)).toHaveLength(heads.length);
    // not what the fast parser takes: a block without VmFlags, a VmFlags line not last, odd
    // first lines (upper-case hex, 17 digits, no inode)
    for (const odd of [
      `${heads[0]}\nSize: 4 kB\n${block(heads[1]!)}`,
      `${heads[0]}\nVmFlags: rd\nSize: 4 kB\n${block(heads[1]!)}`,
      block('7F0000000000-7f0000001000 rw-p 00000000 00:00 0'),
      block('17f0000000000000-7f0000001000 rw-p 00000000 00:00 0'),
      block('7f0000000000-7f0000001000 rw-p 00000000 00:00'),
      '',
    ])
      expect(parsed(odd)).toEqual(plain(smapsByLines(odd)));
  });
});
