/** TCP and UDP sockets (src/kernel/fds/inet.ts): the socket's state, checked. */
import { ipFamily } from '../ip-address.js';
import type { CborValue } from '../cbor.js';
import { MAX_FD, PID_MAX, PLAN_DATA_MAX, QUEUE_MAX, Where, arr, bool, bytes, field, int, obj, str } from '../check.js';
import type { FileBase, InetAddress, InetSocketImage, InetState, TcpRepairImage } from '../types-files.js';
import type { FileFormat } from './kind.js';

export interface InetFile extends FileBase {
  kind: 'inet';
  /** a TCP or UDP socket's state (src/kernel/fds/inet.ts) */
  inet: InetSocketImage;
}

/** "127.0.0.1:80" or "[::1]:80" */
export function inetName(a: InetAddress | undefined): string {
  if (!a) return '(unbound)';
  return a.addr.includes(':') ? `[${a.addr}]:${a.port}` : `${a.addr}:${a.port}`;
}

/** UDP-Lite checksum coverage: [send, receive], each 0..65535 */
function cscov(v: CborValue, w: Where): [number, number] {
  const a = arr(v, w, 2);
  if (a.length !== 2) w.fail('expected [send, receive] checksum coverage');
  return [int(a[0], w.at(0), 0, 65535), int(a[1], w.at(1), 0, 65535)];
}

export function inetText(u: InetSocketImage): string {
  const p = (u.lite ? 'UDP-Lite' : u.proto.toUpperCase()) + (u.family === 6 ? 'v6' : '');
  return `${p} ${inetName(u.local)}${u.remote ? ` -> ${inetName(u.remote)}` : ''} ${u.state}`;
}

/** A connection's queues of more than 4 MiB: content objects of kind 'queue'. */
export const queueObjects = (f: InetFile) => [f.inet.tcp?.recvObj, f.inet.tcp?.sendObj];

export const inetFormat: FileFormat<InetFile> = {
  kind: 'inet',
  fields: ['inet'],
  read(o, w) {
    if (o.inet === undefined) w.fail('TCP/UDP socket without its state');
    return { inet: checkInet(o.inet, w.at('inet')) };
  },
  link(f, w, ctx) {
    // a queue of more than 4 MiB: a content object of kind 'queue' of exactly its size, only in
    // a connection restored with TCP_REPAIR (its peer inside, or kept established)
    const t = f.inet.tcp;
    for (const [q, key] of [[t?.recvObj, 'recvObj'], [t?.sendObj, 'sendObj']] as const) {
      if (!q) continue;
      const o = ctx.objects?.find((m) => m.id === q[0]);
      const repaired = f.inet.peer === 'inside' || (f.inet.peer === 'outside' && f.inet.policy === 'established');
      if (!o || o.kind !== 'queue' || o.size !== q[1] || !repaired) w.at('inet').at('tcp').at(key).fail('not a socket queue object of that size in a connection restored with TCP_REPAIR');
      if (key === 'sendObj' && t!.unsent > q[1]) w.at('inet').at('tcp').at('unsent').fail('more bytes never sent than queued');
    }
  },
  label: (f) => f.inet.proto,
  detail(f) {
    const u = f.inet;
    const t = u.tcp;
    const queues = u.leftToRead ? `, ${u.leftToRead.length} bytes left to read, then ${u.resetPending ? 'ECONNRESET' : 'EOF'}` : t ? `, ${t.recvQueue.length} bytes to read, ${t.sendQueue.length} bytes unacknowledged (${t.unsent} never sent)` : u.datagrams ? `, ${u.datagrams.length} datagram(s) queued` : '';
    const out = `, peer outside${u.external ? ` (${u.external.pid} ${u.external.comm})` : ''}`;
    const peer =
      !t ? ''
      : u.peer === 'inside' ? ', peer in the image'
      : u.peer === 'pending' ? ', waiting in the accept queue of a listener of the image: connects again'
      : u.policy === 'established' ? `${out}: restored established (--tcp=established)`
      : u.state === 'close-wait' || u.state === 'closing' || u.state === 'last-ack' ? `${out}, closed its side: restored closed (the queued bytes, then EOF)`
      : `${out}: restored reset (--tcp=close)`;
    const filter = `${u.filter ? `, socket filter (${u.filter.length / 8} instructions)` : ''}${u.device ? `, bound to device ${u.device}` : ''}${u.shutdown ? `, shut down (${['', 'read', 'write', 'read and write'][u.shutdown]})` : ''}`;
    return `${u.proto} #${f.id}: ${inetText(u)}${u.state === 'listen' ? ` (backlog ${u.backlog}${u.acceptq ? `, ${u.acceptq} waiting to be accepted` : ''})` : ''}${queues}${filter}${peer}`;
  },
  warnings: (f) =>
    f.inet.tcp && f.inet.peer === 'outside'
      ? [`${f.inet.proto} #${f.id}: its peer is outside the tree: restored ${f.inet.policy === 'established' ? 'established (the peer must stay quiet until then)' : 'reset (ECONNRESET after the queued bytes)'}`]
      : [],
};

const STATES: InetState[] = ['closed', 'listen', 'established', 'fin-wait2', 'close-wait', 'disconnected', 'connected', 'fin-wait1', 'closing', 'last-ack'];
/** TCP states restored with TCP_REPAIR */
const CONN: InetState[] = ['established', 'fin-wait1', 'fin-wait2', 'close-wait', 'closing', 'last-ack'];
/** The options kept, in the order of native/helper/kinds/inet/inet.h (those after notsentlowat
 * since issue 17: older images lack them, left as a new socket has them). */
export const INET_OPTS = ['reuseaddr', 'reuseport', 'keepalive', 'broadcast', 'sndbuf', 'rcvbuf', 'v6only', 'nodelay', 'keepidle', 'keepintvl', 'keepcnt', 'linger', 'priority', 'rcvlowat', 'oobinline', 'tos', 'ttl', 'tclass', 'unicasthops', 'usertimeout', 'deferaccept', 'notsentlowat',
  'mark', 'buflock', 'timestamp', 'timestampns', 'timestamping', 'rcvtimeo', 'sndtimeo', 'dontroute', 'zerocopy', 'cork', 'syncnt', 'linger2', 'thinlt', 'fastopen', 'fastopenconnect', 'inq',
  'mcastttl', 'mcastloop', 'mcastif', 'mcastall', 'recvtos', 'recvttl', 'pktinfo', 'recverr', 'mtudisc', 'freebind', 'bindnoport', 'transparent', 'recvorigdst',
  'mcasthops', 'mcastloop6', 'mcastif6', 'recvpktinfo6', 'recverr6', 'mtudisc6', 'recvtclass', 'recvhoplimit', 'udpcork', 'udpsegment', 'udpgro'] as const;
const OPTS: readonly string[] = INET_OPTS;
/** an IPv4 address read back as a (signed) int */
const ANY_INT = new Set(['mcastif']);
const U32 = 0xffffffff;

function oneOf<T extends string>(list: readonly T[]) {
  return (v: CborValue | undefined, w: Where): T => {
    const s = str(v, w, 16);
    if (!list.includes(s as T)) w.fail(`expected one of ${list.join(', ')}`);
    return s as T;
  };
}

function address(v: CborValue | undefined, w: Where, family: 4 | 6): InetAddress {
  const o = obj(v, w);
  const addr = field(o, 'addr', w, (y, ww) => str(y, ww, 64));
  if (ipFamily(addr) !== family) w.at('addr').fail(`not an IPv${family} address`);
  return { addr, port: field(o, 'port', w, (y, ww) => int(y, ww, 0, 65535)) };
}

/** [content object id, bytes]: a queue of more than QUEUE_MAX bytes (checked against the object
 * in validate-files.ts) */
function queueObj(v: CborValue, w: Where): [number, number] {
  const a = arr(v, w, 2);
  if (a.length !== 2) w.fail('expected [object id, bytes]');
  return [int(a[0], w.at(0), 0, 1 << 30), int(a[1], w.at(1), QUEUE_MAX + 1, 2 ** 31)];
}

/** a network device's name (dev_valid_name: 1-15 bytes, no '/', ':' or white space) */
function deviceName(v: CborValue | undefined, w: Where): string {
  const s = str(v, w, 15);
  if (!/^[\x21-\x7e]{1,15}$/.test(s) || /[/:]/.test(s) || s === '.' || s === '..') w.fail('not a network device name');
  return s;
}

function repair(v: CborValue | undefined, w: Where): TcpRepairImage {
  const o = obj(v, w);
  const window = arr(o.window, w.at('window'), 5).map((y, i) => int(y, w.at('window').at(i), 0, U32));
  if (window.length !== 5) w.at('window').fail('expected 5 numbers');
  const t: TcpRepairImage = {
    inSeq: field(o, 'inSeq', w, (y, ww) => int(y, ww, 0, U32)),
    outSeq: field(o, 'outSeq', w, (y, ww) => int(y, ww, 0, U32)),
    recvQueue: field(o, 'recvQueue', w, (y, ww) => bytes(y, ww, 0, QUEUE_MAX)),
    sendQueue: field(o, 'sendQueue', w, (y, ww) => bytes(y, ww, 0, QUEUE_MAX)),
    unsent: field(o, 'unsent', w, (y, ww) => int(y, ww, 0, 2 ** 31)),
    mss: field(o, 'mss', w, (y, ww) => int(y, ww, 0, 65535)),
    sndWscale: field(o, 'sndWscale', w, (y, ww) => int(y, ww, 0, 14)),
    rcvWscale: field(o, 'rcvWscale', w, (y, ww) => int(y, ww, 0, 14)),
    options: field(o, 'options', w, (y, ww) => int(y, ww, 0, 7)),
    timestamp: field(o, 'timestamp', w, (y, ww) => int(y, ww, 0, U32)),
    window: window as TcpRepairImage['window'],
    ...(o.finUnsent !== undefined ? { finUnsent: field(o, 'finUnsent', w, bool) } : {}),
    ...(o.recvObj !== undefined ? { recvObj: queueObj(o.recvObj, w.at('recvObj')) } : {}),
    ...(o.sendObj !== undefined ? { sendObj: queueObj(o.sendObj, w.at('sendObj')) } : {}),
  };
  if ((t.recvObj && t.recvQueue.length) || (t.sendObj && t.sendQueue.length)) w.fail('a queue both in the metadata and in an object');
  if (!t.sendObj && t.unsent > t.sendQueue.length) w.at('unsent').fail('more bytes never sent than queued');
  if (t.recvQueue.length + t.sendQueue.length > PLAN_DATA_MAX) w.fail(`more than ${PLAN_DATA_MAX} bytes queued in both directions`);
  return t;
}

export function checkInet(v: CborValue | undefined, w: Where): InetSocketImage {
  const o = obj(v, w);
  const family = field(o, 'family', w, (y, ww) => int(y, ww, 4, 6));
  if (family !== 4 && family !== 6) w.at('family').fail('expected 4 or 6');
  const f = family as 4 | 6;
  const optsObj = obj(o.opts, w.at('opts'));
  const opts: Record<string, number> = {};
  for (const [k, y] of Object.entries(optsObj)) {
    if (!OPTS.includes(k)) w.at('opts').fail(`unknown option ${k}`);
    opts[k] = ANY_INT.has(k) ? int(y, w.at('opts').at(k), -0x7fffffff, 0x7fffffff) : int(y, w.at('opts').at(k), -1, 0x7fffffff);
  }
  const ext = o.external === undefined ? undefined : obj(o.external, w.at('external'));
  const ew = w.at('external');
  const u: InetSocketImage = {
    ino: field(o, 'ino', w, (y, ww) => int(y, ww, 0, Number.MAX_SAFE_INTEGER)),
    family: f,
    proto: field(o, 'proto', w, oneOf(['tcp', 'udp'] as const)),
    ...(o.lite !== undefined ? { lite: cscov(o.lite, w.at('lite')) } : {}),
    state: field(o, 'state', w, oneOf(STATES)),
    local: o.local === undefined ? undefined : address(o.local, w.at('local'), f),
    remote: o.remote === undefined ? undefined : address(o.remote, w.at('remote'), f),
    backlog: field(o, 'backlog', w, (y, ww) => int(y, ww, 0, 65535)),
    opts,
    tcp: o.tcp === undefined ? undefined : repair(o.tcp, w.at('tcp')),
    ...(o.datagrams !== undefined
      ? {
          datagrams: arr(o.datagrams, w.at('datagrams'), 1 << 16).map((y, i) => {
            const dw = w.at('datagrams').at(i);
            const d = obj(y, dw);
            return { from: address(d.from, dw.at('from'), f), data: field(d, 'data', dw, (z, ww) => bytes(z, ww, 0, 65535)) };
          }),
        }
      : {}),
    peer: o.peer === undefined ? undefined : field(o, 'peer', w, oneOf(['inside', 'outside', 'pending'] as const)),
    ...(o.acceptq !== undefined ? { acceptq: field(o, 'acceptq', w, (y, ww) => int(y, ww, 1, 65535)) } : {}),
    policy: o.policy === undefined ? undefined : field(o, 'policy', w, oneOf(['established', 'close'] as const)),
    ...(o.leftToRead !== undefined ? { leftToRead: field(o, 'leftToRead', w, (y, ww) => bytes(y, ww, 0, QUEUE_MAX)) } : {}),
    ...(o.resetPending !== undefined ? { resetPending: field(o, 'resetPending', w, bool) } : {}),
    ...(o.filter !== undefined ? { filter: field(o, 'filter', w, (y, ww) => bytes(y, ww, 8, 4096 * 8)) } : {}),
    ...(o.device !== undefined ? { device: field(o, 'device', w, deviceName) } : {}),
    ...(o.shutdown !== undefined ? { shutdown: field(o, 'shutdown', w, (y, ww) => int(y, ww, 1, 3)) } : {}),
    ...(o.keeper !== undefined
      ? {
          keeper: {
            pid: field(obj(o.keeper, w.at('keeper')), 'pid', w.at('keeper'), (y, ww) => int(y, ww, 1, PID_MAX)),
            start: field(obj(o.keeper, w.at('keeper')), 'start', w.at('keeper'), (y, ww) => int(y, ww, 0)),
          },
        }
      : {}),
    external: ext && {
      pid: field(ext, 'pid', ew, (y, ww) => int(y, ww, 0, PID_MAX)),
      fd: field(ext, 'fd', ew, (y, ww) => int(y, ww, 0, MAX_FD)),
      comm: field(ext, 'comm', ew, (y, ww) => str(y, ww, 16)),
    },
  };
  const conn = CONN.includes(u.state);
  if (u.proto === 'udp' && u.state !== 'closed' && u.state !== 'connected') w.at('state').fail('not a UDP state');
  if (u.proto === 'tcp' && u.state === 'connected') w.at('state').fail('not a TCP state');
  if (u.shutdown !== undefined && u.proto !== 'udp') w.at('shutdown').fail('a shutdown state is kept for UDP sockets only');
  if (u.lite && u.proto !== 'udp') w.at('lite').fail('checksum coverage only at a UDP-Lite socket');
  if (u.state === 'listen' && !u.local) w.fail('a listener without its address');
  if ((u.state === 'connected' || conn) && !u.remote) w.fail('connected without a remote address');
  if (conn !== (u.proto === 'tcp' && u.tcp !== undefined)) w.fail('repair state only and always on a TCP connection');
  if (conn && (!u.local || !u.peer)) w.fail('a TCP connection without its local address or peer');
  if (u.datagrams && (u.proto !== 'udp' || u.datagrams.reduce((n, d) => n + d.data.length, 0) > QUEUE_MAX)) w.at('datagrams').fail(`datagrams only at a UDP socket, at most ${QUEUE_MAX} bytes`);
  if ((u.state === 'disconnected') !== (u.leftToRead !== undefined)) w.fail('bytes left to read only and always at a disconnected socket');
  if (u.state === 'disconnected' && u.proto !== 'tcp') w.at('state').fail('not a UDP state');
  if (u.filter && u.filter.length % 8) w.at('filter').fail('not whole BPF instructions (8 bytes each)');
  if (u.keeper && (u.peer !== 'outside' || u.policy !== 'established')) w.at('keeper').fail('a keeper only for a connection kept to an outside peer');
  if (u.acceptq !== undefined && u.state !== 'listen') w.at('acceptq').fail('an accept queue only at a listener');
  if (u.tcp?.finUnsent && !['fin-wait1', 'closing', 'last-ack'].includes(u.state)) w.at('tcp').at('finUnsent').fail('a FIN waiting to be sent only in fin-wait1, closing or last-ack');
  if (u.tcp && !u.tcp.finUnsent && u.tcp.unsent && ['fin-wait1', 'fin-wait2', 'closing', 'last-ack'].includes(u.state)) w.at('tcp').at('unsent').fail('bytes never sent before a FIN that was sent');
  if (u.peer === 'pending' && (u.state !== 'established' || u.tcp!.sendQueue.length || u.tcp!.recvQueue.length)) w.at('peer').fail('a connection waiting to be accepted is established, nothing in flight');
  if (u.peer === 'outside' && !u.policy) w.fail('an outside peer without a policy');
  return u;
}
