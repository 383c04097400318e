/**
 * The kinds of content objects (ImageFiles.objects): what each one is, one entry per kind,
 * used by the checks of an image (validate-files.ts), the checkpoint (src/kernel/objects.ts),
 * the restart plan and `ucr inspect`. Adding a kind: an entry here (the compiler asks for it once
 * the kind is in ObjectImage['kind']) and its number in native/helper/restore/plan.h.
 */
import { queueObjects } from './kinds/inet.js';
import type { FileImage, ObjectImage } from './types-files.js';

export type ObjectKind = ObjectImage['kind'];

export interface ObjectKindInfo {
  /** its number in the helper's `obj` plan line (never renumbered) */
  nr: number;
  /** what it is, in messages: "memfd", "tmpfs file" */
  noun: string;
  /** with its article: "a memfd" */
  a: string;
  /** none (shared anonymous memory, a socket queue); a memfd's name; an absolute path */
  name: 'none' | 'memfd' | 'path';
  /** a file of a filesystem: it has a mode and an owner (required for a path, optional for a
   * memfd in older images) */
  owned: boolean;
  /** whole pages, never empty (shared anonymous memory) */
  pages?: true;
  /** its access and modification times are kept (a file the restart makes anew: a memfd, an
   * unlinked file, a removed directory) */
  timed?: true;
  /** F_SEAL_* seals are kept (memfd) */
  sealed?: true;
  /** its path no longer names it: bound to be refused when still linked elsewhere */
  removed?: true;
  /** no contents (size 0, no runs): a removed directory, a task's cwd or an fd, never mapped */
  empty?: true;
  /** its device and inode are recorded: on restart the file at its path must be this one, or gone */
  inode?: true;
  /** the inode numbers it is keyed by until objects are numbered: the kernel's internal
   * filesystem of memfds, shared anonymous memory and unlinked files ('o'), a tmpfs ('f'), the
   * helper's own memfds of socket queues ('q') */
  inodes: 'o' | 'f' | 'q';
  /** inspect --all: what it is, with its name and mode */
  text(o: ObjectImage, files: FileImage[]): string;
}

const pathText = (o: ObjectImage) => `${OBJECT_KINDS[o.kind].noun} ${o.name} mode 0${o.mode!.toString(8)}`;

export const OBJECT_KINDS: { readonly [K in ObjectKind]: ObjectKindInfo } = {
  anon: { nr: 0, noun: 'shared anonymous memory', a: 'shared anonymous memory', name: 'none', owned: false, pages: true, inodes: 'o', text: () => 'shared anonymous memory' },
  memfd: {
    nr: 1,
    noun: 'memfd',
    a: 'a memfd',
    name: 'memfd',
    owned: true,
    timed: true,
    sealed: true,
    inodes: 'o',
    text: (o) => `memfd "${o.name}"${o.mode !== undefined ? ` mode 0${o.mode.toString(8)}` : ''}${o.seals ? ` seals 0x${o.seals.toString(16)}` : ''}`,
  },
  unlinked: { nr: 2, noun: 'unlinked file', a: 'an unlinked file', name: 'path', owned: true, timed: true, removed: true, inodes: 'o', text: pathText },
  queue: {
    nr: 3,
    noun: 'TCP queue',
    a: 'a socket queue',
    name: 'none',
    owned: false,
    inodes: 'q',
    text: (o, files) => `TCP queue of file #${files.find((f) => f.kind === 'inet' && queueObjects(f).some((q) => q?.[0] === o.id))?.id ?? '?'}`,
  },
  'unlinked-dir': { nr: 4, noun: 'removed directory', a: 'a removed directory', name: 'path', owned: true, timed: true, removed: true, empty: true, inodes: 'o', text: pathText },
  tmpfs: { nr: 5, noun: 'tmpfs file', a: 'a tmpfs file', name: 'path', owned: true, inode: true, inodes: 'f', text: pathText },
};

/** An object as messages name it: "memfd buf", "shared anonymous memory" */
export const objectName = (o: { kind: ObjectKind; name?: string }) => `${OBJECT_KINDS[o.kind].noun}${o.name !== undefined ? ` ${o.name}` : ''}`;

/** The short form of the summary: "memfd "buf"", "tmpfs file /dev/shm/x" */
export const objectShort = (o: ObjectImage) => (o.kind === 'memfd' ? `memfd "${o.name}"` : objectName(o));
