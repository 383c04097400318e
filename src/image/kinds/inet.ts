/** TCP and UDP sockets (src/kernel/fds/inet.ts); the checks of their state: validate-inet.ts. */
import type { FileBase, InetAddress, InetSocketImage } from '../types-files.js';
import { checkInet } from '../validate-inet.js';
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

export function inetText(u: InetSocketImage): string {
  const p = u.proto.toUpperCase() + (u.family === 6 ? 'v6' : '');
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
      : u.state === 'close-wait' ? `${out}, closed its side: restored closed (the queued bytes, then EOF)`
      : `${out}: restored reset (--tcp=close)`;
    const filter = u.filter ? `, socket filter (${u.filter.length / 8} instructions)` : '';
    return `${u.proto} #${f.id}: ${inetText(u)}${u.state === 'listen' ? ` (backlog ${u.backlog}${u.acceptq ? `, ${u.acceptq} waiting to be accepted` : ''})` : ''}${queues}${filter}${peer}`;
  },
  warnings: (f) =>
    f.inet.tcp && f.inet.peer === 'outside'
      ? [`${f.inet.proto} #${f.id}: its peer is outside the tree: restored ${f.inet.policy === 'established' ? 'established (the peer must stay quiet until then)' : 'reset (ECONNRESET after the queued bytes)'}`]
      : [],
};
