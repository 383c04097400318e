/**
 * Unix sockets of a tree at checkpoint: sock_diag (through the helper) gives every unix socket
 * of the network namespace with its peer's inode, which pairs both ends and finds listeners;
 * the helper peeks each socket's queue. Once every socket of the tree is an object, link()
 * decides how each connection comes back (socketpair, connect + accept, a datagram connect, or
 * a temporary peer closed after refilling when the peer was gone) and refuses, with one line
 * naming the socket, what cannot be restored exactly: a peer outside the tree (unless
 * --external-unix=close), connections waiting to be accepted. Descriptors in flight (SCM_RIGHTS)
 * that a peek installed in the helper become objects of the tree (files.ts: the same object as
 * a task's fd, or one held by no fd), named by each queued message (`rights`).
 */
import { UnsupportedError } from '../errors.js';
import type { FileOf, UnixSocketImage } from '../image/types.js';
import { TCP_LISTEN, UNIX_QUEUE_MAX, unixNameText, type DiagSocket, type UnixFacts } from './fds/unix.js';
import type { Helper } from './helper.js';
import { commOf, fdsOfOthers, readLink } from './proc.js';
import { dumpUnixdiag, dumpUnixq } from './protocol.gen.js';

export type ExternalUnixPolicy = 'refuse' | 'close' | 'reconnect';

/** --external-unix=reconnect: the name a datagram socket connects to again on restart (its
 * outside peer's, from getpeername: an absolute path or an abstract name), when nothing is
 * queued at it; else undefined (restored with its peer closed). */
function reconnectName(u: UnixSocketImage, peername: string): Uint8Array | undefined {
  const b = Buffer.from(peername, 'hex');
  // a path's name as the kernel keeps it ends with its NUL
  const n = new Uint8Array(b[0] === 0x2f ? b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)) : b);
  const ok = u.type === 'dgram' && !u.queue.length && n.length > 0 && n.length <= 108 && (n[0] === 0 || (n[0] === 0x2f && !n.includes(0)));
  return ok ? n : undefined;
}

interface Entry {
  file: FileOf<'unix'>;
  facts: UnixFacts;
  pid: number;
  fd: number;
}

interface Outside {
  pid: number;
  fd: number;
  comm: string;
}

const sameName = (a?: Uint8Array, b?: Uint8Array) => Buffer.from(a ?? []).equals(Buffer.from(b ?? []));

export class UnixSockets {
  private diag: Map<number, DiagSocket> | undefined;
  private entries: Entry[] = [];
  readonly warnings: string[] = [];

  constructor(
    private helper: Helper,
    private opt: {
      tree: Set<number>;
      ignore: Set<number>;
      externalUnix: ExternalUnixPolicy;
      /** a descriptor in flight, installed in the helper by a peek: the object it is (files.ts) */
      inFlight?: (pid: number, fd: number, via: string) => unknown;
      /** that object's file id, once every object is captured */
      idOf?: (obj: unknown) => number | undefined;
    },
  ) {}

  /** sock_diag and peek facts of a socket, or undefined when it is not a unix socket. */
  async facts(pid: number, fd: number, ino: number): Promise<UnixFacts | undefined> {
    if (!this.diag) {
      let here = '', there = '';
      try {
        here = readLink('/proc/self/ns/net');
        there = readLink(`/proc/${pid}/ns/net`);
      } catch {
        /* compared below */
      }
      if (here !== there)
        throw new UnsupportedError(`process ${pid} fd ${fd} (socket:[${ino}]): sockets of another network namespace are not supported yet`, { pid, phase: 'files' });
      this.helper.send(dumpUnixdiag());
      const ev = await this.helper.next('unixdiag');
      this.diag = new Map(ev.socks.map((s) => [s.ino, s]));
    }
    const d = this.diag.get(ino);
    if (!d) return undefined;
    const streamLike = d.type !== 2;
    const rq = d.state === TCP_LISTEN || !streamLike ? 0 : (d.rq ?? 0);
    if (rq > UNIX_QUEUE_MAX)
      throw new UnsupportedError(`process ${pid} fd ${fd} (socket:[${ino}]): more than ${UNIX_QUEUE_MAX >> 20} MiB queued in a unix socket: not supported yet`, { pid, phase: 'files' });
    this.helper.send(dumpUnixq({ pid, fd, rq }));
    const queue = await this.helper.next('unixq');
    for (const m of queue.msgs)
      if (m.fds?.length) {
        if (!this.opt.inFlight || this.helper.pid === undefined)
          throw new UnsupportedError(`process ${pid} fd ${fd} (socket:[${ino}]): file descriptors in flight (SCM_RIGHTS) are queued in it: not supported here`, { pid, phase: 'files' });
        m.refs = m.fds.map((hfd) => this.opt.inFlight!(this.helper.pid!, hfd, `socket:[${ino}]`));
      }
    return { diag: d, queue };
  }

  add(file: FileOf<'unix'>, facts: UnixFacts, pid: number, fd: number): void {
    this.entries.push({ file, facts, pid, fd });
  }

  /** Resolves every connection; throws on what cannot be restored exactly. */
  link(): void {
    const byIno = new Map(this.entries.map((e) => [e.facts.diag.ino, e]));
    let outside: Map<number, Outside> | undefined;
    for (const e of this.entries) {
      const u = e.file.unix;
      const d = e.facts.diag;
      const q = e.facts.queue;
      const what = `process ${e.pid} fd ${e.fd} (socket:[${d.ino}] ${u.type} ${unixNameText(u.name)})`;
      const refuse = (why: string) => {
        throw new UnsupportedError(`${what}: ${why}`, { pid: e.pid, object: `fd ${e.fd}`, phase: 'files' });
      };
      if (q.rights) refuse('more file descriptors in flight (SCM_RIGHTS) with one message than a peek can take: not supported');
      if (q.bytes > UNIX_QUEUE_MAX) refuse(`more than ${UNIX_QUEUE_MAX >> 20} MiB queued: not supported yet`);
      if (u.listening) this.linkWaiting(e, byIno, refuse);
      if (u.passcred && u.queue.length) refuse('data queued with credentials (SO_PASSCRED): not supported yet');
      if (u.conn === 'none' && d.peer !== undefined && u.pending === undefined) {
        const p = byIno.get(d.peer);
        if (p) this.linkPair(e, p, refuse);
        else {
          if (d.peer !== 0) {
            const l = [...this.diag!.values()].find((s) => s.icons?.includes(d.peer!));
            if (l) refuse(`its connection is still waiting in the accept queue of listening socket:[${l.ino}]: not supported yet`);
            outside ??= findHolders(this.opt.tree, this.opt.ignore);
            const h = outside.get(d.peer);
            const by = h ? `process ${h.pid} (${h.comm}) fd ${h.fd}` : 'no process of this pid namespace (in flight or elsewhere)';
            const msg = `its peer socket:[${d.peer}] is held by ${by} outside the checkpointed tree`;
            if (this.opt.externalUnix !== 'close' && this.opt.externalUnix !== 'reconnect') refuse(`${msg} (use --external-unix=close to restore it disconnected)`);
            const again = this.opt.externalUnix === 'reconnect' ? reconnectName(u, e.facts.queue.peername) : undefined;
            u.external = { ino: d.peer, pid: h?.pid ?? 0, fd: h?.fd ?? 0, comm: h?.comm ?? '?', ...(again ? { name: again } : {}) };
            this.warnings.push(`${what}: ${msg}: ${again ? `connected again to ${unixNameText(again)} on restart` : 'restored with its peer closed'}`);
          }
          if (u.external?.name) Object.assign(u, { conn: 'dgram', peer: -1 });
          else this.linkGone(u);
        }
      }
      if (u.type === 'dgram' && u.queue.length) this.linkSenders(e, refuse);
      if (q.msgs.some((m) => m.refs?.length)) {
        if (u.senders) refuse('file descriptors in flight (SCM_RIGHTS) in datagrams from senders other than its peer: not supported yet');
        u.rights = q.msgs.map((m) => (m.refs ?? []).map((r) => this.opt.idOf!(r)!));
      }
    }
  }

  /** Both ends are in the tree. */
  private linkPair(e: Entry, p: Entry, refuse: (why: string) => never): void {
    const u = e.file.unix;
    const v = p.file.unix;
    if (u.type === 'dgram') {
      if (p.facts.diag.peer === e.facts.diag.ino && !u.name?.length && !v.name?.length) {
        Object.assign(u, { conn: 'pair', peer: p.file.id });
        Object.assign(v, { conn: 'pair', peer: e.file.id });
      } else if (v.name?.length) {
        Object.assign(u, { conn: 'dgram', peer: p.file.id });
      } else refuse('connected to an unnamed datagram socket that is not connected back: not supported yet');
      return;
    }
    if (p.facts.diag.peer !== e.facts.diag.ino) refuse(`its peer socket:[${p.facts.diag.ino}] is connected elsewhere`);
    if (!u.name?.length && !v.name?.length) {
      Object.assign(u, { conn: 'pair', peer: p.file.id });
      Object.assign(v, { conn: 'pair', peer: e.file.id });
      return;
    }
    // the accepted end carries its listener's name; a listener of the tree is used when there is one
    const lu = this.listenerFor(u);
    const lv = this.listenerFor(v);
    const serverIsU = lu >= 0 ? true : lv >= 0 ? false : !!u.name?.length && (!v.name?.length || e.file.id < p.file.id);
    const [srv, cli, l] = serverIsU ? [e, p, lu] : [p, e, lv];
    Object.assign(srv.file.unix, { conn: 'accepted', peer: cli.file.id, listener: l });
    const ld = this.entries.find((x) => x.file.id === l)?.file.unix.dir;
    if (ld !== undefined && srv.file.unix.dir !== undefined) srv.file.unix.dir = ld; // its listener's directory
    Object.assign(cli.file.unix, { conn: 'client', peer: srv.file.id, listener: l });
  }

  /** Connections waiting in a listener's accept queue (sock_diag names their clients, in queue
   * order): each client of the tree connects again, in that order, once the listener exists. */
  private linkWaiting(e: Entry, byIno: Map<number, Entry>, refuse: (why: string) => never): void {
    const icons = e.facts.diag.icons ?? [];
    const outside = icons.filter((c) => !byIno.has(c)).length;
    if (outside) refuse(`${outside} connection(s) from outside the tree (or closed since) wait in its accept queue: not supported yet`);
    icons.forEach((ino, i) => {
      const c = byIno.get(ino)!;
      if (c.facts.diag.wq)
        throw new UnsupportedError(
          `process ${c.pid} fd ${c.fd} (socket:[${ino}]): data it sent waits unread in the accept queue of socket:[${e.facts.diag.ino}] (${unixNameText(e.file.unix.name)}): the kernel shows it only to accept(): not supported yet`,
          { pid: c.pid, object: `fd ${c.fd}`, phase: 'files' },
        );
      Object.assign(c.file.unix, { conn: 'client', peer: -1, listener: e.file.id, pending: i });
    });
  }

  /** Datagrams queued at a socket are written again by its peer when they all came from it
   * (a pair, or a peer connected back), else each by its own sender: the socket of the tree
   * bound to the sender's name, or a temporary one bound to it (or unnamed), before any
   * datagram socket connects (a connected socket takes datagrams only from its peer). */
  private linkSenders(e: Entry, refuse: (why: string) => never): void {
    const u = e.file.unix;
    const p = u.peer >= 0 ? this.entries.find((x) => x.file.id === u.peer) : undefined;
    const byPeer = p ? p.facts.diag.peer === e.facts.diag.ino : u.conn === 'pair';
    const from = p?.file.unix.name ?? new Uint8Array();
    const msgs = e.facts.queue.msgs;
    if (byPeer && msgs.every((m) => sameName(Buffer.from(m.from, 'hex'), from))) return;
    if (!u.name?.length) refuse('datagrams queued at an unnamed socket from senders other than its peer: not supported yet');
    // a named socket whose peer was closed is made unconnected, its datagrams sent again by
    // their senders, then it connects to a temporary peer (restore: unix_gone_peers); not when
    // the peer is outside the tree: its name is still held there
    if (u.conn === 'pair' && (u.peer >= 0 || u.external)) refuse('datagrams from other senders queued at a socket whose peer is outside the tree: not supported yet');
    u.senders = msgs.map((m) => new Uint8Array(Buffer.from(m.from, 'hex')));
    if (u.senders.some((n) => n.length && n[0] !== 0 && n[0] !== 0x2f)) refuse('datagrams queued from a sender bound to a relative path: not supported yet');
  }

  /** The peer is gone (closed, or outside and closed on restart): a temporary one writes the
   * queue and is closed. */
  private linkGone(u: UnixSocketImage): void {
    if (u.type !== 'dgram' && u.name?.length) Object.assign(u, { conn: 'accepted', peer: -1, listener: this.listenerFor(u) });
    else Object.assign(u, { conn: 'pair', peer: -1 });
  }

  private listenerFor(u: UnixSocketImage): number {
    if (!u.name?.length) return -1;
    const l = this.entries.find((x) => x.file.unix.listening && x.file.unix.type === u.type && sameName(x.file.unix.name, u.name));
    return l && l.file.unix !== u ? l.file.id : -1;
  }
}

/** Socket inodes held by processes outside the tree: inode -> one holder. */
export function findHolders(tree: Set<number>, ignore: Set<number>): Map<number, Outside> {
  const m = new Map<number, Outside>();
  for (const { pid, fd } of fdsOfOthers((p) => tree.has(p) || ignore.has(p))) {
    let link: string;
    try {
      link = readLink(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const mm = /^socket:\[(\d+)\]$/.exec(link);
    if (mm && !m.has(Number(mm[1]))) m.set(Number(mm[1]), { pid, fd, comm: commOf(pid) });
  }
  return m;
}

