/** /proc/PID/smaps: every mapping of a task with its VmFlags. */
import fs from 'node:fs';

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

const VMFLAGS = Buffer.from('\nVmFlags:', 'latin1');
const NO_FLAGS: Set<string> = new Set();

/** Every mapping with its VmFlags. Mappings with the same VmFlags line share one (read-only)
 * Set. A mapping takes ~25 lines (10,000 mappings: 250,000 lines, ~11 MB): only its first line
 * (its address in lower-case hex) and its VmFlags line, the last of its block, are looked at,
 * in the bytes (no text of the whole file is made); the rest is skipped with a native search.
 * Should a block ever not end with its VmFlags line, the whole file is parsed line by line. */
export function readSmaps(pid: number): MapsEntry[] {
  let out: MapsEntry[] = [];
  eachSmaps(
    pid,
    (m) => out.push({ ...m }),
    () => (out = []),
  );
  return out;
}

/** readSmaps() one mapping at a time, without an object per mapping: fn gets the same entry
 * object each time, its fields those of the next mapping (fn must not keep it). restart: the
 * file is read again line by line (a block that does not end with its VmFlags line), and every
 * mapping is given again from the first: fn's caller starts over. */
export function eachSmaps(pid: number, fn: (m: MapsEntry) => void, restart: () => void): void {
  const len = readAll(`/proc/${pid}/smaps`);
  const b = buf.subarray(0, len);
  const flagSets = new Map<string, Set<string>>();
  const e: MapsEntry = { start: 0, end: 0, perms: '', pgoff: 0, dev: '', ino: 0, path: '', flags: NO_FLAGS };
  const slow = () => {
    restart();
    for (const m of byLines(b.toString('latin1'))) fn(m);
  };
  for (let at = 0; at < len; ) {
    let nl = at;
    while (nl < len && b[nl] !== 0x0a) nl++;
    const j = mapsHead(b, at, nl, e) ? b.indexOf(VMFLAGS, nl) : -1;
    if (j < 0) return slow();
    let fe = b.indexOf(0x0a, j + VMFLAGS.length);
    if (fe < 0) fe = len;
    at = fe + 1;
    if (at < len && !isHex(b[at]!)) return slow();
    e.flags = flagsAt(b, j + VMFLAGS.length, fe, flagSets);
    fn(e);
  }
}

/** Texts seen, by a hash of their bytes: a VmFlags line or a device field repeats from mapping to
 * mapping (10,000 mappings made 20,000 strings, and their hashing in a Map, for a few distinct
 * values). The bytes are compared with the text found before it is taken. */
function seenText(t: Buffer, from: number, to: number, cache: Map<number, string>): string {
  let h = to - from;
  for (let i = from; i < to; i++) h = (Math.imul(h, 31) + t[i]!) | 0;
  const s = cache.get(h);
  if (s !== undefined && s.length === to - from) {
    let i = 0;
    while (i < s.length && s.charCodeAt(i) === t[from + i]) i++;
    if (i === s.length) return s;
  }
  const text = t.toString('latin1', from, to);
  if (cache.size < 4096) cache.set(h, text);
  return text;
}

/** VmFlags lines seen (their text after "VmFlags:"), by a hash of their bytes. */
const flagTexts = new Map<number, string>();

/** The VmFlags of the line t[from, to): a Set shared by the mappings with the same line. */
function flagsAt(t: Buffer, from: number, to: number, flagSets: Map<string, Set<string>>): Set<string> {
  const line = seenText(t, from, to, flagTexts);
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
function byLines(text: string): MapsEntry[] {
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

/** Device fields seen (00:00, fd:01...), by a hash of their bytes. */
const devTexts = new Map<number, string>();

/** The 4-character permission fields seen (rw-p, r-xp...), by their bytes. */
const permsOf = new Map<number, string>();

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
  const key = t.readUInt32LE(i);
  let perms = permsOf.get(key);
  if (perms === undefined) {
    perms = t.toString('latin1', i, i + 4);
    if (perms.includes(' ') || perms.includes('\n')) return false;
    permsOf.set(key, perms);
  }
  i += 4;
  if (t[i++] !== 0x20) return false;
  const pgoff = hexAt(t, i, nl);
  i = hexEnd;
  if (pgoff < 0 || t[i++] !== 0x20) return false;
  let sp = i;
  while (sp < nl && t[sp] !== 0x20) sp++;
  if (sp >= nl || sp === i) return false;
  const dev = seenText(t, i, sp, devTexts);
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
