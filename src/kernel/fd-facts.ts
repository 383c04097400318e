/**
 * The stat, link and fdinfo of an fd the files capture makes an object of: from the numbers
 * the scan ahead took on a worker thread (fd-prefetch.ts, the addon's fdScanBatch), else read
 * now through /proc.
 */
import fs from 'node:fs';
import { factsAt, fdInfoAt, FD_STRIDE, readLink, type FdInfo, type FdStat, type FdTable } from './proc.js';

/** numbers per fd in FdTable.facts (the addon's fdScanBatch): dev, ino, mode, nlink, rdev,
 * size, link start, link end; dev NaN when not taken */
export const FD_FACTS = 8;
const FACT_MODE = 2;

/** An open file's stat from the scan's numbers: what fs.Stats gives of them (FdStat). */
class ScannedStat implements FdStat {
  constructor(
    readonly dev: number,
    readonly ino: number,
    readonly mode: number,
    readonly nlink: number,
    readonly rdev: number,
    readonly size: number,
  ) {}
  private is(type: number): boolean {
    return (this.mode & fs.constants.S_IFMT) === type;
  }
  isFile(): boolean {
    return this.is(fs.constants.S_IFREG);
  }
  isDirectory(): boolean {
    return this.is(fs.constants.S_IFDIR);
  }
  isFIFO(): boolean {
    return this.is(fs.constants.S_IFIFO);
  }
  isSocket(): boolean {
    return this.is(fs.constants.S_IFSOCK);
  }
  isCharacterDevice(): boolean {
    return this.is(fs.constants.S_IFCHR);
  }
  isBlockDevice(): boolean {
    return this.is(fs.constants.S_IFBLK);
  }
  isSymbolicLink(): boolean {
    return this.is(fs.constants.S_IFLNK);
  }
}

/** The stat and link of the i-th fd of a table as its scan took them on the worker thread (the
 * fds that are not their parent's open file), or undefined. The link is decoded as
 * readlinkSync does (UTF-8). */
function scannedFacts(t: FdTable, i: number): { stat: FdStat; link: string } | undefined {
  const f = t.facts;
  const b = i * FD_FACTS;
  if (!f || t.links === undefined || b + FD_FACTS > f.length || Number.isNaN(f[b])) return undefined;
  const raw = t.links.slice(f[b + 6], f[b + 7]);
  // bytes as latin1 characters: only a link with bytes above 0x7f needs decoding
  // eslint-disable-next-line no-control-regex
  const link = /[^\x00-\x7f]/.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
  return { stat: new ScannedStat(f[b]!, f[b + 1]!, f[b + FACT_MODE]!, f[b + 3]!, f[b + 4]!, f[b + 5]!), link };
}

/** Whether a scan's facts have an open file that is not a character device (what the files
 * capture looks for holders of outside the tree). */
export function hasNonDevice(facts: Float64Array): boolean {
  for (let b = 0; b < facts.length; b += FD_FACTS) if (!Number.isNaN(facts[b]!) && (facts[b + FACT_MODE]! & fs.constants.S_IFMT) !== fs.constants.S_IFCHR) return true;
  return false;
}

/** The stat, link and fdinfo of the i-th fd of a table, for an object made of it: the stat and
 * link as the scan ahead took them (fd-prefetch.ts), else fs.statSync and readlink of
 * /proc/PID/fd/FD now; throws when the fd is gone. */
export function objectFactsAt(t: FdTable, i: number): { fd: number; stat: FdStat; info: FdInfo; link: string } {
  const scanned = scannedFacts(t, i);
  if (scanned) return { fd: t.nums[i * FD_STRIDE]!, stat: scanned.stat, info: fdInfoAt(t, i), link: scanned.link };
  const f = factsAt(t, i);
  return { ...f, link: readLink(`/proc/${t.pid}/fd/${f.fd}`) };
}
