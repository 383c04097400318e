/**
 * Unix domain sockets (stream, datagram, seqpacket). What sock_diag and the helper's peek
 * report (src/kernel/unix-sockets.ts) becomes the socket's image: type, bound name (and whether
 * its path was unlinked), listening backlog, shutdown bits, options, queued data with message
 * boundaries; the connection (peer, how to recreate it) is filled in once every socket of the
 * tree is known (linkUnixSockets). The helper recreates them (native/helper/kinds/unix/restore_unix.c).
 */
import fs from 'node:fs';
import path from 'node:path';
import { UnsupportedError } from '../../errors.js';
import type { FileOf, UnixSocketImage, UnixSocketType } from '../../image/types.js';
import { hex } from '../helper.js';
import { INET_OPTS, OPT_UNSET, socketOptsPrivilege } from './inet.js';
import type { FdFacts, FdOps } from './types.js';
import { planFileUnix, planSockopts, planUnixdir, planUnixpeer, planUnixrights } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

/** The socket-level options a unix socket keeps (native/helper/kinds/inet/inet.h inet_opt_unix):
 * those of inet.h but the address reuse and the buffer sizes (kept on their own). */
export const UNIX_OPTS = ['keepalive', 'broadcast', 'linger', 'priority', 'rcvlowat', 'oobinline', 'mark', 'buflock', 'timestamp', 'timestampns', 'timestamping', 'rcvtimeo', 'sndtimeo', 'dontroute', 'zerocopy'] as const;

const TYPES: Record<number, UnixSocketType> = { 1: 'stream', 2: 'dgram', 5: 'seqpacket' };
const TYPE_NR: Record<UnixSocketType, number> = { stream: 1, dgram: 2, seqpacket: 5 };
const CONN_NR = { none: 0, pair: 1, client: 2, accepted: 3, dgram: 4 } as const;
export const TCP_LISTEN = 10;
/** largest queue carried in the metadata (as memfds) */
export const UNIX_QUEUE_MAX = 4 << 20;

/** One socket as sock_diag shows it (native/helper/kinds/unix/dump_unix.c). */
export interface DiagSocket {
  ino: number;
  type: number;
  state: number;
  peer?: number;
  name?: string;
  vfsIno?: number;
  icons?: number[];
  rq?: number;
  wq?: number;
  shutdown?: number;
}

/** What the helper's peek reports about one socket. */
export interface SocketQueue {
  type: number;
  passcred: number;
  sndbuf: number;
  rcvbuf: number;
  peekOff: number;
  /** inet.h's options in order (0 for those a unix socket does not keep) */
  opts?: number[];
  peername: string;
  /** fds: descriptors in flight with the message, installed in the helper by the peek (its
   * fds); refs: the objects they are (files.ts) */
  msgs: { from: string; data: string; fds?: number[]; refs?: unknown[] }[];
  bytes: number;
  rights: number;
  creds: number;
  name: string;
}

export interface UnixFacts {
  diag: DiagSocket;
  queue: SocketQueue;
}

/** A name for people: a path, or @name for an abstract one. */
export function unixNameText(name: Uint8Array | undefined): string {
  if (!name?.length) return '(unnamed)';
  const b = Buffer.from(name);
  if (b[0] === 0) return '@' + b.subarray(1).toString('latin1').replace(/\0/g, '@');
  return b.toString('utf8').replace(/\0+$/, '');
}

/** The directory (absolute, as the holder sees it) where relative name p resolves to the socket
 * file of inode ino, among the holders' working directories; an accepted end (no inode): the
 * first holder's. */
function relativeDir(p: string, ino: number | undefined, holders: { pid: number }[]): string | undefined {
  for (const h of holders) {
    try {
      const cwd = fs.readlinkSync(`/proc/${h.pid}/cwd`);
      if (ino === undefined || fs.statSync(`/proc/${h.pid}/cwd/${p}`).ino === ino) return cwd;
    } catch {
      /* gone, or not there */
    }
  }
  return undefined;
}

function unixState(f: FdFacts, x: UnixFacts, holders: { pid: number }[]): UnixSocketImage {
  const what = `process ${f.pid} fd ${f.fd} (${f.link})`;
  const type = TYPES[x.diag.type];
  if (!type) throw new UnsupportedError(`${what}: unix sockets of type ${x.diag.type} are not supported`, { pid: f.pid, object: `fd ${f.fd}`, phase: 'files' });
  const name = x.diag.name ? new Uint8Array(Buffer.from(x.diag.name, 'hex')) : undefined;
  let unlinked = false;
  let perm: [number, number, number] | undefined;
  let dir: string | undefined;
  if (name?.length && name[0] !== 0) {
    const p = unixNameText(name);
    if (!path.isAbsolute(p)) {
      // relative: the kernel keeps the name as given; where it resolves to the socket is the
      // working directory of a holder (of any when it is an accepted end: its listener's)
      dir = relativeDir(p, x.diag.vfsIno, holders.length ? holders : [f]);
      if (dir === undefined)
        throw new UnsupportedError(
          `${what}: unix socket bound to the relative path "${p}", which the working directory of no holder resolves to it (removed, or bound in another directory): not supported yet`,
          { pid: f.pid, object: `fd ${f.fd}`, phase: 'files' },
        );
    }
    try {
      const st = fs.statSync(dir === undefined ? `/proc/${f.pid}/root${p}` : `/proc/${f.pid}/root${path.join(dir, p)}`);
      unlinked = st.ino !== x.diag.vfsIno;
      if (!unlinked) perm = [st.uid, st.gid, st.mode & 0o7777];
    } catch {
      unlinked = true;
    }
  }
  const listening = x.diag.state === TCP_LISTEN;
  return {
    ino: x.diag.ino,
    type,
    name,
    ...(dir !== undefined ? { dir } : {}),
    unlinked,
    perm,
    listening,
    backlog: listening ? Math.min(x.diag.wq ?? 0, 65535) : 0,
    shutdown: (x.diag.shutdown ?? 0) & 3,
    passcred: x.queue.passcred !== 0,
    sndbuf: x.queue.sndbuf,
    rcvbuf: x.queue.rcvbuf,
    peekOff: x.queue.peekOff,
    opts: Object.fromEntries(UNIX_OPTS.map((k) => [k, x.queue.opts?.[INET_OPTS.indexOf(k)] ?? 0])),
    conn: 'none',
    peer: -1,
    listener: -1,
    queue: x.queue.msgs.map((m) => new Uint8Array(Buffer.from(m.data, 'hex'))),
  };
}

export const unixSocket: FdOps<FileOf<'unix'>> = {
  kind: 'unix',
  urgent: true,
  privilege: (file) => socketOptsPrivilege(file.id, 'unix', file.unix.opts),
  matches: (f, ctx) => f.stat.isSocket() && ctx.unix !== undefined,
  dump: (f, ctx) => {
    const u = unixState(f, ctx.unix!, ctx.holders);
    return { path: `${f.link} ${u.type} ${unixNameText(u.name)}`, flags: f.info.flags, pos: 0, unix: u };
  },
  captured: (file, o, cap) => cap.unix.add(file, o.ctx.unix!, o.holders[0]!.pid, o.holders[0]!.fd),
  check() {},
  plan: (file) => {
    const u = file.unix;
    // each datagram `data` ('z': empty), with its sender `data:name` (name '' = unnamed) when it has senders
    const msgs = u.queue.length ? u.queue.map((m, i) => (m.length ? hex(m) : 'z') + (u.senders ? `:${hex(u.senders[i]!)}` : '')).join(',') : undefined;
    const [uid, gid, mode] = u.perm ?? [-1, -1, -1];
    const line = planFileUnix({
      id: file.id, type: TYPE_NR[u.type], flags: openFileFlags(file.flags), conn: CONN_NR[u.conn], peer: u.peer, listener: u.listener,
      listening: u.listening, backlog: u.backlog, shutdown: u.shutdown, passcred: u.passcred, sndbuf: u.sndbuf, rcvbuf: u.rcvbuf, peekoff: u.peekOff,
      unlinked: !!u.unlinked, uid: uid!, gid: gid!, mode: mode!, name: u.name ?? new Uint8Array(), msgs, place: u.pending,
    });
    // its socket-level options (images since issue 17), right after its file line
    const opts = u.opts;
    const rights = (u.rights ?? []).flatMap((files, msg) => (files.length ? [`\n${planUnixrights({ file: file.id, msg, files })}`] : [])).join('');
    const dir = (u.dir !== undefined ? `\n${planUnixdir({ file: file.id, path: u.dir })}` : '') + (u.external?.name ? `\n${planUnixpeer({ file: file.id, name: u.external.name })}` : '');
    return (opts ? `${line}\n${planSockopts({ file: file.id, opts: INET_OPTS.map((k) => opts[k] ?? OPT_UNSET) })}` : line) + dir + rights;
  },
};
