/** The typed content of the FILES and IPC records: open-file objects of every kind, pipes,
 * content objects, ptys, and the System V objects of the tree. (The rest: types.ts.) */

/** What every open file object of the tree has, whatever its kind; fds of any task (dup, fork)
 * refer to it by id. A file of the image is one of the kinds of FileImage (src/image/kinds/). */
export interface FileBase {
  id: number;
  path: string;
  flags: number;
  pos: number;
  /** Locks held through this open file: flock and OFD locks belong to it, POSIX locks to
   * `task`, which holds the file at `fd` */
  locks?: LockImage[];
  /** Signal-driven I/O (O_ASYNC) and a socket's SIGURG: who gets the signal (F_SETOWN_EX: a
   * thread, a process or a process group, by its pid in the image; 0: nobody) and which one
   * (F_SETSIG; 0: SIGIO). Without O_ASYNC (in the file's flags) only the owner is given back. */
  fown?: { type: 'tid' | 'pid' | 'pgrp'; pid: number; sig: number };
  /** Also held outside the tree when checkpointed (allowed with --allow-leaks). */
  leak?: { pid: number; fd: number; comm: string };
}

/** One open file object of the tree: a union tagged by `kind`, one interface per kind, each
 * beside its checks in src/image/kinds/<kind>.ts. */
import type { FileImage } from './kinds/index.js';
export type { FileImage, FileKind, FileOf } from './kinds/index.js';

export interface InetAddress {
  /** textual IPv4 or IPv6 address (an IPv6 socket may show a v4-mapped ::ffff:a.b.c.d) */
  addr: string;
  port: number;
}

/** closed: never connected (bound when it has a local address); listen; a TCP connection:
 * established, fin-wait2 (its FIN sent and acknowledged), close-wait (the peer's FIN received),
 * fin-wait1 (its FIN queued or sent, not acknowledged), closing (fin-wait1, then the peer's FIN
 * received), last-ack (close-wait, then its own FIN queued or sent; since issue 17);
 * disconnected: a TCP socket whose connection is over (closed, reset, or refused), maybe with
 * bytes left to read; connected: a UDP socket with a default destination. */
export type InetState = 'closed' | 'listen' | 'established' | 'fin-wait2' | 'close-wait' | 'disconnected' | 'connected' | 'fin-wait1' | 'closing' | 'last-ack';

/** The repair state of a TCP connection (TCP_REPAIR at checkpoint). */
export interface TcpRepairImage {
  /** TCP_QUEUE_SEQ of the receive queue (rcv_nxt) and of the send queue (write_seq) */
  inSeq: number;
  outSeq: number;
  /** bytes not yet read, byte for byte */
  recvQueue: Uint8Array;
  /** bytes written and not acknowledged: sent ones, then `unsent` bytes never sent */
  sendQueue: Uint8Array;
  /** a queue of more than 4 MiB: [content object id (kind 'queue'), bytes], its bytes streamed
   * as OBJECT records (recvQueue / sendQueue are then empty) */
  recvObj?: [number, number];
  sendObj?: [number, number];
  unsent: number;
  /** fin-wait1, closing, last-ack: the FIN waits behind the `unsent` bytes, never sent (else it
   * was sent); the sequences count each FIN, the queues hold bytes only */
  finUnsent?: boolean;
  mss: number;
  sndWscale: number;
  rcvWscale: number;
  /** TCPI_OPT_* bits: 1 timestamps, 2 SACK, 4 window scaling */
  options: number;
  timestamp: number;
  /** TCP_REPAIR_WINDOW: snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup */
  window: [number, number, number, number, number];
}

export interface InetSocketImage {
  ino: number;
  family: 4 | 6;
  proto: 'tcp' | 'udp';
  /** a UDP-Lite socket (IPPROTO_UDPLITE): its checksum coverage, [UDPLITE_SEND_CSCOV,
   * UDPLITE_RECV_CSCOV] */
  lite?: [number, number];
  state: InetState;
  local?: InetAddress;
  remote?: InetAddress;
  /** a listener's backlog */
  backlog: number;
  /** options by name (src/image/kinds/inet.ts INET_OPTS) */
  opts: Record<string, number>;
  tcp?: TcpRepairImage;
  /** a classic BPF socket filter the program attached (SO_ATTACH_FILTER): its instructions */
  filter?: Uint8Array;
  /** SO_BINDTODEVICE: the name of the network device it is bound to */
  device?: string;
  /** UDP: shutdown() was called: 1 receive side, 2 send side, 3 both (sk_shutdown) */
  shutdown?: number;
  /** disconnected: the bytes left to read, and whether an error (a reset) waits to be read */
  leftToRead?: Uint8Array;
  resetPending?: boolean;
  /** UDP: the datagrams queued to be read, in order, with their senders */
  datagrams?: { from: InetAddress; data: Uint8Array }[];
  /** a connection: is its other end a socket of the image? 'pending': no, it waits, never
   * accepted, in the accept queue of a listener of the image (restored by connecting again) */
  peer?: 'inside' | 'outside' | 'pending';
  /** a listener: connections waiting in its accept queue (all from clients of the image) */
  acceptq?: number;
  /** an outside peer: 'established' restores the connection (TCP_REPAIR), 'close' brings it back
   * reset (checkpoint --tcp) */
  policy?: 'established' | 'close';
  /** after a --kill with --tcp=established: the keeper process (ucr-tcplock) that holds the
   * original connection locked until the restart (pid as ucr saw it, start time in ticks) */
  keeper?: { pid: number; start: number };
  /** who held the outside end at checkpoint (for inspect), when it was found */
  external?: { pid: number; fd: number; comm: string };
}

export type UnixSocketType = 'stream' | 'dgram' | 'seqpacket';
/** How a unix socket's connection is recreated: none; one end of a socketpair; a client that
 * connects to a listener; the end accept() returns; a datagram socket connected to a name. */
export type UnixConn = 'none' | 'pair' | 'client' | 'accepted' | 'dgram';

export interface UnixSocketImage {
  /** the socket's inode at checkpoint (for messages and inspect) */
  ino: number;
  type: UnixSocketType;
  /** the bound name as sun_path bytes (a path with its NUL, or abstract: a leading NUL) */
  name?: Uint8Array;
  /** the bound path no longer named this socket at checkpoint (removed, or replaced by another
   * file): bound out of sight on restart, the path left as it is */
  unlinked: boolean;
  /** a name that is a relative path: the absolute directory it is bound in (the holder's
   * working directory where it resolves to the socket) */
  dir?: string;
  /** owner and mode of the bound path's socket file: [uid, gid, mode] (paths still linked) */
  perm?: [number, number, number];
  listening: boolean;
  backlog: number;
  /** UNIX_DIAG_SHUTDOWN bits: 1 receive, 2 send */
  shutdown: number;
  passcred: boolean;
  sndbuf: number;
  rcvbuf: number;
  /** SO_PEEK_OFF, -1 when off */
  peekOff: number;
  /** socket-level options by name (src/kernel/fds/unix.ts UNIX_OPTS; images since issue 17) */
  opts?: Record<string, number>;
  conn: UnixConn;
  /** file id of the peer; -1: the peer was gone (closed) or outside and closed on restart */
  peer: number;
  /** for client/accepted: file id of the listener to connect through; -1: a temporary one */
  listener: number;
  /** a client whose connection waits, never accepted, in the accept queue of `listener`: its
   * place there (0 is accepted first); it has no peer (-1) and connects again on restart */
  pending?: number;
  /** the peer was held outside the tree (recorded with --external-unix=close or reconnect);
   * name: a datagram socket connected again to this name (an absolute path or abstract) on
   * restart (--external-unix=reconnect; conn 'dgram', peer -1) */
  external?: { ino: number; pid: number; fd: number; comm: string; name?: Uint8Array };
  /** the bytes queued to be read (stream: one chunk, cut where a buffer carries descriptors;
   * datagram and seqpacket: one per message) */
  queue: Uint8Array[];
  /** the files in flight (SCM_RIGHTS) with each queue entry, by file id (empty: none); a file
   * held by no fd of the tree is still a file of the image, made and sent again on restart */
  rights?: number[][];
  /** datagram sockets whose datagrams did not all come from their peer: each datagram's sender
   * name (sun_path bytes; empty: unnamed), one per queue entry */
  senders?: Uint8Array[];
}

export interface LockImage {
  /** lease: F_SETLEASE, taken again by `task` on its `fd` */
  kind: 'flock' | 'ofd' | 'posix' | 'lease';
  type: 'read' | 'write';
  /** byte range (flock: the whole file, 0..EOF); end -1: to the end of the file */
  start: number;
  end: number;
  task?: number;
  fd?: number;
}

export interface InotifyWatch {
  wd: number;
  /** IN_* bits as the kernel keeps them */
  mask: number;
  path: string;
  /** the file was deleted since: an open file of the tree (a content object) at its inode */
  file?: number;
}

export interface EpollTarget {
  task: number;
  fd: number;
  /** the target's open file (a file id) when no task holds it at `fd` any more (closed, or the
   * number reused): `task` puts it there, registers it and closes `fd` again on restart */
  file?: number;
  /** EPOLL* bits as the kernel keeps them (a fired EPOLLONESHOT entry keeps only flag bits) */
  events: number;
  data: bigint | number;
}

/** A pipe of the tree with the bytes that were queued in it. */
export interface PipeImage {
  id: number;
  size: number;
  data: Uint8Array;
  /** a named pipe (FIFO): its path */
  path?: string;
  /** a FIFO removed from its path since it was opened: made again there (or beside it if the
   * path is taken) with this mode, opened, and removed again */
  ghost?: { mode: number };
}

/**
 * A content object of the tree: shared anonymous memory, a memfd or an open file whose path
 * was unlinked, mapped by any tasks and/or held as fds. Its contents are OBJECT records (before all PAGES records), in
 * the order of the objects and of their runs.
 */
export interface ObjectImage {
  id: number;
  /** queue: the bytes of a TCP connection's queue larger than 4 MiB (no fd or mapping);
   * unlinked-dir: a directory that was removed (a task's cwd, or held open as fds); it has no
   * contents (size 0, no runs): a removed directory is empty;
   * tmpfs: a file of a tmpfs (/dev/shm, shm_open) mapped shared by the tree, still linked */
  kind: 'anon' | 'memfd' | 'unlinked' | 'queue' | 'unlinked-dir' | 'tmpfs';
  /** memfd: its name (without the "memfd:" prefix); unlinked, unlinked-dir, tmpfs: the path */
  name?: string;
  /** tmpfs: the file's device and inode at checkpoint (on restart, the file at its path must be
   * this one, or gone) */
  inode?: { dev: number; ino: number };
  /** unlinked, unlinked-dir and tmpfs: permission bits; memfd: too, in images since owners are kept */
  mode?: number;
  /** memfd, unlinked, unlinked-dir and tmpfs: owner [uid, gid] (absent in older images: as created) */
  owner?: [number, number];
  size: number;
  /** F_SEAL_* bits of a memfd */
  seals: number;
  /** memfd, unlinked, unlinked-dir: [atime s, atime ns, mtime s, mtime ns] (absent in older
   * images: the restart's time) */
  times?: [number, number, number, number];
  /** [byte offset, page count] of the pages that hold data, in stream order */
  runs: [number, number][];
}

/** A pseudo-terminal pair of the tree: its index and the terminal's settings. */
export interface TtyImage {
  index: number;
  locked: boolean;
  packet: boolean;
  exclusive: boolean;
  /** termios of the slave (absent when it could not be read: a locked pair never opened) */
  termios?: Termios;
  winsize?: [number, number, number, number];
  /** /dev/pts/N's owner and permission bits (absent in older images: as a new pair has them) */
  owner?: { uid: number; gid: number; mode: number };
  /** bytes queued: output the master had not read; input the slave had not read, as the
   * complete lines of canonical mode (each as a read returns it; empty: an end-of-file alone)
   * and the rest (a line not ended, or all of it in non-canonical mode) */
  queued?: { out?: Uint8Array; lines?: Uint8Array[]; partial?: Uint8Array };
}

export interface Termios {
  iflag: number;
  oflag: number;
  cflag: number;
  lflag: number;
  line: number;
  cc: Uint8Array;
  ispeed: number;
  ospeed: number;
}

export interface ImageFiles {
  files: FileImage[];
  pipes: PipeImage[];
  /** pseudo-terminal pairs of the tree */
  ttys?: TtyImage[];
  /** absent in images without shared memory */
  objects?: ObjectImage[];
}

/** Identity and permissions of a System V object (as /proc/sysvipc shows them). */
export interface IpcPerm {
  id: number;
  /** key_t (signed); 0 is IPC_PRIVATE */
  key: number;
  /** the 9 permission bits */
  mode: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
}

/** A shared memory segment attached by the tree; its contents follow the page records as SHM
 * records. */
export interface ShmImage extends IpcPerm {
  size: number;
  /** marked for destruction (IPC_RMID while attached): it goes away with its last detach */
  destroyed: boolean;
  /** SHM_LOCK */
  locked: boolean;
}

export interface SemImage extends IpcPerm {
  values: number[];
}

export interface MsgImage extends IpcPerm {
  /** the queue's byte limit (msg_qbytes) */
  qbytes: number;
  /** in queue order; type > 0 */
  messages: { type: bigint | number; data: Uint8Array }[];
}

/** The System V objects of the tree (see docs/kinds-ipc.md for which belong to it). */
export interface ImageIpc {
  /** the tree had an IPC namespace of its own (not the checkpointer's) */
  ownNamespace: boolean;
  shm: ShmImage[];
  sem: SemImage[];
  msg: MsgImage[];
}
