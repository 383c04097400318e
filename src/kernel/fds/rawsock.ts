/**
 * Raw IP sockets (SOCK_RAW), ping sockets (SOCK_DGRAM IPPROTO_ICMP/ICMPV6), packet sockets
 * (AF_PACKET) and netlink sockets. The helper reads each on a copy (`rawsockq`,
 * native/helper/kinds/rawsock/dump_rawsock.c): names, options, a packet socket's device,
 * memberships and rings (sock_diag), a netlink socket's port id and groups; it makes them
 * again before any task exists (restore_rawsock.c). What is queued is not kept: dropped like
 * packets lost on the network (docs/kinds-rawsock.md). What cannot come back is refused here.
 */
import { UnsupportedError } from '../../errors.js';
import { INET_OPTS } from '../../image/kinds/inet.js';
import { AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, RAWSOCK_KOPTS, RAW_OPT_UNSET, rawSockText, type RawSockImage } from '../../image/kinds/rawsock.js';
import type { FileOf } from '../../image/types.js';
import { openFileFlags } from '../linux.js';
import { dumpRawsockq, planFileRawsock } from '../protocol.gen.js';
import type { InetFacts } from './inet.js';
import { socketOptsPrivilege } from './inet.js';
import type { FdOps } from './types.js';

/** What the helper's `rawsockq` reports about one socket. */
export interface RawSockFacts {
  domain: number;
  type: number;
  proto: number;
  local?: string;
  remote?: string;
  opts: number[];
  kopts: number[];
  ifindex?: number;
  ifname?: string;
  groups?: number[];
  tooManyGroups?: number;
  mclist?: string;
  blob?: string;
  filter?: string;
  /** a packet socket's rings (sock_diag): block size, blocks, frame size, frames, retire
   * timeout, private size, features */
  rxRing?: number[];
  txRing?: number[];
  /** TPACKET_V1/V2: the receive ring's next frame; the send ring used (1) or holding frames
   * to send (2); a TPACKET_V3 ring; the helper could not map the rings (errno) */
  rxHead?: number;
  txUsed?: number;
  ringV3?: number;
  ringErr?: number;
  /** sock_diag of packet sockets failed (errno) */
  diag?: number;
}

/** A socket this kind takes: raw IP, ping, packet or netlink. */
export const isRawSock = (x: InetFacts) =>
  x.domain === AF_PACKET || x.domain === AF_NETLINK || ((x.domain === AF_INET || x.domain === AF_INET6) && (x.type === 3 || (x.type === 2 && x.proto === (x.domain === AF_INET ? 1 : 58))));

const bytes = (h: string | undefined) => (h ? new Uint8Array(Buffer.from(h, 'hex')) : undefined);

/** The socket's record from the helper's facts, or the one-line refusal. */
export function rawSockState(x: RawSockFacts, ino: number, refuse: (why: string) => never): RawSockImage {
  if (x.type !== 2 && x.type !== 3) refuse(`a socket of type ${x.type === 10 ? 'SOCK_PACKET (the obsolete packet interface)' : x.type}: not supported`);
  if (x.filter === 'ebpf') refuse('an eBPF socket filter (SO_ATTACH_BPF) is attached to it: not supported yet');
  if (x.ringV3) refuse('a packet socket with a TPACKET_V3 ring (blocks retired by the kernel): not supported yet');
  if (x.ringErr) refuse(`its rings cannot be read (mmap: errno ${x.ringErr}): not supported`);
  if (x.txUsed === 2) refuse('frames wait in its send ring (PACKET_TX_RING, TP_STATUS_SEND_REQUEST): not supported yet: checkpoint again once they are sent');
  if (x.txUsed) refuse('a send ring (PACKET_TX_RING) that has carried frames: not supported yet (the kernel\'s position in it cannot be read)');
  if (x.domain === AF_PACKET && x.diag) refuse(`its rings and memberships cannot be read (sock_diag of packet sockets: errno ${x.diag}): not supported`);
  if (x.tooManyGroups) refuse(`member of netlink groups beyond ${1024}: not supported`);
  if (x.ifindex && x.domain !== AF_PACKET && !x.ifname) refuse(`bound to network device ${x.ifindex}, which has no name (SO_BINDTODEVICE): not supported`);
  const kopts = RAWSOCK_KOPTS[x.domain]!;
  if (x.domain === AF_PACKET) {
    const fan = x.kopts[kopts.indexOf('fanout')] ?? 0;
    const ftype = (fan >> 16) & 0xff;
    if (fan !== RAW_OPT_UNSET && fan && (ftype === 6 || ftype === 7)) refuse('a packet fanout group steered by a BPF program (PACKET_FANOUT_CBPF/EBPF): not supported yet');
  }
  const local = bytes(x.local);
  // an IP socket never bound nor connected keeps no name: the kernel shows the any address
  const ring = (r: number[] | undefined) => (r ? r.slice(0, 4) : [0, 0, 0, 0]);
  return {
    ino,
    domain: x.domain as RawSockImage['domain'],
    type: x.type as 2 | 3,
    proto: x.proto,
    opts: INET_OPTS.map((_, i) => x.opts[i] ?? RAW_OPT_UNSET),
    kopts: kopts.map((_, i) => x.kopts[i] ?? RAW_OPT_UNSET),
    ...(local ? { local } : {}),
    ...(x.remote ? { remote: bytes(x.remote)! } : {}),
    ...(x.ifname ? { ifname: x.ifname } : {}),
    ...(x.domain === AF_NETLINK && x.groups?.length ? { groups: x.groups } : {}),
    ...(x.mclist ? { mclist: bytes(x.mclist)! } : {}),
    ...(x.blob ? { blob: bytes(x.blob)! } : {}),
    ...(x.filter ? { filter: bytes(x.filter)! } : {}),
    ...(x.rxRing || x.txRing ? { rings: { rx: ring(x.rxRing), tx: ring(x.txRing), rxHead: x.rxHead ?? 0 } } : {}),
  };
}

export const rawSocket: FdOps<FileOf<'rawsock'>> = {
  kind: 'rawsock',
  matches: (f, ctx) => f.stat.isSocket() && ctx.inet !== undefined && isRawSock(ctx.inet),
  // the facts come in captured() (the helper's rawsockq): until then family, type, protocol
  dump: (f, ctx) => ({
    path: f.link,
    flags: f.info.flags,
    pos: 0,
    rawsock: { ino: f.stat.ino, domain: ctx.inet!.domain as RawSockImage['domain'], type: ctx.inet!.type as 2 | 3, proto: ctx.inet!.proto, opts: [], kopts: [] },
  }),
  async captured(file, o, cap) {
    const h = o.holders[0]!;
    cap.helper.send(dumpRawsockq({ pid: h.pid, fd: h.fd }));
    const x = await cap.helper.next('rawsockq');
    // named by what the helper saw (its names, its device) in a refusal
    const seen = { ...file.rawsock, ...(x.local ? { local: bytes(x.local) } : {}), ...(x.ifname ? { ifname: x.ifname } : {}) };
    file.rawsock = rawSockState(x, o.facts.stat.ino, (why) => {
      throw new UnsupportedError(`process ${h.pid} fd ${h.fd} (${o.facts.link} ${rawSockText(seen)}): ${why}`, { pid: h.pid, object: `fd ${h.fd}`, phase: 'files' });
    });
    file.path = `${o.facts.link} ${rawSockText(file.rawsock)}`;
  },
  check() {},
  urgent: true,
  privilege(file) {
    const r = file.rawsock;
    const opts = socketOptsPrivilege(file.id, 'raw', Object.fromEntries(INET_OPTS.map((k, i) => [k, Math.max(0, r.opts[i] ?? 0)])));
    if (opts) return opts;
    if (r.domain !== AF_NETLINK && r.type === 3) return { who: `file ${file.id} (${rawSockText(r)})`, what: 'a raw socket: making it needs CAP_NET_RAW' };
    if (r.domain === AF_PACKET) return { who: `file ${file.id} (${rawSockText(r)})`, what: 'a packet socket: making it needs CAP_NET_RAW' };
    // netlink groups any user may join: route (but its multicast routing groups 30 and 31),
    // uevents, generic; the other protocols' need CAP_NET_ADMIN (or more: audit)
    const open = r.proto === 15 || r.proto === 16 || (r.proto === 0 && !(r.groups ?? []).some((g) => g === 30 || g === 31));
    if (r.domain === AF_NETLINK && r.groups?.length && !open) return { who: `file ${file.id} (${rawSockText(r)})`, what: 'joins netlink groups only privilege may join (CAP_NET_ADMIN)' };
    return undefined;
  },
  plan: (file) => {
    const r = file.rawsock;
    return planFileRawsock({
      id: file.id, family: r.domain, type: r.type, proto: r.proto, flags: openFileFlags(file.flags),
      local: r.local ?? new Uint8Array(), remote: r.remote ?? new Uint8Array(), ifname: r.ifname,
      opts: INET_OPTS.map((_, i) => r.opts[i] ?? RAW_OPT_UNSET), kopts: r.kopts, groups: r.groups ?? [], mclist: r.mclist ?? new Uint8Array(), blob: r.blob ?? new Uint8Array(), filter: r.filter ?? new Uint8Array(),
      rings: r.rings ? [...r.rings.rx, ...r.rings.tx, r.rings.rxHead] : [],
    });
  },
};
