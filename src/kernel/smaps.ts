/** /proc/PID/smaps: every mapping of a task with its VmFlags. */
import fs from 'node:fs';
import { native } from '../native/addon.js';

export interface MapsEntry {
  start: number;
  end: number;
  perms: string;
  pgoff: number;
  dev: string;
  ino: number;
  path: string;
  /** VmFlags from smaps (two-letter codes); shared by the mappings with the same flags: read only */
  flags: Set<string>;
}

/** The bytes of the last smaps read, kept for the next task (10,000 mappings: ~11 MB). */
let buf = Buffer.allocUnsafe(1 << 20);

function readAll(path: string): number {
  const fd = fs.openSync(path, 'r');
  try {
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 4); // 1, 4, 16 MiB: fewer copies of what was read
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const n = fs.readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) return len;
      len += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

const NO_FLAGS: Set<string> = new Set();

/** Every mapping with its VmFlags, one at a time, without an object per mapping: fn gets the
 * same entry object each time, its fields those of the next mapping (fn must not keep it).
 * Mappings with the same VmFlags line share one (read-only) Set. A mapping takes ~25 lines
 * (10,000 mappings: ~7 MB): only its first line and its VmFlags line, the last of its block,
 * are looked at, in the bytes, found by the addon in one call (smaps.cc); should a block ever
 * not end with its VmFlags line, the whole file is parsed line by line. read: the file's bytes
 * when read already (the checkpoint's helper reads them with the task's other /proc files). */
export function eachSmaps(pid: number, fn: (m: MapsEntry) => void, read?: Buffer): void {
  parseSmaps(read ?? buf.subarray(0, readAll(`/proc/${pid}/smaps`)), fn);
}

/** eachSmaps() of an smaps text. */
export function parseSmaps(b: Buffer, fn: (m: MapsEntry) => void): void {
  const flagSets = new Map<string, Set<string>>();
  const e: MapsEntry = { start: 0, end: 0, perms: '', pgoff: 0, dev: '', ino: 0, path: '', flags: NO_FLAGS };
  // the mappings found natively in one call, their texts by number (one string per distinct one)
  const scan = native().smapsScan(b, b.length);
  if (!scan) {
    for (const m of smapsByLines(b.toString('latin1'))) fn(m);
    return;
  }
  const { maps, texts } = scan;
  const text: (string | undefined)[] = new Array(texts.length / 2);
  const textOf = (id: number): string => (text[id] ??= b.toString('latin1', texts[2 * id]!, texts[2 * id + 1]!));
  const flags: (Set<string> | undefined)[] = new Array(texts.length / 2);
  for (let k = 0; k < maps.length; k += 8) {
    e.start = maps[k]!;
    e.end = maps[k + 1]!;
    e.pgoff = maps[k + 2]!;
    e.ino = maps[k + 3]!;
    e.perms = textOf(maps[k + 4]!);
    e.dev = textOf(maps[k + 5]!);
    e.path = textOf(maps[k + 6]!);
    const f = maps[k + 7]!;
    e.flags = flags[f] ??= flagSet(textOf(f), flagSets);
    fn(e);
  }
}

/** The Set of the VmFlags text line (shared by the mappings with the same flags). */
function flagSet(line: string, flagSets: Map<string, Set<string>>): Set<string> {
  let set = flagSets.get(line);
  if (!set) {
    const words = line.trim();
    flagSets.set(line, (set = new Set(words ? words.split(/\s+/) : [])));
  }
  return set;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/** The text line by line: a mapping's first line, and a VmFlags line for the one before. */
export function smapsByLines(text: string): MapsEntry[] {
  const out: MapsEntry[] = [];
  const flagSets = new Map<string, Set<string>>();
  const t = Buffer.from(text, 'latin1');
  for (let at = 0; at < text.length; ) {
    let nl = text.indexOf('\n', at);
    if (nl < 0) nl = text.length;
    const c = text.charCodeAt(at);
    if (isHex(c)) {
      const e: MapsEntry = { start: 0, end: 0, perms: '', pgoff: 0, dev: '', ino: 0, path: '', flags: NO_FLAGS };
      if (mapsHead(t, at, nl, e)) out.push(e);
    } else if (c === 0x56 && text.startsWith('VmFlags:', at) && out.length) {
      const line = text.slice(at + 8, nl).trim();
      let set = flagSets.get(line);
      if (!set) flagSets.set(line, (set = new Set(line ? line.split(/\s+/) : [])));
      out[out.length - 1]!.flags = set;
    }
    at = nl + 1;
  }
  return out;
}

/** Where the last hexAt stopped. */
let hexEnd = 0;

/** The lower-case hex number at i (at most 16 digits), or -1; hexEnd: the byte after it. */
function hexAt(t: Buffer, i: number, nl: number): number {
  let v = 0;
  const from = i;
  for (; i < nl; i++) {
    const c = t[i]!;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) break;
    v = v * 16 + d;
  }
  hexEnd = i;
  return i > from && i - from <= 16 ? v : -1;
}

/** The 4-character permission fields seen (rw-p, r-xp...), by their bytes. */
const permsOf = new Map<number, string>();

/** The 4 bytes of a permission field at i, as text (one per distinct field). */
function permsAt(t: Buffer, i: number): string {
  const key = t.readUInt32LE(i);
  let perms = permsOf.get(key);
  if (perms === undefined) permsOf.set(key, (perms = t.toString('latin1', i, i + 4)));
  return perms;
}

/** A maps line, "start-end perms pgoff dev inode   path" (hex, hex, 4 characters, hex, text,
 * decimal, the rest) into e (its flags left as they are); false when it is not one. */
function mapsHead(t: Buffer, at: number, nl: number, e: MapsEntry): boolean {
  let i = at;
  // hex numbers through hexAt (no closure made per line: 10,000 of them cost as much as the rest)
  const start = hexAt(t, i, nl);
  i = hexEnd;
  if (start < 0 || t[i++] !== 0x2d) return false;
  const end = hexAt(t, i, nl);
  i = hexEnd;
  if (end < 0 || t[i++] !== 0x20) return false;
  if (i + 4 >= nl) return false;
  const perms = permsAt(t, i);
  if (perms.includes(' ') || perms.includes('\n')) return false;
  i += 4;
  if (t[i++] !== 0x20) return false;
  const pgoff = hexAt(t, i, nl);
  i = hexEnd;
  if (pgoff < 0 || t[i++] !== 0x20) return false;
  let sp = i;
  while (sp < nl && t[sp] !== 0x20) sp++;
  if (sp >= nl || sp === i) return false;
  const dev = t.toString('latin1', i, sp);
  i = sp + 1;
  let ino = 0;
  const from = i;
  for (; i < nl; i++) {
    const c = t[i]!;
    if (c < 0x30 || c > 0x39) break;
    ino = ino * 10 + (c - 0x30);
  }
  if (i === from || (i < nl && t[i] !== 0x20)) return false;
  while (i < nl && (t[i] === 0x20 || t[i] === 0x09)) i++;
  e.start = start;
  e.end = end;
  e.perms = perms;
  e.pgoff = pgoff;
  e.dev = dev;
  e.ino = ino;
  e.path = i < nl ? t.toString('latin1', i, nl) : '';
  return true;
}
