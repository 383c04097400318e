/** Raw IP, ping, packet and netlink sockets (src/kernel/fds/rawsock.ts): the socket's family,
 * type, protocol, names (sockaddr bytes as getsockname gave them), options and memberships,
 * checked. Nothing queued is kept (docs/kinds-rawsock.md). */
import type { CborValue } from '../cbor.js';
import { Where, arr, bytes, field, int, obj, str } from '../check.js';
import type { FileBase } from '../types-files.js';
import { INET_OPTS } from './inet.js';
import type { FileFormat } from './kind.js';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
/** rawsock.h: the kopts of each family (the opts are inet.h's, INET_OPTS) */
export const RAWSOCK_KOPTS: Record<number, readonly string[]> = {
  [AF_INET]: ['hdrincl', 'icmpfilter', 'nodefrag'],
  [AF_INET6]: ['hdrincl6', 'checksum6'],
  [AF_PACKET]: ['version', 'reserve', 'auxdata', 'origdev', 'vnethdr', 'timestamp', 'loss', 'qdiscbypass', 'ignoreoutgoing', 'fanout'],
  [AF_NETLINK]: ['pktinfo', 'broadcasterror', 'noenobufs', 'listenallnsid', 'capack', 'extack', 'strictchk'],
};
/** an option the image does not record */
export const RAW_OPT_UNSET = -0x80000000;

export interface RawSockImage {
  /** the socket's inode (a mapping of its rings names it) */
  ino: number;
  /** AF_INET, AF_INET6 (raw with SOCK_RAW, ping with SOCK_DGRAM), AF_NETLINK, AF_PACKET */
  domain: 2 | 10 | 16 | 17;
  type: 2 | 3;
  /** IP protocol, netlink protocol, or a packet socket's ethertype in network byte order */
  proto: number;
  /** struct sockaddr bytes of the family (getsockname, getpeername) */
  local?: Uint8Array;
  remote?: Uint8Array;
  /** a packet socket's bound device; another socket's SO_BINDTODEVICE */
  ifname?: string;
  /** the options of native/helper/kinds/inet/inet.h that apply (RAW_OPT_UNSET: not applying) */
  opts: number[];
  /** the family's own (RAWSOCK_KOPTS) */
  kopts: number[];
  /** netlink groups joined */
  groups?: number[];
  /** packet memberships: struct packet_mreq each (16 bytes) */
  mclist?: Uint8Array;
  /** ICMPV6_FILTER (32 bytes) */
  blob?: Uint8Array;
  /** a classic socket filter (8 bytes per instruction) */
  filter?: Uint8Array;
  /** a packet socket's TPACKET_V1/V2 rings (PACKET_RX_RING/TX_RING: block size, blocks, frame
   * size, frames; all 0: none) and the frame the kernel fills next in the receive ring */
  rings?: { rx: number[]; tx: number[]; rxHead: number };
}

export interface RawSockFile extends FileBase {
  kind: 'rawsock';
  rawsock: RawSockImage;
}

const SOCKADDR_LEN: Record<number, [number, number]> = { [AF_INET]: [16, 16], [AF_INET6]: [28, 28], [AF_NETLINK]: [12, 12], [AF_PACKET]: [12, 20] };

const u32 = (b: Uint8Array, off: number) => Buffer.from(b).readUInt32LE(off);

/** "raw ICMP 127.0.0.1", "packet lo 0x88b5", "netlink 0 port 123 groups 1,2" */
export function rawSockText(r: RawSockImage): string {
  if (r.domain === AF_PACKET) {
    // the protocol it is bound with (network byte order)
    const p = r.local ? (r.local[2]! << 8) | r.local[3]! : ((r.proto & 0xff) << 8) | (r.proto >> 8);
    return `packet ${r.type === 3 ? 'raw' : 'dgram'} ${r.ifname ?? '(every device)'} protocol 0x${p.toString(16)}`;
  }
  if (r.domain === AF_NETLINK) {
    const port = r.local ? u32(r.local, 4) : 0;
    const to = r.remote ? ` -> ${u32(r.remote, 8) ? `group ${u32(r.remote, 8)}` : `port ${u32(r.remote, 4)}`}` : '';
    return `netlink protocol ${r.proto}${port ? ` port ${port}` : ' (unbound)'}${r.groups?.length ? ` groups ${r.groups.join(',')}` : ''}${to}${r.ifname ? ` device ${r.ifname}` : ''}`;
  }
  const v6 = r.domain === AF_INET6;
  const addr = (b: Uint8Array | undefined) => {
    if (!b) return undefined;
    const x = Buffer.from(b);
    if (!v6) return [...x.subarray(4, 8)].join('.');
    const groups = Array.from({ length: 8 }, (_, i) => x.readUInt16BE(8 + 2 * i).toString(16)).join(':');
    return groups.replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:::+/, '::');
  };
  return `${r.type === 3 ? 'raw' : 'ping'}${v6 ? '6' : ''} protocol ${r.proto} ${addr(r.local) ?? ''}${r.remote ? ` -> ${addr(r.remote)}` : ''}${r.ifname ? ` device ${r.ifname}` : ''}`.trimEnd();
}

function sockaddr(v: CborValue | undefined, w: Where, domain: number): Uint8Array {
  const [min, max] = SOCKADDR_LEN[domain]!;
  const b = bytes(v, w, min, max);
  if ((b[0]! | (b[1]! << 8)) !== domain) w.fail('not an address of the socket\'s family');
  return b;
}

function checkRings(v: CborValue | undefined, w: Where): { rx: number[]; tx: number[]; rxHead: number } {
  const o = obj(v, w);
  const ring = (k: string) => {
    const a = arr(o[k], w.at(k), 4).map((y, i) => int(y, w.at(k).at(i), 0, 0xffffffff));
    if (a.length !== 4) w.at(k).fail('expected block size, blocks, frame size, frames');
    const [bs, bn, fs, fn] = a as [number, number, number, number];
    if (bn && (fs < 16 || bs < fs || fn !== bn * Math.floor(bs / fs) || bs * bn > 1 << 30)) w.at(k).fail('not a ring the kernel makes (at most 1 GiB)');
    return a;
  };
  const r = { rx: ring('rx'), tx: ring('tx'), rxHead: field(o, 'rxHead', w, (y, ww) => int(y, ww, 0, 0xffffffff)) };
  if (!r.rx[1] && !r.tx[1]) w.fail('no ring');
  if (r.rxHead >= Math.max(1, r.rx[3]!)) w.at('rxHead').fail('beyond the receive ring');
  return r;
}

/** The bytes of a packet socket's rings mapped together (receive ring, then send ring). */
export const ringBytes = (r: NonNullable<RawSockImage['rings']>) => r.rx[0]! * r.rx[1]! + r.tx[0]! * r.tx[1]!;

export function checkRawSock(v: CborValue | undefined, w: Where): RawSockImage {
  const o = obj(v, w);
  const domain = field(o, 'domain', w, (y, ww) => int(y, ww, 2, 17));
  const kopts = RAWSOCK_KOPTS[domain];
  if (!kopts) w.at('domain').fail('not AF_INET, AF_INET6, AF_NETLINK or AF_PACKET');
  const type = field(o, 'type', w, (y, ww) => int(y, ww, 2, 3)) as 2 | 3;
  const proto = field(o, 'proto', w, (y, ww) => int(y, ww, 0, 65535));
  if ((domain === AF_INET || domain === AF_INET6) && type === 2 && proto !== (domain === AF_INET ? 1 : 58)) w.at('proto').fail('a datagram IP socket here is a ping socket (ICMP)');
  if (domain === AF_NETLINK && proto > 31) w.at('proto').fail('not a netlink protocol');
  // the inet options: an older image may hold fewer (those after are left as a new socket has them)
  const ints = (k: string, n: number, min: number, max: number, fewer = false) => {
    const a = arr(o[k], w.at(k), n).map((y, i) => int(y, w.at(k).at(i), min, max));
    if (fewer ? !a.length : a.length !== n) w.at(k).fail(`expected ${n} numbers`);
    return a;
  };
  const r: RawSockImage = {
    ino: field(o, 'ino', w, (y, ww) => int(y, ww, 1, Number.MAX_SAFE_INTEGER)),
    domain: domain as RawSockImage['domain'],
    type,
    proto,
    opts: ints('opts', INET_OPTS.length, RAW_OPT_UNSET, 0x7fffffff, true),
    kopts: ints('kopts', kopts!.length, RAW_OPT_UNSET, 0xffffffff),
    ...(o.local !== undefined ? { local: sockaddr(o.local, w.at('local'), domain) } : {}),
    ...(o.remote !== undefined ? { remote: sockaddr(o.remote, w.at('remote'), domain) } : {}),
    ...(o.ifname !== undefined ? { ifname: field(o, 'ifname', w, (y, ww) => str(y, ww, 15)) } : {}),
    ...(o.groups !== undefined ? { groups: arr(o.groups, w.at('groups'), 1024).map((y, i) => int(y, w.at('groups').at(i), 1, 0xffffffff)) } : {}),
    ...(o.mclist !== undefined ? { mclist: field(o, 'mclist', w, (y, ww) => bytes(y, ww, 16, 16 * 256)) } : {}),
    ...(o.blob !== undefined ? { blob: field(o, 'blob', w, (y, ww) => bytes(y, ww, 32, 32)) } : {}),
    ...(o.filter !== undefined ? { filter: field(o, 'filter', w, (y, ww) => bytes(y, ww, 8, 4096 * 8)) } : {}),
    ...(o.rings !== undefined ? { rings: checkRings(o.rings, w.at('rings')) } : {}),
  };
  if (r.rings && (domain !== AF_PACKET || r.kopts[0] === 2)) w.at('rings').fail('rings only at a packet socket of TPACKET_V1 or V2');
  if (r.ifname !== undefined && !/^[^/\s:]{1,15}$/.test(r.ifname)) w.at('ifname').fail('not a network device name');
  if (r.groups && domain !== AF_NETLINK) w.at('groups').fail('groups only for a netlink socket');
  if (r.mclist && (domain !== AF_PACKET || r.mclist.length % 16)) w.at('mclist').fail('memberships (16 bytes each) only for a packet socket');
  if (r.blob && domain !== AF_INET6) w.at('blob').fail('an ICMPv6 filter only for an IPv6 socket');
  if (r.filter && r.filter.length % 8) w.at('filter').fail('not whole BPF instructions (8 bytes each)');
  return r;
}

export const rawSockFormat: FileFormat<RawSockFile> = {
  kind: 'rawsock',
  fields: ['rawsock'],
  read(o, w) {
    if (o.rawsock === undefined) w.fail('a raw, packet or netlink socket without its state');
    return { rawsock: checkRawSock(o.rawsock, w.at('rawsock')) };
  },
  label: (f) => (f.rawsock.domain === AF_PACKET ? 'packet' : f.rawsock.domain === AF_NETLINK ? 'netlink' : f.rawsock.type === 3 ? 'raw' : 'ping'),
  detail: (f) =>
    `${rawSockFormat.label!(f)} #${f.id}: ${rawSockText(f.rawsock)}${f.rawsock.filter ? `, socket filter (${f.rawsock.filter.length / 8} instructions)` : ''}${f.rawsock.rings ? `, rings of ${ringBytes(f.rawsock.rings) >> 10} KiB (receive ring at frame ${f.rawsock.rings.rxHead})` : ''}`,
  warnings: (f) => [`${rawSockFormat.label!(f)} #${f.id}: packets or messages queued at checkpoint are dropped (like packets lost on the network)`],
};
