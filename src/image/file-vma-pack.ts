/**
 * Format 1.10: a task's file mappings packed into one byte string (TASK `fmap`), the files they
 * map listed once (TASK `ftab`), the others in `vmas` as before (docs/image-format.md). A python3
 * process maps 122 parts of 26 files: 122 CBOR maps of ten keys, each with the file's path and a
 * nested identity, ~25 KB of its 31 KB record, which the checkpoint encoded (and copied for its
 * check) and the restart decoded and checked, all by code that runs once, cold: ~3 ms each way.
 * Packed, 32 bytes a mapping and a table of 26 small arrays.
 *
 * An `fmap` entry, little-endian: u64 start | u64 end | u64 pgoff | u16 madv | u8 prot | u8 bits
 * (bit 0 shared, bit 1 fill) | u32 index into `ftab`. An `ftab` entry: [path, size, mtimeMs, ino]
 * or [path, size, mtimeMs, ino, dev], the mapping's `path` and `file`. Entries are in address
 * order; merged with `vmas`, every mapping must still be in order and apart, as for `vmas`
 * (validate-vmas.ts), and everything after reads the merged list. Packed after the parts taken
 * from the parent are left out (same-parts.ts): a record whose mappings are its parent's has
 * neither field.
 */
import type { CborValue } from './cbor.js';
import { type Obj, type Where, arr, int, isPathText, pathText } from './check.js';
import type { VmaImage } from './types.js';
import { checkVmas, isFileIdentity } from './validate-vmas.js';
import { entryFits, mergePacked, putEntry, VMAP_ENTRY } from './vma-pack.js';

export const FMAP_ENTRY = VMAP_ENTRY; /* the same layout as 1.6's vmap (mergePacked) */
/** A task packs its file mappings from this many on (fewer: `vmas` only, and the image keeps
 * the minor it had before 1.10: a small C program maps ~15 parts of its binary and libraries). */
export const FMAP_MIN = 32;
/** Most distinct files one task's table may list (a mapping names one by its u32 index). */
export const FTAB_MAX = 1 << 20;

/** An entry and the table hold it exactly, as the reader will take them back (pathText, the
 * identity of a mapped file); anything else stays a map (checked as before). */
function packable(v: VmaImage): boolean {
  return (
    v.kind === 'file' && isPathText(v.path) && v.file !== undefined && isFileIdentity(v.file) &&
    v.obj === undefined && v.shm === undefined && v.ring === undefined && v.aio === undefined && entryFits(v)
  );
}

/** The task has enough file mappings to pack them (format-minor.ts: 1.10). */
export function packsFileVmas(t: { vmas?: VmaImage[] }): boolean {
  if (!t.vmas) return false;
  let n = 0;
  for (const v of t.vmas) if (packable(v) && ++n >= FMAP_MIN) return true;
  return false;
}

/** The TASK record as written: as it is, or with its file mappings packed (its `vmas` the rest). */
export function packFileVmas<T extends { vmas?: VmaImage[] }>(t: T): T {
  if (!packsFileVmas(t)) return t;
  const rest: VmaImage[] = [];
  const packed: VmaImage[] = [];
  for (const v of t.vmas!) (packable(v) ? packed : rest).push(v);
  const index = new Map<string, number>();
  const ftab: (string | number)[][] = [];
  const q = new Uint32Array((packed.length * FMAP_ENTRY) / 4); // little-endian: ucr runs on x86_64 only
  for (let i = 0, at = 0; i < packed.length; i++, at += FMAP_ENTRY / 4) {
    const v = packed[i]!;
    const f = v.file!;
    const key = `${f.size}/${f.mtimeMs}/${f.ino}/${f.dev ?? ''}/${v.path}`;
    let k = index.get(key);
    if (k === undefined) {
      index.set(key, (k = ftab.length));
      ftab.push(f.dev === undefined ? [v.path!, f.size, f.mtimeMs, f.ino] : [v.path!, f.size, f.mtimeMs, f.ino, f.dev]);
    }
    putEntry(q, at, v, 0, k);
  }
  return { ...t, vmas: rest, fmap: new Uint8Array(q.buffer), ftab } as T;
}

/** The files of `ftab`, checked as a file mapping's path and identity are (validate-vmas.ts). */
function files(v: CborValue | undefined, w: Where): { path: string; file: NonNullable<VmaImage['file']> }[] {
  const a = arr(v, w);
  if (!a.length || a.length > FTAB_MAX) w.fail(`${a.length} files, expected 1..${FTAB_MAX}`);
  return a.map((x, i) => {
    const fw = w.at(i);
    const e = arr(x, fw);
    if (e.length !== 4 && e.length !== 5) fw.fail('expected [path, size, mtimeMs, ino] or [path, size, mtimeMs, ino, dev]');
    const path = pathText(e[0], fw.at(0));
    const file = { size: int(e[1], fw.at(1)), mtimeMs: int(e[2], fw.at(2)), ino: int(e[3], fw.at(3)), ...(e.length === 5 ? { dev: int(e[4], fw.at(4)) } : {}) };
    return { path, file };
  });
}

/** A TASK record's mappings but the 1.6 packed ones: its `vmas` (validate-vmas.ts), merged with
 * its packed file mappings if it has them. w: the record's. */
export function checkOtherVmas(o: Obj, w: Where): VmaImage[] {
  if ((o.fmap === undefined) !== (o.ftab === undefined)) w.fail('packed file mappings (fmap) and their files (ftab) go together');
  const maps = checkVmas(o.vmas, w.at('vmas'));
  return o.fmap === undefined ? maps : unpackFileVmas(o.fmap, o.ftab, maps, w);
}

/** The packed file mappings merged into the (validated) others, in address order; anything out
 * of bounds, out of order, overlapping or naming no file of the table is refused naming the
 * entry (vma-pack.ts mergePacked). w: the TASK record's. */
function unpackFileVmas(fmap: CborValue | undefined, ftab: CborValue | undefined, rest: VmaImage[], w: Where): VmaImage[] {
  const fw = w.at('fmap');
  if (!(fmap instanceof Uint8Array)) return fw.fail('expected bytes');
  if (!fmap.length || fmap.length % FMAP_ENTRY) fw.fail(`${fmap.length} bytes, not whole entries of ${FMAP_ENTRY}`);
  const table = files(ftab, w.at('ftab'));
  return mergePacked(fmap, rest, fw, (i, e, kind, index) => {
    if (kind) fw.at(i).fail('a field is out of its bounds');
    const f = table[index];
    if (!f) return fw.at(i).fail(`file ${index} is not in ftab (${table.length} files)`);
    return { start: e.start, end: e.end, prot: e.prot, shared: e.shared, kind: 'file', path: f.path, pgoff: e.pgoff, file: f.file, madv: e.madv, fill: e.fill };
  });
}
