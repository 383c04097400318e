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
export function readSmaps(pid: number, read?: Buffer): MapsEntry[] {
  const len = read ? read.length : readAll(`/proc/${pid}/smaps`); // read: its bytes, read already
  const b = read ?? buf.subarray(0, len);
  const out: MapsEntry[] = [];
  const flagSets = new Map<string, Set<string>>();
  for (let at = 0; at < len; ) {
    let nl = at;
    while (nl < len && b[nl] !== 0x0a) nl++;
    const e = mapsHead(b, at, nl);
    const j = e ? b.indexOf(VMFLAGS, nl) : -1;
    if (j < 0) return byLines(b.toString('latin1'));
    let fe = b.indexOf(0x0a, j + VMFLAGS.length);
    if (fe < 0) fe = len;
    at = fe + 1;
    if (at < len && !isHex(b[at]!)) return byLines(b.toString('latin1'));
    const line = b.toString('latin1', j + VMFLAGS.length, fe).trim();
    let set = flagSets.get(line);
    if (!set) flagSets.set(line, (set = new Set(line ? line.split(/\s+/) : [])));
    e!.flags = set;
    out.push(e!);
  }
  return out;
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
      const e = mapsHead(t, at, nl);
      if (e) out.push(e);
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

/** A maps line, "start-end perms pgoff dev inode   path" (hex, hex, 4 characters, hex, text,
 * decimal, the rest), or undefined when it is not one. */
function mapsHead(t: Buffer, at: number, nl: number): MapsEntry | undefined {
  let i = at;
  // hex numbers through hexAt (no closure made per line: 10,000 of them cost as much as the rest)
  const start = hexAt(t, i, nl);
  i = hexEnd;
  if (start < 0 || t[i++] !== 0x2d) return undefined;
  const end = hexAt(t, i, nl);
  i = hexEnd;
  if (end < 0 || t[i++] !== 0x20) return undefined;
  if (i + 4 >= nl) return undefined;
  const key = t.readUInt32LE(i);
  let perms = permsOf.get(key);
  if (perms === undefined) {
    perms = t.toString('latin1', i, i + 4);
    if (perms.includes(' ') || perms.includes('\n')) return undefined;
    permsOf.set(key, perms);
  }
  i += 4;
  if (t[i++] !== 0x20) return undefined;
  const pgoff = hexAt(t, i, nl);
  i = hexEnd;
  if (pgoff < 0 || t[i++] !== 0x20) return undefined;
  let sp = i;
  while (sp < nl && t[sp] !== 0x20) sp++;
  if (sp >= nl || sp === i) return undefined;
  const dev = t.toString('latin1', i, sp);
  i = sp + 1;
  let ino = 0;
  const from = i;
  for (; i < nl; i++) {
    const c = t[i]!;
    if (c < 0x30 || c > 0x39) break;
    ino = ino * 10 + (c - 0x30);
  }
  if (i === from || (i < nl && t[i] !== 0x20)) return undefined;
  while (i < nl && (t[i] === 0x20 || t[i] === 0x09)) i++;
  return { start, end, perms, pgoff, dev, ino, path: i < nl ? t.toString('latin1', i, nl) : '', flags: NO_FLAGS };
}
