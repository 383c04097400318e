/**
 * The ucr image: one stream, written front to back and readable from a file, a pipe or a socket.
 *
 *   prelude   8 bytes magic "UCRIMG\r\n" | u32 LE format major | u32 LE format minor
 *   record    u32 LE kind | u32 LE crc32c(payload) | u64 LE payload length | payload
 *
 *   HEADER   (kind 1)   CBOR: host identity (arch, page size, kernel, CPU), owner, root pid
 *   TREE     (kind 2)   CBOR: every task (pid, ppid, pgid, sid, comm, state, threads, zombie
 *                        exit status); the first entry is the root
 *   FILES    (kind 4)   CBOR: every open file object of the tree (fds of any task refer to them
 *                        by id: sharing survives), every pipe with its queued bytes, every
 *                        content object (size, seals, runs of pages holding data)
 *   IPC      (kind 5)   CBOR: System V shared memory segments, semaphore sets (values) and
 *                        message queues (messages) of the tree, with id, key, mode and owner
 *                        (format 1.1 and later)
 *   TASK     (kind 3)   CBOR: one per live task in TREE order: registers, memory map, page runs,
 *                        fds, signal state, mm fields, limits...
 *   PAGES    (kind 16)  binary, written and read by native code only:
 *                        u32 LE task index | u32 LE page count | u64 LE address | pages
 *                        in exactly the order of the TASK records' page runs, ≤ 4 MiB each
 *   OBJECT   (kind 18)  binary, like PAGES: u32 LE object id | u32 LE page count | u64 LE byte
 *                        offset | pages: contents of the content objects of FILES
 *                        (objects), in the order of the objects and their runs, before any PAGES
 *   PAGES_LZ4 (kind 19), OBJECT_LZ4 (kind 20)   checkpoint --compress (format 1.2, HEADER says
 *                        compress: 'lz4'): a PAGES / OBJECT record whose pages are one LZ4 block:
 *                        the same 16-byte header (its page count gives the raw size), then the
 *                        block, always shorter than the raw pages (a chunk that does not shrink
 *                        is written as a plain PAGES / OBJECT record). The reader decompresses
 *                        and requires exactly page count * 4096 bytes. Without --compress an
 *                        image is format 1.1 and has neither kind.
 *   Copy-on-write sharing (format 1.3, only when a TASK record has `inherited` pages): a child's
 *                        pages still shared with its parent since the fork are listed in its
 *                        TASK record (`inherited`) and not saved again; such an image orders
 *                        its PAGES records differently: first every task's *staged* runs (its
 *                        runs inside mappings a child inherits from), tasks in creation order,
 *                        then every task's other runs in TASK order (src/image/cow.ts
 *                        cowLayout is the one definition). A 1.2 reader would restore such a
 *                        child without those pages: the minor makes it refuse the image.
 *   SHM      (kind 17)  binary, after every PAGES record, native code only: u32 LE segment
 *                        index (in the IPC record) | u32 LE page count | u64 LE byte offset |
 *                        pages; all-zero pages are left out, offsets rise within a segment
 *   TRAILER  (kind 255) CBOR: { records, pageBytes, digest }
 *
 * All metadata comes before any page: restart validates the whole plan before it creates a
 * task, while pages still stream. `digest` chains every earlier record's crc (4 LE bytes each,
 * through crc32c), so a missing, repeated or reordered record is detected; an image without a
 * trailer is incomplete and is refused. Kinds are never renumbered.
 *
 * Format 1.4 (issues 16 and 17; written only when the image holds one of them: format-minor.ts):
 *                        fields and kinds a 1.3 reader would drop or refuse: guard regions,
 *                        seccomp filters, fd tables and fs info shared between processes, AIO
 *                        and packet rings, fds in flight and
 *                        relative names of unix sockets, TCP closing states and bound devices,
 *                        /dev/tty, fanotify, raw/packet/netlink sockets, leases, deleted device
 *                        nodes, watches of deleted files, bytes queued in ptys and /dev/pts
 *                        owners.
 *
 * Format 1.6: a task with many plain anonymous mappings (vma-pack.ts: 64 or more) has them
 *                        packed into one byte string (TASK `vmap`), the others in `vmas`.
 *
 * Format 1.7: a task's `specials` may lack parts of the [vvar][vvar_vclock][vdso] group or have
 *                        them apart (unmapped or moved by the process; none with vdso=0): a 1.6
 *                        reader would restore the group whole, or fail late. An AIO ring whose head or tail is not 0 carries them, and the completed events
 *                        not yet reaped, in its mapping's `aio` (validate-vmas.ts).
 *
 * Format 1.8: a task with many fds (fd-pack.ts: 64 or more) has its fd table packed into one
 *                        byte string (TASK `fdp`, 12-byte entries) instead of `fds`; a
 *                        task's parts equal to its parent task's are left out of its record
 *                        and named in `same` (same-parts.ts); a task's own xstate may leave out
 *                        the zeros at its end, as its threads' since 1.5.
 *
 * Format 1.9: a thread of SCHED_OTHER or SCHED_BATCH may carry its own time slice (`slice` of
 *                        its `sched` entry, Linux 6.12 on): a 1.8 reader would restore it with
 *                        the default slice.
 *
 * Format 1.10: a task with many file mappings (file-vma-pack.ts: 32 or more) has them packed
 *                        into one byte string (TASK `fmap`, 32-byte entries) with the files
 *                        they map listed once (`ftab`), the others in `vmas`.
 *
 * Acknowledgement (not part of the image; `checkpoint --kill-after-ack` / `restart --ack-fd`):
 * a restart that has an image streamed to it whole and verified (every record's checksum, the
 * digest chain, the trailer) sends back 16 bytes on a channel of its own:
 *   "UCR-ACK\n" | u32 LE trailer digest | u32 LE trailer records
 * and the checkpoint kills its tree only once it has read exactly those bytes.
 *
 * Version rule: a reader accepts an image whose major equals its own and whose minor is not
 * newer than its own. Minor versions only add optional fields; anything else bumps the major.
 */
export const MAGIC = Buffer.from('UCRIMG\r\n', 'latin1');
export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 10;
/** The minor written for an image with a thread's own time slice (ThreadSched slice). */
export const FORMAT_MINOR_SLICE = 9;
/** TASK `fmap` and `ftab`: a task's file mappings packed (file-vma-pack.ts) */
export const FORMAT_MINOR_FMAP = 10;
/** The minor written for an image with a task's fd table packed (fd-pack.ts). */
export const FORMAT_MINOR_FDP = 8;
/** The minor written for an image with a task record that takes parts from its parent's (same-parts.ts). */
export const FORMAT_MINOR_SAME = 8;
/** The minor from which a task's own xstate may leave out the zeros at its end (written so
 * only in an image that is 1.8 for the above). */
export const FORMAT_MINOR_XTRIM = 8;
/** The minor written for an image with a task whose vdso group is not whole where the kernel lays
 * it out (a part unmapped or moved: format-minor.ts vdsoIrregular), and nothing newer. */
export const FORMAT_MINOR_VDSO = 7;
/** The minor written for an image with an AIO ring's head, tail and unreaped events (VmaImage aio). */
export const FORMAT_MINOR_AIO = 7;
/** The minor written for an image with cgroup membership (TREE `cgroups`, image/cgroups.ts). */
export const FORMAT_MINOR_CGROUP = 7;
/** The minor written for an image with a task's mappings packed (vma-pack.ts), and nothing newer. */
export const FORMAT_MINOR_VMAP = 6;
/** The minor written for an image whose threads' xstate leaves out its zeros, and nothing newer. */
export const FORMAT_MINOR_XSTATE = 5;
/** The minor written for an image with anything of issues 16 and 17 (format-minor.ts). */
export const FORMAT_MINOR_16 = 4;
/** The minor written for an image with copy-on-write sharing and nothing of 1.4 (1.3 readers). */
export const FORMAT_MINOR_COW = 3;
/** The minor written for an image without compressed records (readable by 1.1 readers). */
export const FORMAT_MINOR_PLAIN = 1;
/** The minor written for an image with LZ4 records and no inherited pages (1.2 readers). */
export const FORMAT_MINOR_LZ4 = 2;
export const PRELUDE_SIZE = 16;
export const FRAME_SIZE = 16;
export const PAGE_SIZE = 4096;

/** mmap(2) flags, as the restore plan's `vma` and `area` lines carry them (native/helper/restore). */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_DROPPABLE = 0x08;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x100;
export const MAP_NORESERVE = 0x4000;
export const PAGES_HEADER_SIZE = 16;
export const MAX_CHUNK_PAGES = 1024;
/** Upper bound of a metadata record; larger means a corrupt length. */
export const MAX_METADATA_RECORD = 256 * 1024 * 1024;
/** Upper bound of all metadata records of an image together (checked before each is read). */
export const MAX_METADATA_TOTAL = 256 * 1024 * 1024;
/** Upper bound of what the decoded metadata may take in the coordinator's memory, estimated
 * before anything is allocated (src/image/cbor.ts DecodeBudget): a mapping takes about 700
 * bytes decoded, so this is a tree of 700,000 mappings (1,000 tasks of 700), or 2,000 threads
 * with 11 KiB of xstate each many times over. */
export const MAX_METADATA_DECODED = 512 * 1024 * 1024;
/** Most tasks (processes, zombies included) one image may hold. */
export const MAX_TASKS = 32768;
/** Deepest chain of parent and child in a tree. */
export const MAX_TREE_DEPTH = 4096;
export const MAX_TRAILER = 4096;
/** End of the x86_64 user address space (47-bit). */
export const TASK_END = 0x7ffffffff000;

export enum RecordKind {
  Header = 1,
  Tree = 2,
  Task = 3,
  Files = 4,
  Ipc = 5,
  Pages = 16,
  Shm = 17,
  Object = 18,
  PagesLz4 = 19,
  ObjectLz4 = 20,
  Trailer = 255,
}

/** The acknowledgement of an image (see above): for the trailer's digest and record count. */
export const ACK_MAGIC = Buffer.from('UCR-ACK\n', 'latin1');
export function ackBytes(t: { digest: number; records: number }): Buffer {
  const b = Buffer.alloc(16);
  ACK_MAGIC.copy(b, 0);
  b.writeUInt32LE(t.digest >>> 0, 8);
  b.writeUInt32LE(t.records >>> 0, 12);
  return b;
}
