/**
 * TCP and UDP sockets of a tree at checkpoint: the helper reads each one (`inetq`), and once
 * every socket is an object, link() decides for each TCP connection whether its other end is in
 * the tree (both come back in repair mode and are released together) or outside: then
 * `--tcp=established` restores it with TCP_REPAIR (the peer never notices, as long as the
 * address is still local) and `--tcp=close` (the default) brings it back reset. Connections
 * restored in repair mode are put into repair mode again right before `--kill` (tcpRepair), so
 * the kill sends neither FIN nor RST and leaves no TIME_WAIT behind.
 */
import fs from 'node:fs';
import { UnsupportedError } from '../errors.js';
import type { FileOf, InetAddress, InetSocketImage } from '../image/types.js';
import { INET_QUEUE_MAX, inetName, peerClosed, type InetFacts } from './fds/inet.js';
import type { Helper } from './helper.js';
import { findHolders } from './unix-sockets.js';
import { dumpInetq } from './protocol.gen.js';

export type TcpPolicy = 'established' | 'close';

interface Entry {
  file: FileOf<'inet'>;
  facts: InetFacts;
  pid: number;
  fd: number;
}

/** The same address, an IPv4 one and its v4-mapped IPv6 form alike. */
const key = (a: InetAddress | undefined) => (a ? `${a.addr.replace(/^::ffff:/i, '')}|${a.port}` : '');

/** The 16 bytes of an IPv6 address (v4-mapped forms included). */
function v6bytes(addr: string): Buffer {
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  const text = m ? `${m[1]}${((n) => `${((n[0]! << 8) | n[1]!).toString(16)}:${((n[2]! << 8) | n[3]!).toString(16)}`)(m[2]!.split('.').map(Number))}` : addr;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return b;
}

/** The socket with this local and remote address in /proc/net/tcp{,6}: its inode (0: held by
 * no file, e.g. waiting in an accept queue) and its receive queue. */
function procSocket(local: InetAddress, remote: InetAddress): { ino: number; rq: number } | undefined {
  const enc = (a: InetAddress): string[] => {
    const port = a.port.toString(16).toUpperCase().padStart(4, '0');
    const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(a.addr);
    if (v4) {
      const le = Buffer.from(v4.slice(1).map(Number)).readUInt32LE(0).toString(16).toUpperCase().padStart(8, '0');
      return [`${le}:${port}`, `0000000000000000FFFF0000${le}:${port}`];
    }
    const b = v6bytes(a.addr);
    const words = [0, 4, 8, 12].map((i) => b.readUInt32LE(i).toString(16).toUpperCase().padStart(8, '0'));
    return [`${words.join('')}:${port}`];
  };
  const [l, r] = [enc(local), enc(remote)];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && l.includes(f[1]!) && r.includes(f[2]!)) return { ino: Number(f[9]), rq: parseInt(f[4]!.split(':')[1]!, 16) };
    }
  }
  return undefined;
}

/** Start time of a process in clock ticks (field 22 of /proc/PID/stat): names it across pid reuse. */
export function startTicks(pid: number): number {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[19]);
}

export class InetSockets {
  private entries: Entry[] = [];
  readonly warnings: string[] = [];
  /** connections put into repair mode right before a --kill (helper pid and fd) */
  readonly tcpRepair: { pid: number; fd: number }[] = [];
  /** connections to outside peers kept (--tcp=established): held by the keeper after a kill */
  readonly tcpKeep: { pid: number; fd: number; file: FileOf<'inet'> }[] = [];

  constructor(
    private helper: Helper,
    private opt: { tree: Set<number>; ignore: Set<number>; tcp: TcpPolicy; lock: boolean },
  ) {}

  async facts(pid: number, fd: number): Promise<InetFacts> {
    this.helper.send(dumpInetq({ pid, fd, lock: !!this.opt.lock }));
    return this.helper.next('inetq');
  }

  add(file: FileOf<'inet'>, facts: InetFacts, pid: number, fd: number): void {
    this.entries.push({ file, facts, pid, fd });
  }

  private pending = new Map<InetSocketImage, number>();

  /** The tree's TCP listener that a connection to this address reaches. */
  private listenerFor(a: InetAddress): InetSocketImage | undefined {
    const ls = this.entries.map((e) => e.file.inet).filter((u) => u.state === 'listen' && u.local?.port === a.port);
    return ls.find((u) => key(u.local) === key(a)) ?? ls.find((u) => /^(0\.0\.0\.0|::)$/.test(u.local!.addr));
  }

  link(): void {
    const byPair = new Map(this.entries.filter((e) => e.file.inet.tcp).map((e) => [`${key(e.file.inet.local)}>${key(e.file.inet.remote)}`, e]));
    let holders: ReturnType<typeof findHolders> | undefined;
    for (const e of this.entries) {
      const u = e.file.inet;
      if (!u.tcp) continue;
      const what = `process ${e.pid} fd ${e.fd} (${e.file.path})`;
      if (byPair.has(`${key(u.remote)}>${key(u.local)}`)) {
        u.peer = 'inside';
        this.tcpRepair.push({ pid: e.pid, fd: e.fd });
        continue;
      }
      const other = procSocket(u.remote!, u.local!);
      const listener = other?.ino === 0 && u.state === 'established' ? this.listenerFor(u.remote!) : undefined;
      if (listener) {
        // never accepted: it waits in the accept queue of a listener of the tree
        if (other!.rq || u.tcp.sendQueue.length || u.tcp.recvQueue.length)
          throw new UnsupportedError(`${what}: its connection waits in the accept queue of ${inetName(listener.local)} with bytes in flight: not supported yet`, { pid: e.pid, object: `fd ${e.fd}`, phase: 'files' });
        u.peer = 'pending';
        this.pending.set(listener, (this.pending.get(listener) ?? 0) + 1);
        this.tcpRepair.push({ pid: e.pid, fd: e.fd });
        continue;
      }
      u.peer = 'outside';
      u.policy = this.opt.tcp;
      const ino = other?.ino;
      holders ??= ino ? findHolders(this.opt.tree, this.opt.ignore) : undefined;
      const h = ino ? holders?.get(ino) : undefined;
      if (h) u.external = h;
      const by = h ? ` (held by process ${h.pid} (${h.comm}) fd ${h.fd})` : '';
      // the peer closed its side and nobody holds it any more (an orphan): closed, whatever --tcp says
      if (peerClosed(u.state) && !h) u.policy = 'close';
      if (u.policy === 'established') {
        this.tcpRepair.push({ pid: e.pid, fd: e.fd });
        this.tcpKeep.push(e);
        this.warnings.push(`${what}: its peer ${inetName(u.remote)}${by} is outside the checkpointed tree: restored established (--tcp=established)`);
        if (this.opt.lock && !e.facts.locked)
          this.warnings.push(`${what}: it has a socket filter of the program's own, so it could not be locked: bytes its peer sends until the restart are lost`);
      } else {
        this.warnings.push(
          peerClosed(u.state)
            ? `${what}: its peer ${inetName(u.remote)}${by} outside the checkpointed tree has closed its side: restored closed (the program reads the queued bytes, then EOF)`
            : `${what}: its peer ${inetName(u.remote)}${by} is outside the checkpointed tree: restored reset (--tcp=close: the program reads the queued bytes, then gets ECONNRESET)`,
        );
      }
    }
    for (const e of this.entries) {
      const u = e.file.inet;
      // queues of more than 4 MiB are content objects, written at release in repair mode
      const big = Math.max(u.tcp?.recvObj?.[1] ?? 0, u.tcp?.sendObj?.[1] ?? 0);
      if (big && !(u.peer === 'inside' || (u.peer === 'outside' && u.policy === 'established')))
        throw new UnsupportedError(
          `process ${e.pid} fd ${e.fd} (${e.file.path}): ${big} bytes queued: more than ${INET_QUEUE_MAX >> 20} MiB only in a connection restored with TCP_REPAIR (its peer in the tree, or --tcp=established): not supported yet`,
          { pid: e.pid, object: `fd ${e.fd}`, phase: 'files' },
        );
      const waiting = u.acceptq ?? 0;
      if (waiting > (this.pending.get(u) ?? 0))
        throw new UnsupportedError(`process ${e.pid} fd ${e.fd} (${e.file.path}): ${waiting - (this.pending.get(u) ?? 0)} connection(s) from outside the tree wait in its accept queue: not supported yet`, {
          pid: e.pid,
          object: `fd ${e.fd}`,
          phase: 'files',
        });
    }
  }
}
