import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inspect } from '../src/orchestrator/inspect.js';
import { alive, checkpointCase, cleanup, exists, exitOf, killAndWait, restartDetached, sleep, startCase, startTime, trackPid, UCR, ucr, verdict, waitFor } from './harness.js';
import { editFiles, expectEditsRefused, inspectRefuses, mutated, seeded, withFiles } from './image-edit.js';

const servers: net.Server[] = [];
const peers: net.Socket[] = [];
afterEach(async () => {
  for (const s of peers.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  await cleanup();
});

/** A TCP server of this test process on loopback (a peer outside any checkpointed tree): it
 * writes "before" to the one connection it gets and records everything that happens to it. */
async function outsidePeer(allowHalfOpen = false): Promise<{ port: number; conn: Promise<{ sock: net.Socket; got: () => string; events: string[] }> }> {
  const server = net.createServer({ allowHalfOpen });
  servers.push(server);
  const conn = new Promise<{ sock: net.Socket; got: () => string; events: string[] }>((resolve) =>
    server.once('connection', (sock) => {
      peers.push(sock);
      let data = '';
      const events: string[] = [];
      sock.on('data', (d) => (data += d.toString()));
      sock.on('end', () => events.push('end'));
      sock.on('error', (e) => events.push(`error ${(e as NodeJS.ErrnoException).code}`));
      sock.write('before');
      resolve({ sock, got: () => data, events });
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, conn };
}

/** The send window (ss: snd_wnd, which ss leaves out when it is 0) of the connection to this port
 * of an outside peer, from the end of the program (or of the keeper that holds it). */
function sndWndTo(port: number): number {
  return Number(/snd_wnd:(\d+)/.exec(spawnSync('ss', ['-tinH', 'dport', '=', `:${port}`], { encoding: 'utf8' }).stdout)?.[1] ?? 0);
}

/** Sockets of the host on this local port (/proc/net/tcp), to see that nothing is left behind. */
function socketsOnPort(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((l) => l.includes(hex)).length;
}

describe('TCP and UDP sockets', () => {
  it('a listener with an established connection (8 bytes queued each way, read after restart, reply delivered, new connections accepted), 1 MiB unread, bytes sent and not acknowledged, a half-closed connection, connections reset or closed by their peer with bytes left, an IPv6 listener and connection, UDP with queued datagrams', async () => {
    // --kill: the connections go into repair mode first, so the kill leaves nothing on their
    // 4-tuples (a plain kill would leave the unacknowledged sender retransmitting its FIN)
    const c = await startCase('tcpsock');
    const img = path.join(c.dir, 'image.ucr');
    const before = startTime(c.pid);
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(startTime(c.pid)).not.toBe(before);
    expect(await verdict(c)).toBe('PASS');
  });

  it('UDP-Lite sockets (IPv4 and IPv6) keep their protocol, names, checksum coverage and a queued datagram with its sender', async () => {
    const c = await startCase('udplite');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    expect(ucr(['inspect', img, '--all']).stdout).toContain('UDP-Litev6 [::1]:');
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a loopback connection with far more than 4 MiB queued each way (about 24 MiB received and 17-25 MiB never sent per direction) comes back byte for byte; the queues stream as content objects', async () => {
    const c = await startCase('tcpbig');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    const view = ucr(['inspect', img, '--all']);
    expect(view.stdout).toMatch(/content object \d+: TCP queue of file #\d+, [\d.]+ MiB/);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c, 'SIGTERM', 40_000)).toBe('PASS');
  });

  it('streams through a pipe: checkpoint --kill -o - | restart -i - takes over the ports and connections as the original dies', async () => {
    const c = await startCase('tcpsock');
    // async: this process must keep reaping (it is the killed task's parent) while the pipe runs
    const p = spawn('bash', ['-c', `set -o pipefail; "${process.execPath}" "${UCR}" checkpoint ${c.pid} --kill -o - | "${process.execPath}" "${UCR}" restart -i - --detach --pid-wait 10000`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const r = await exitOf(p);
    expect(r.code, r.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a restart that fails after the connections exist (a datagram sender address taken) leaves no socket behind, names the address, and a second restart succeeds', async () => {
    const c = await startCase('tcpsock', { args: ['--outside-dgram'] });
    const udpPort = Number(fs.readFileSync(`${c.out}.udpport`, 'utf8'));
    const sender = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
      await new Promise<void>((r, j) => sender.send('outside', udpPort, '127.0.0.1', (e) => (e ? j(e) : r())));
      const img = path.join(c.dir, 'image.ucr');
      checkpointCase(c, img, ['--kill']);
      await killAndWait(c.pid);
      const port = Number(/TCP 127\.0\.0\.1:(\d+) listen/.exec(ucr(['inspect', img]).stdout)![1]);
      const r = ucr(['restart', '-i', img, '--detach']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(new RegExp(`cannot queue the datagram from 127\\.0\\.0\\.1:${sender.address().port} again: its address is in use by a socket outside the image`));
      expect(socketsOnPort(port)).toBe(0); // no listener, no connection (in repair mode or not) left
      expect(exists(c.pid)).toBe(false);
      sender.close();
      restartDetached(img);
      expect(await verdict(c)).toBe('PASS');
    } finally {
      try {
        sender.close();
      } catch {
        /* closed */
      }
    }
  });

  it('--tcp=established: a connection to a peer outside the image comes back and the peer keeps talking, never noticing, even while the image waits', async () => {
    const peer = await outsidePeer();
    const c = await startCase('tcppeer', { args: ['--connect', String(peer.port), '--during'] });
    const p = await peer.conn;
    const img = path.join(c.dir, 'image.ucr');
    const r = checkpointCase(c, img, ['--kill', '--tcp=established']);
    expect(r.stderr).toMatch(new RegExp(`its peer 127\\.0\\.0\\.1:${peer.port} \\(held by process ${process.pid} .*\\) is outside the checkpointed tree: restored established`));
    const keeper = inspect({ input: img }).meta.files.files.find((f) => f.inet?.keeper)!.inet!.keeper!.pid;
    trackPid(keeper);
    expect(fs.readFileSync(`/proc/${keeper}/comm`, 'utf8').trim()).toBe('ucr-tcplock');
    await killAndWait(c.pid);
    // the kept connection sends nothing new (a window probe would send bytes the image holds
    // as never sent, which the restored end would not know the peer has): no send window
    expect(sndWndTo(peer.port)).toBe(0);
    // the peer talks while the program is gone: the keeper's lock drops it, so the peer's
    // kernel retransmits it later instead of getting a reset
    p.sock.write('during\n');
    await sleep(300);
    expect(p.events).toEqual([]);
    const text = ucr(['inspect', img]).stdout;
    expect(text).toMatch(/peer outside .*restored established \(--tcp=established\)/);
    restartDetached(img);
    const v = verdict(c);
    await waitFor(() => p.got().includes('after-restart\n'), 20_000, 'the restarted program to talk');
    expect(p.events).toEqual([]); // no FIN, no RST: the peer never noticed
    expect(alive(keeper)).toBe(false); // the restart took over from the keeper
    p.sock.write('peer-reply\n');
    expect(await v).toBe('PASS');
    // the program's exit closes the connection: nobody else (the helper) holds it
    await waitFor(() => p.events.includes('end'), 10_000, 'the FIN of the exiting program');
  });

  it('--tcp=established, a checkpoint --kill that fails after the connection was read: the tree is released, its connection keeps its send window and still talks', async () => {
    const peer = await outsidePeer();
    const c = await startCase('tcppeer', { args: ['--connect', String(peer.port)] });
    const p = await peer.conn;
    const img = path.join(c.dir, 'image.ucr');
    const sndWnd = (): number => sndWndTo(peer.port);
    expect(sndWnd()).toBeGreaterThan(0);
    const r = spawnSync(process.execPath, [UCR, 'checkpoint', String(c.pid), '-o', img, '--kill', '--tcp=established'], {
      env: { ...process.env, UCR_FAULT: 'write-metadata' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toMatch(/injected fault \(UCR_FAULT\)/);
    expect(alive(c.pid)).toBe(true);
    // locked while it was read, its window emptied so that it sent nothing new: given back
    expect(sndWnd()).toBeGreaterThan(0);
    const v = verdict(c);
    await waitFor(() => p.got().includes('after-restart\n'), 20_000, 'the released program to talk');
    p.sock.write('peer-reply\n');
    expect(await v).toBe('PASS');
    expect(p.events.filter((e) => e.startsWith('error'))).toEqual([]); // never reset
  });

  it('--tcp=established: a half-closed connection (the program shut down writing) to an outside peer: the peer still writes to it', async () => {
    const peer = await outsidePeer(true);
    const c = await startCase('tcppeer', { args: ['--connect', String(peer.port), '--half'] });
    const p = await peer.conn;
    await waitFor(() => p.events.includes('end'), 10_000, 'the program to shut down writing');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill', '--tcp=established']);
    trackPid(inspect({ input: img }).meta.files.files.find((f) => f.inet?.keeper)!.inet!.keeper!.pid);
    expect(ucr(['inspect', img]).stdout).toMatch(/fin-wait2, 6 bytes to read/);
    await killAndWait(c.pid);
    restartDetached(img);
    p.sock.write('peer-reply\n');
    expect(await verdict(c)).toBe('PASS');
    expect(p.got()).toBe('bye\n');
    expect(p.events).toEqual(['end']);
  });

  it('--tcp=close (the default): a connection to an outside peer comes back reset: the queued bytes, then ECONNRESET', async () => {
    const peer = await outsidePeer();
    const c = await startCase('tcppeer', { args: ['--connect', String(peer.port), '--expect-reset'] });
    await peer.conn;
    const img = path.join(c.dir, 'image.ucr');
    const r = checkpointCase(c, img, ['--kill']);
    expect(r.stderr).toMatch(/is outside the checkpointed tree: restored reset \(--tcp=close/);
    await killAndWait(c.pid);
    expect(ucr(['inspect', img]).stdout).toMatch(/restored reset \(--tcp=close\)/);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  for (const [what, re] of [
    ['pending', /^ucr: process \d+ fd \d+ \(socket:\[\d+\] TCP 127\.0\.0\.1:\d+ listen\): 1 connection\(s\) from outside the tree wait in its accept queue: not supported yet$/],
  ] as [string, RegExp][])
    it(`refuses ${what === 'pending' ? 'a connection from outside waiting to be accepted' : `a ${what} socket`} with one line naming it, and leaves the process running`, async () => {
      const c = await startCase('tcppeer', { args: ['--refuse', what] });
      if (what === 'pending') {
        const client = net.connect(Number(fs.readFileSync(`${c.out}.port`, 'utf8')), '127.0.0.1');
        peers.push(client);
        await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
      }
      const img = path.join(c.dir, 'image.ucr');
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
      expect(fs.existsSync(img)).toBe(false);
      expect(await verdict(c)).toBe('PASS');
    });

  it('a restart while the original still holds its port fails naming the address, and leaves no socket behind', async () => {
    const c = await startCase('tcpsock');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    const port = Number(/TCP 127\.0\.0\.1:(\d+) listen/.exec(ucr(['inspect', img]).stdout)![1]);
    const before = socketsOnPort(port);
    const r = ucr(['restart', '-i', img, '--pidns', '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}.*cannot bind the TCP socket \\(file \\d+\\): the address is in use`));
    expect(socketsOnPort(port)).toBe(before);
    expect(await verdict(c)).toBe('PASS'); // the original is undisturbed
  });
});

describe('TCP/UDP socket metadata validation', () => {
  it('names the field of an impossible socket, and random mutations never crash', async () => {
    const c = await startCase('tcpsock');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    expect(await verdict(c)).toBe('PASS'); // the checkpoint left it undisturbed
    const good = fs.readFileSync(img);
    const mut = path.join(c.dir, 'mut.ucr');
    type F = { kind: string; inet?: Record<string, any> };
    const edit = (f: (files: F[]) => void) => editFiles<F>(good, mut, f);
    const socks = (files: F[]) => files.filter((f) => f.kind === 'inet').map((f) => f.inet!);
    const conn = (files: F[]) => socks(files).find((u) => u.tcp)!;
    const cases: [string, (files: F[]) => void, RegExp][] = [
      ['family', (fs) => (socks(fs)[0]!.family = 5), /inet\.family: corrupt image: expected 4 or 6/],
      ['addr', (fs) => (conn(fs).local.addr = '::1'), /inet\.local\.addr: corrupt image: not an IPv4 address/],
      ['port', (fs) => (conn(fs).remote.port = 70000), /inet\.remote\.port: corrupt image: 70000 is outside/],
      ['state', (fs) => (socks(fs)[0]!.state = 'syn-sent'), /inet\.state: corrupt image: expected one of/],
      ['repair', (fs) => delete conn(fs).tcp, /repair state only and always on a TCP connection/],
      ['unsent', (fs) => (conn(fs).tcp.unsent = 1 << 21), /more bytes never sent than queued/],
      ['window', (fs) => (conn(fs).tcp.window = [1, 2]), /window: corrupt image: expected 5 numbers/],
      ['both', (fs) => (conn(fs).tcp.recvObj = [7, 5 << 20]), /a queue both in the metadata and in an object/],
      ['recvObj', (fs) => Object.assign(conn(fs).tcp, { recvObj: [7, 5 << 20], recvQueue: new Uint8Array() }), /recvObj: corrupt image: not a socket queue object of that size/],
      ['sendObj', (fs) => (conn(fs).tcp.sendObj = [0, 100]), /sendObj\[1\]: corrupt image: 100 is outside/],
      ['filter', (fs) => (socks(fs).find((u) => u.filter)!.filter = new Uint8Array(12)), /filter: corrupt image: not whole BPF instructions/],
      ['keeper', (fs) => (conn(fs).keeper = { pid: 5, start: 1 }), /keeper: corrupt image: a keeper only for a connection kept to an outside peer/],
      ['kind', (fs) => (fs.find((f) => f.kind === 'inet')!.kind = 'pipe'), /socket state on a file that is not a TCP\/UDP socket|pipe end/],
    ];
    expectEditsRefused(cases, edit);
    const rand = seeded(4321);
    for (let i = 0; i < 300; i++) {
      fs.writeFileSync(mut, withFiles(good, (p) => mutated(p, rand, 4)));
      inspectRefuses(mut);
    }
  });
});
