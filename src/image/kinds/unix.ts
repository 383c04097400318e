/** Unix domain sockets (src/kernel/fds/unix.ts): the socket's state and its links to other
 * sockets, checked. */
import type { CborValue } from '../cbor.js';
import { MAX_FD, QUEUE_MAX, PID_MAX, Where, arr, bool, bytes, field, int, obj, str } from '../check.js';
import type { FileBase, FileImage, UnixConn, UnixSocketImage, UnixSocketType } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface UnixFile extends FileBase {
  kind: 'unix';
  /** the socket's state (src/kernel/fds/unix.ts) */
  unix: UnixSocketImage;
}

export const unixFormat: FileFormat<UnixFile> = {
  kind: 'unix',
  fields: ['unix'],
  read(o, w) {
    if (o.unix === undefined) w.fail('unix socket without its state');
    return { unix: checkUnix(o.unix, w.at('unix')) };
  },
  link: (f, w, ctx) => checkUnixLinks(f, w.at('unix'), ctx.byId),
  detail(f) {
    const u = f.unix;
    const how = u.listening ? `listening (backlog ${u.backlog})` : u.conn === 'none' ? 'not connected' : `${u.conn}${u.peer === f.id ? ' with itself' : u.peer >= 0 ? ` with #${u.peer}` : ', peer gone'}`;
    const bytes = u.queue.reduce((s, m) => s + m.length, 0);
    const inFlight = u.rights?.reduce((s, m) => s + m.length, 0);
    const ext = (inFlight ? `, ${inFlight} file(s) in flight` : '') + (u.external ? `, peer was held by ${u.external.pid} (${u.external.comm}): ${u.external.name ? `connected again to ${nameText(u.external.name)}` : 'restored closed'}` : '');
    return `unix #${f.id}: ${f.path}${u.unlinked ? ' (unlinked)' : ''}, ${how}, ${bytes} bytes queued in ${u.queue.length} message(s)${ext}`;
  },
  warnings: (f) =>
    f.unix.external ? [`unix #${f.id}: its peer was held by ${f.unix.external.pid} (${f.unix.external.comm}) outside the tree: ${f.unix.external.name ? `connected again to ${nameText(f.unix.external.name)} on restart` : 'restored with the peer gone'}`] : [],
};

/** src/kernel/fds/unix.ts UNIX_OPTS */
const UNIX_OPTS = ['keepalive', 'broadcast', 'linger', 'priority', 'rcvlowat', 'oobinline', 'mark', 'buflock', 'timestamp', 'timestampns', 'timestamping', 'rcvtimeo', 'sndtimeo', 'dontroute', 'zerocopy'];

function unixOpts(v: CborValue | undefined, w: Where): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, y] of Object.entries(obj(v, w))) {
    if (!UNIX_OPTS.includes(k)) w.fail(`unknown option ${k}`);
    out[k] = int(y, w.at(k), -1, 0x7fffffff);
  }
  return out;
}

const TYPES: UnixSocketType[] = ['stream', 'dgram', 'seqpacket'];
const CONNS: UnixConn[] = ['none', 'pair', 'client', 'accepted', 'dgram'];

function oneOf<T extends string>(list: T[]) {
  return (v: CborValue | undefined, w: Where): T => {
    const s = str(v, w, 16);
    if (!list.includes(s as T)) w.fail(`expected one of ${list.join(', ')}`);
    return s as T;
  };
}

/** a path, or @name for an abstract one */
const nameText = (n: Uint8Array) => (n[0] === 0 ? `@${Buffer.from(n.subarray(1)).toString('latin1')}` : Buffer.from(n).toString('utf8'));

function perm(v: CborValue, w: Where): [number, number, number] {
  const a = arr(v, w, 3);
  if (a.length !== 3) w.fail('expected [uid, gid, mode]');
  return [int(a[0], w.at(0), 0, 0xfffffffe), int(a[1], w.at(1), 0, 0xfffffffe), int(a[2], w.at(2), 0, 0o7777)];
}

export function checkUnix(v: CborValue | undefined, w: Where): UnixSocketImage {
  const o = obj(v, w);
  const ext = o.external === undefined ? undefined : obj(o.external, w.at('external'));
  const ew = w.at('external');
  const queue = arr(o.queue, w.at('queue'), 1 << 16).map((m, i) => bytes(m, w.at('queue').at(i), 0, QUEUE_MAX));
  if (queue.reduce((s, m) => s + m.length, 0) > QUEUE_MAX) w.at('queue').fail(`more than ${QUEUE_MAX} bytes queued`);
  const u: UnixSocketImage = {
    ino: field(o, 'ino', w, (y, ww) => int(y, ww, 0, 0xffffffff)),
    type: field(o, 'type', w, oneOf(TYPES)),
    name: o.name === undefined ? undefined : field(o, 'name', w, (y, ww) => bytes(y, ww, 1, 108)),
    ...(o.dir !== undefined ? { dir: field(o, 'dir', w, (y, ww) => str(y, ww, 4095)) } : {}),
    unlinked: field(o, 'unlinked', w, bool),
    perm: o.perm === undefined ? undefined : perm(o.perm, w.at('perm')),
    listening: field(o, 'listening', w, bool),
    backlog: field(o, 'backlog', w, (y, ww) => int(y, ww, 0, 65535)),
    shutdown: field(o, 'shutdown', w, (y, ww) => int(y, ww, 0, 3)),
    passcred: field(o, 'passcred', w, bool),
    sndbuf: field(o, 'sndbuf', w, (y, ww) => int(y, ww, 0, 1 << 30)),
    rcvbuf: field(o, 'rcvbuf', w, (y, ww) => int(y, ww, 0, 1 << 30)),
    peekOff: field(o, 'peekOff', w, (y, ww) => int(y, ww, -1, 1 << 30)),
    ...(o.opts !== undefined ? { opts: unixOpts(o.opts, w.at('opts')) } : {}),
    conn: field(o, 'conn', w, oneOf(CONNS)),
    peer: field(o, 'peer', w, (y, ww) => int(y, ww, -1, 1 << 30)),
    listener: field(o, 'listener', w, (y, ww) => int(y, ww, -1, 1 << 30)),
    external: ext && {
      ino: field(ext, 'ino', ew, (y, ww) => int(y, ww, 0, 0xffffffff)),
      pid: field(ext, 'pid', ew, (y, ww) => int(y, ww, 0, PID_MAX)),
      fd: field(ext, 'fd', ew, (y, ww) => int(y, ww, 0, MAX_FD)),
      comm: field(ext, 'comm', ew, (y, ww) => str(y, ww, 16)),
      ...(ext.name !== undefined ? { name: field(ext, 'name', ew, (y, ww) => bytes(y, ww, 1, 108)) } : {}),
    },
    queue,
    ...(o.pending !== undefined ? { pending: field(o, 'pending', w, (y, ww) => int(y, ww, 0, 65535)) } : {}),
    ...(o.rights !== undefined ? { rights: arr(o.rights, w.at('rights'), 1 << 16).map((m, i) => arr(m, w.at('rights').at(i), 253).map((x, j) => int(x, w.at('rights').at(i).at(j), 0, 1 << 30))) } : {}),
    ...(o.senders !== undefined ? { senders: arr(o.senders, w.at('senders'), 1 << 16).map((m, i) => bytes(m, w.at('senders').at(i), 0, 108)) } : {}),
  };
  // a pair only when its peer was closed in the tree (peer -1, not outside): older readers refuse it
  if (u.senders && (u.type !== 'dgram' || !u.name || (u.conn === 'pair' && (u.peer !== -1 || u.external)) || u.senders.length !== u.queue.length)) w.at('senders').fail('one sender per datagram, only at a named datagram socket');
  const relative = !!u.name?.length && u.name[0] !== 0 && u.name[0] !== 0x2f;
  if (relative !== (u.dir !== undefined) || (u.dir !== undefined && (!u.dir.startsWith('/') || u.dir.includes('\0')))) w.at('dir').fail('an absolute directory, exactly for a name that is a relative path');
  if (u.rights && (u.rights.length !== u.queue.length || u.senders || u.listening)) w.at('rights').fail('one list of files in flight per queued message, not with datagrams sent again by other senders');
  if (u.listening && (u.conn !== 'none' || u.type === 'dgram')) w.fail('a listening socket cannot be connected or a datagram socket');
  if (u.type === 'dgram' && (u.conn === 'client' || u.conn === 'accepted')) w.fail('a datagram socket is not accepted');
  if (u.type !== 'dgram' && u.conn === 'dgram') w.fail('only datagram sockets connect to a name');
  if (u.conn === 'none' && u.queue.length && u.type === 'dgram' && !u.senders) w.fail('datagrams queued at an unconnected socket');
  const again = u.external?.name;
  if (again && (u.type !== 'dgram' || u.conn !== 'dgram' || u.peer !== -1 || u.queue.length || (again[0] !== 0 && again[0] !== 0x2f) || (again[0] === 0x2f && again.includes(0))))
    w.at('external').at('name').fail('an absolute path or abstract name, only for a datagram socket connected again outside, with nothing queued');
  return u;
}

/** Every peer and listener reference of unix socket f names a unix socket that agrees with it. */
export function checkUnixLinks(f: UnixFile, fw: Where, byId: Map<number, FileImage>): void {
  const u = f.unix;
  const unixOf = (id: number) => {
    const x = byId.get(id);
    return x?.kind === 'unix' ? x.unix : undefined;
  };
  const peer = u.peer >= 0 ? unixOf(u.peer) : undefined;
  const listener = u.listener >= 0 ? unixOf(u.listener) : undefined;
  // the one socket that may be its own peer: a named datagram socket connected to its own name
  const self = u.peer === f.id && u.type === 'dgram' && u.conn === 'dgram' && !!u.name?.length;
  if (u.peer >= 0 && (!peer || peer.type !== u.type || (u.peer === f.id && !self))) fw.fail('peer is not another unix socket of its type (or a named datagram socket connected to itself)');
  u.rights?.forEach((ids, i) =>
    ids.forEach((id, j) => {
      const x = byId.get(id);
      if (!x || x.kind === 'closed') fw.at('rights').at(i).at(j).fail('not another open file of the image');
    }),
  );
  if (u.listener >= 0 && (!listener || !listener.listening || listener.type !== u.type)) fw.fail('listener is not a listening socket of its type');
  if (u.conn === 'none' && u.peer >= 0) fw.fail('an unconnected socket with a peer');
  if (u.conn === 'pair' && peer && (peer.conn !== 'pair' || peer.peer !== f.id)) fw.fail('the ends of a pair disagree');
  if (u.pending !== undefined && (u.conn !== 'client' || u.peer !== -1 || !listener || u.queue.length)) fw.fail('a connection waiting in an accept queue is a client of a listener, with no peer and nothing queued');
  if (u.conn === 'client' && u.pending === undefined && (!peer || peer.conn !== 'accepted' || peer.peer !== f.id)) fw.fail('a client without its accepted end');
  if (u.conn === 'accepted' && peer && (peer.conn !== 'client' || peer.peer !== f.id)) fw.fail('an accepted end without its client');
  if (u.conn === 'accepted' && !u.name) fw.fail('an accepted end without a name');
  if (u.conn === 'dgram' && !u.external?.name && (!peer || !peer.name)) fw.fail('a datagram socket connected to an unnamed socket');
  if ((u.conn === 'none' || (u.conn === 'dgram' && peer?.peer !== f.id)) && u.queue.length && u.type === 'dgram' && !u.senders) fw.fail('datagrams queued without a writer');
}
