/**
 * TCP and UDP sockets (IPv4 and IPv6). What the helper reads from a copy of the socket
 * (native/helper/kinds/inet/dump_inet.c: names, options, TCP_INFO, and for a connection its repair state:
 * sequences, both queues byte for byte, MSS, window scales, SACK, timestamps, window) becomes
 * the socket's image; whether a connection's other end is in the image is decided once every
 * socket is known (src/kernel/inet-sockets.ts). The helper recreates them
 * (native/helper/kinds/inet/restore_inet.c).
 */
import { UnsupportedError } from '../../errors.js';
import { INET_OPTS, inetName, inetText } from '../../image/kinds/inet.js';
import type { FileOf, InetAddress, InetSocketImage, InetState } from '../../image/types.js';
import { hex } from '../helper.js';
import type { FdFacts, FdOps } from './types.js';
import { planFileInet, planInetcscov, planInetshut } from '../protocol.gen.js';
import { openFileFlags } from '../linux.js';

export { INET_OPTS };
/** native/helper/kinds/inet/inet.h INET_OPT_UNSET: an option the image does not record */
export const OPT_UNSET = -0x80000000;
/** largest queue carried in the metadata (each way); a TCP connection's larger queues are
 * content objects (OBJECT records), never in the metadata or JavaScript */
export const INET_QUEUE_MAX = 4 << 20;

/** What the helper's `inetq` reports about one socket. */
export interface InetFacts {
  domain: number;
  type: number;
  proto: number;
  local?: InetAddress;
  remote?: InetAddress;
  opts?: number[];
  /** UDP: the queued datagrams (hex) with their senders */
  datagrams?: { from?: InetAddress; data: string }[];
  state?: number;
  options?: number;
  sndWscale?: number;
  rcvWscale?: number;
  acceptq?: number;
  backlog?: number;
  tooBig?: number;
  /** SO_BINDTOIFINDEX: bound to a network device; device: its name (SO_BINDTODEVICE, hex) */
  ifindex?: number;
  device?: string;
  /** UDP: sk_shutdown (1 receive side, 2 send side, 3 both; sock_diag, or poll when unlisted) */
  shutdown?: number;
  /** a classic socket filter of the program's own (hex of its instructions), or 'ebpf' */
  filter?: string;
  /** UDP-Lite: UDPLITE_SEND_CSCOV, UDPLITE_RECV_CSCOV */
  cscov?: [number, number];
  /** TCP state CLOSE after a connection: bytes left in recvQueue, an error waiting */
  disconnected?: number;
  pendingError?: number;
  /** a TCP connection: locked (a drop-all socket filter) while it was read */
  locked?: number;
  inSeq?: number;
  outSeq?: number;
  unsent?: number;
  /** fin-wait1, closing, last-ack: our FIN waits behind unsent bytes (never sent) */
  finUnsent?: number;
  mss?: number;
  timestamp?: number;
  window?: [number, number, number, number, number];
  recvQueue?: string;
  sendQueue?: string;
  /** a queue of more than INET_QUEUE_MAX bytes, kept by the helper in a memfd: [its fd in the
   * helper, bytes, the memfd's inode] (streamed as a content object) */
  recvQueueObj?: [number, number, number];
  sendQueueObj?: [number, number, number];
}

const AF_INET = 2;
const AF_INET6 = 10;
const TCP_STATES: Record<number, string> = { 1: 'ESTABLISHED', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1', 5: 'FIN_WAIT2', 6: 'TIME_WAIT', 7: 'CLOSE', 8: 'CLOSE_WAIT', 9: 'LAST_ACK', 10: 'LISTEN', 11: 'CLOSING' };
const STATE_OF: Record<number, InetState> = { 1: 'established', 4: 'fin-wait1', 5: 'fin-wait2', 7: 'closed', 8: 'close-wait', 9: 'last-ack', 10: 'listen', 11: 'closing' };
const STATE_NR: Record<InetState, number> = { closed: 0, listen: 1, established: 2, 'fin-wait2': 3, 'close-wait': 4, connected: 5, disconnected: 6, 'fin-wait1': 7, closing: 8, 'last-ack': 9 };

/** IPPROTO_UDPLITE: a UDP socket with a checksum coverage of its own */
const UDPLITE = 136;
export const isInet = (x: InetFacts) => (x.domain === AF_INET || x.domain === AF_INET6) && ((x.type === 1 && x.proto === 6) || (x.type === 2 && (x.proto === 17 || x.proto === UDPLITE)));

/** Why a socket that is neither unix nor TCP/UDP is refused. */
export function otherSocketReason(x: InetFacts): string {
  const what =
    x.domain === 17 ? 'packet sockets (AF_PACKET)'
    : x.domain === 16 ? 'netlink sockets'
    : (x.domain === AF_INET || x.domain === AF_INET6) && x.type === 3 ? 'raw IP sockets (SOCK_RAW)'
    : x.domain === AF_INET || x.domain === AF_INET6 ? `IP sockets of type ${x.type} protocol ${x.proto} (only TCP, UDP and ping)`
    : `sockets of address family ${x.domain}`;
  return `${what} are not supported (use --skip sockets to restore them closed)`;
}

export { inetName, inetText };

/** A TCP state restored with TCP_REPAIR (the FINs sent and received are replayed). */
export const isConnection = (s: InetState) => s === 'established' || s === 'fin-wait1' || s === 'fin-wait2' || s === 'close-wait' || s === 'closing' || s === 'last-ack';
/** the peer's FIN was received (close-wait, closing, last-ack) */
export const peerClosed = (s: InetState) => s === 'close-wait' || s === 'closing' || s === 'last-ack';

function inetState(f: FdFacts, x: InetFacts): InetSocketImage {
  const refuse = (why: string): never => {
    throw new UnsupportedError(`process ${f.pid} fd ${f.fd} (${f.link} ${x.proto === 6 ? 'TCP' : 'UDP'} ${inetName(x.local)}${x.remote ? ` -> ${inetName(x.remote)}` : ''}): ${why}`, {
      pid: f.pid,
      object: `fd ${f.fd}`,
      phase: 'files',
    });
  };
  const tcp = x.proto === 6;
  let state: InetState = x.remote ? 'connected' : 'closed';
  if (tcp) {
    const s = STATE_OF[x.state ?? 0] ?? refuse(`TCP state ${TCP_STATES[x.state ?? 0] ?? x.state} (a connection being opened) is not supported yet: checkpoint again in a moment`);
    state = s === 'closed' && x.disconnected ? 'disconnected' : s;
  }
  const device = x.device ? Buffer.from(x.device, 'hex').toString('latin1') : undefined;
  if ((x.ifindex && !device) || (device && !/^[\x21-\x7e]{1,15}$/.test(device)))
    refuse(`bound to network device ${x.ifindex} (SO_BINDTODEVICE), whose name cannot be read or kept: not supported`);
  if (x.filter === 'ebpf') refuse('an eBPF socket filter (SO_ATTACH_BPF) is attached to it: not supported yet');
  if (x.tooBig) refuse(`${x.tooBig} bytes queued: more than ${INET_QUEUE_MAX >> 20} MiB is not supported yet`);
  const datagrams = (x.datagrams ?? []).map((d) => {
    const from = d.from ?? refuse('a datagram without a sender address is queued: not supported');
    if (x.remote && `${from.addr}|${from.port}` !== `${x.remote.addr}|${x.remote.port}`)
      refuse(`a datagram from ${inetName(from)}, not its peer, is queued (it arrived before connect): not supported yet`);
    return { from, data: new Uint8Array(Buffer.from(d.data, 'hex')) };
  });
  const opts = Object.fromEntries(INET_OPTS.map((k, i) => [k, x.opts?.[i] ?? 0]));
  const conn = tcp && isConnection(state);
  const unbound = x.local && x.local.port === 0 && /^(0\.0\.0\.0|::)$/.test(x.local.addr);
  return {
    ino: f.stat.ino,
    family: x.domain === AF_INET6 ? 6 : 4,
    proto: tcp ? 'tcp' : 'udp',
    ...(x.proto === UDPLITE ? { lite: x.cscov ?? [0, 0] } : {}),
    state,
    local: unbound ? undefined : x.local,
    remote: state === 'closed' || state === 'listen' ? undefined : x.remote,
    backlog: state === 'listen' ? Math.min(x.backlog ?? 0, 65535) : 0,
    ...(state === 'listen' && x.acceptq ? { acceptq: x.acceptq } : {}),
    opts,
    ...(datagrams.length ? { datagrams } : {}),
    ...(state === 'disconnected' ? { leftToRead: new Uint8Array(Buffer.from(x.recvQueue ?? '', 'hex')), resetPending: x.pendingError === 1 } : {}),
    ...(x.filter ? { filter: new Uint8Array(Buffer.from(x.filter, 'hex')) } : {}),
    ...(device ? { device } : {}),
    ...(!tcp && x.shutdown ? { shutdown: x.shutdown & 3 } : {}),
    tcp: conn
      ? {
          inSeq: x.inSeq ?? 0,
          outSeq: x.outSeq ?? 0,
          recvQueue: new Uint8Array(Buffer.from(x.recvQueue ?? '', 'hex')),
          sendQueue: new Uint8Array(Buffer.from(x.sendQueue ?? '', 'hex')),
          // [memfd inode, bytes] until the content objects are numbered (objects.ts)
          ...(x.recvQueueObj ? { recvObj: [x.recvQueueObj[2], x.recvQueueObj[1]] as [number, number] } : {}),
          ...(x.sendQueueObj ? { sendObj: [x.sendQueueObj[2], x.sendQueueObj[1]] as [number, number] } : {}),
          unsent: x.unsent ?? 0,
          ...(x.finUnsent ? { finUnsent: true } : {}),
          mss: x.mss ?? 0,
          sndWscale: x.sndWscale ?? 0,
          rcvWscale: x.rcvWscale ?? 0,
          options: (x.options ?? 0) & 7,
          timestamp: x.timestamp ?? 0,
          window: x.window ?? [0, 0, 0, 0, 0],
        }
      : undefined,
  };
}

export const inetSocket: FdOps<FileOf<'inet'>> = {
  kind: 'inet',
  matches: (f, ctx) => f.stat.isSocket() && ctx.inet !== undefined && isInet(ctx.inet),
  dump: (f, ctx) => {
    const u = inetState(f, ctx.inet!);
    return { path: `${f.link} ${inetText(u)}`, flags: f.info.flags, pos: 0, inet: u };
  },
  captured(file, o, cap) {
    const h = o.holders[0]!;
    cap.inet.add(file, o.ctx.inet!, h.pid, h.fd);
    // queues of more than 4 MiB: memfds of the helper, read as content objects
    for (const q of [o.ctx.inet!.recvQueueObj, o.ctx.inet!.sendQueueObj]) if (q && file.inet.tcp) cap.objectPath(q[2], `/proc/${cap.helper.pid}/fd/${q[0]}`);
  },
  check() {},
  urgent: true,
  privilege(file, host) {
    const opts = socketOptsPrivilege(file.id, file.inet.proto, file.inet.opts);
    if (opts) return opts;
    const port = file.inet.local?.port ?? 0;
    if (port > 0 && port < host.firstFreePort)
      return { who: `file ${file.id} (${file.inet.proto} socket)`, what: `bound to port ${port}, below ip_unprivileged_port_start (${host.firstFreePort}): binding it needs CAP_NET_BIND_SERVICE` };
    return undefined;
  },
  plan: (file, ctx) => {
    const u = file.inet;
    // restart --tcp-close: a connection comes back finished (CLOSE, EOF, EPIPE), queues dropped
    if (ctx.tcpClose && isConnection(u.state)) return planInetClosed(file);
    const t = u.tcp;
    // 0 plain, 1 TCP_REPAIR, 2 reset, 3 finished, 4 peer closed, 5 connect (native/helper/restore/plan.h)
    const outsideClosed = u.peer === 'outside' && u.policy !== 'established';
    const mode =
      u.state === 'disconnected' ? (u.resetPending ? 2 : 3)
      : !t ? 0
      : u.peer === 'pending' ? 5
      : outsideClosed ? (peerClosed(u.state) ? 4 : 2)
      : 1;
    // queues: hex, or @obj:len (kept in a content object); UDP: the datagrams with their senders
    const q = (b: Uint8Array | undefined) => (b?.length ? hex(b) : undefined);
    const dg = u.datagrams?.length ? u.datagrams.map((d) => `${d.from.addr}/${d.from.port}/${hex(d.data)}`).join(',') : undefined;
    const line = planFileInet({
      id: file.id, family: u.family, proto: u.proto === 'tcp' ? 6 : u.lite ? UDPLITE : 17, flags: openFileFlags(file.flags), state: STATE_NR[u.state], mode,
      local: u.local?.addr, lport: u.local?.port ?? 0, remote: u.remote?.addr, rport: u.remote?.port ?? 0, backlog: u.backlog,
      opts: INET_OPTS.map((k) => u.opts[k] ?? OPT_UNSET),
      inseq: t?.inSeq ?? 0, outseq: t?.outSeq ?? 0, unsent: t?.unsent ?? 0, mss: t?.mss ?? 0, sndws: t?.sndWscale ?? 0, rcvws: t?.rcvWscale ?? 0, tcpopts: t?.options ?? 0, timestamp: t?.timestamp ?? 0,
      window: t?.window ?? [0, 0, 0, 0, 0],
      rq: t ? (t.recvObj ? `@${t.recvObj.join(':')}` : q(t.recvQueue)) : u.leftToRead ? q(u.leftToRead) : dg,
      sq: t?.sendObj ? `@${t.sendObj.join(':')}` : q(t?.sendQueue),
      keeper: u.keeper?.pid ?? 0, keeperStart: u.keeper?.start ?? 0, filter: u.filter ?? new Uint8Array(),
      finunsent: !!t?.finUnsent, ...(u.device ? { dev: u.device } : {}),
    });
    const shut = u.shutdown && u.proto === 'udp' ? `\n${planInetshut({ file: file.id, how: u.shutdown })}` : '';
    return line + (u.lite ? `\n${planInetcscov({ file: file.id, send: u.lite[0], recv: u.lite[1] })}` : '') + shut;
  },
};

/** A connection restored closed by restart --tcp-close: mode finished with nothing to read
 * (native/helper/kinds/inet/restore_inet_peer.c make_reset). */
function planInetClosed(file: FileOf<'inet'>): string {
  const u = file.inet;
  return planFileInet({
    id: file.id, family: u.family, proto: 6, flags: openFileFlags(file.flags), state: STATE_NR.disconnected, mode: 3,
    local: u.local?.addr, lport: u.local?.port ?? 0, remote: u.remote?.addr, rport: u.remote?.port ?? 0, backlog: 0,
    opts: INET_OPTS.map((k) => u.opts[k] ?? OPT_UNSET),
    inseq: 0, outseq: 0, unsent: 0, mss: 0, sndws: 0, rcvws: 0, tcpopts: 0, timestamp: 0, window: [0, 0, 0, 0, 0],
    keeper: u.keeper?.pid ?? 0, keeperStart: u.keeper?.start ?? 0, filter: u.filter ?? new Uint8Array(),
    finunsent: false, ...(u.device ? { dev: u.device } : {}),
  });
}

/** Socket options only privilege sets (CAP_NET_ADMIN): SO_PRIORITY above 6, SO_MARK,
 * IP_TRANSPARENT (unix sockets too: fds/unix.ts). */
export function socketOptsPrivilege(id: number, what: string, o: Record<string, number> | undefined): { who: string; what: string } | undefined {
  const opts = o ?? {};
  const needs =
    (opts.priority ?? 0) > 6 ? `SO_PRIORITY ${opts.priority} (above 6 needs CAP_NET_ADMIN)`
    : opts.mark ? `SO_MARK ${opts.mark} (needs CAP_NET_ADMIN)`
    : opts.transparent ? 'IP_TRANSPARENT (needs CAP_NET_ADMIN)'
    : undefined;
  return needs ? { who: `file ${id} (${what} socket)`, what: `has ${needs}` } : undefined;
}
