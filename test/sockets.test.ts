import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, killAndWait, restartDetached, roundTrip, startCase, ucr, verdict } from './harness.js';
import { editFiles, expectEditsRefused, inspectRefuses, mutated, seeded, withFiles } from './image-edit.js';

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  await cleanup();
});

/** A unix stream server of this test process (a peer outside any checkpointed tree). */
async function outsideServer(p: string): Promise<{ connected: Promise<net.Socket> }> {
  const server = net.createServer();
  servers.push(server);
  let resolve!: (s: net.Socket) => void;
  const connected = new Promise<net.Socket>((r) => (resolve = r));
  server.on('connection', (s) => {
    server.once('close', () => s.destroy());
    resolve(s);
  });
  await new Promise<void>((r) => server.listen(p, r));
  return { connected };
}

/**
 * A datagram server outside the tree (unixsock --dgram-bind, in a temporary directory named
 * from prefix) and the case `name`, whose socket connects to it (`flag` path), checkpointed with
 * --external-unix=reconnect (`more`: further checks of the image, before the kill), killed and
 * restarted: both report PASS.
 */
async function reconnectToOutsideDatagram(prefix: string, name: string, flag: string, more?: (img: string, p: string, dir: string) => void): Promise<void> {
  const dir = fs.mkdtempSync(prefix);
  try {
    const p = path.join(dir, 'outside.sock');
    const srv = await startCase('unixsock', { args: ['--dgram-bind', p] });
    const c = await startCase(name, { args: [flag, p] });
    const img = path.join(c.dir, 'image.ucr');
    const r = checkpointCase(c, img, ['--external-unix=reconnect']);
    expect(r.stderr).toContain(`connected again to ${p} on restart`);
    more?.(img, p, c.dir);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
    expect(await verdict(srv)).toBe('PASS');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('unix domain sockets', () => {
  it('socketpairs (stream echo with a child, datagram and seqpacket boundaries), a named listener with a connection, abstract and unlinked names, shutdown, a closed peer, flags', async () => {
    const { verdict } = await roundTrip('unixsock');
    expect(verdict).toBe('PASS');
  });

  it('datagram sockets: datagrams from unconnected, connected and closed senders queued at a bound socket come back in order with their senders; several sockets connected to one; a peer closed or unlinked since', async () => {
    const { verdict } = await roundTrip('unixdgram');
    expect(verdict).toBe('PASS');
  });

  it('datagram sockets connected to themselves (bound to a path, autobound, autobound by SO_PASSCRED) keep their own and others\' queued datagrams with senders; connections the kernel only allows in one order (to a socket that connected to itself or elsewhere since); across two processes', async () => {
    const { verdict } = await roundTrip('unixself');
    expect(verdict).toBe('PASS');
  });

  it('the image check lets a named datagram socket be its own peer, and nothing else: a self-connected one made a pair, unnamed or a seqpacket client is refused; three connected in a loop fail the restart cleanly', async () => {
    const c = await startCase('unixself');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    expect(await verdict(c)).toBe('PASS'); // undisturbed
    type F = { id: number; kind: string; unix?: Record<string, any> };
    const selfs = (fs: F[]) => fs.filter((f) => f.kind === 'unix' && f.unix!.peer === f.id).map((f) => f.unix!);
    const one = (fs: F[]) => selfs(fs).find((u) => !u.senders)!; // B, D or E (A has senders)
    const good = fs.readFileSync(img);
    let n = 0;
    editFiles<F>(good, path.join(c.dir, 'mut.ucr'), (fs) => (n = selfs(fs).length));
    expect(n).toBe(6); // A, B, D, E, U, V
    expect(ucr(['inspect', '--all', img]).stdout).toMatch(/unix #\d+: socket:\[\d+\] dgram \/\S+\/a\.sock, dgram with itself, 16 bytes queued in 4 message\(s\)/);
    expectEditsRefused<F[]>(
      [
        ['pair', (fs) => (one(fs).conn = 'pair'), /peer is not another unix socket of its type/],
        ['unnamed', (fs) => delete one(fs).name, /peer is not another unix socket of its type/],
        ['seqpacket', (fs) => Object.assign(one(fs), { type: 'seqpacket', conn: 'client' }), /peer is not another unix socket of its type/],
      ],
      (f) => editFiles<F>(good, path.join(c.dir, 'mut.ucr'), f),
    );
    // three named sockets connected in a loop (A to F, F to G, G to A), which the kernel cannot
    // make: the helper finds no order to connect them in, and the restart fails cleanly
    const named = (fs: F[], p: string) => fs.find((f) => f.unix?.name && Buffer.from(f.unix.name).toString().replace(/\0+$/, '').endsWith(p))!;
    const loop = editFiles<F>(good, path.join(c.dir, 'loop.ucr'), (fs) => {
      const [a, f, g] = [named(fs, '/a.sock'), named(fs, '/f.sock'), named(fs, '/g.sock')];
      Object.assign(a.unix!, { conn: 'dgram', peer: f.id });
      Object.assign(g.unix!, { conn: 'dgram', peer: a.id });
    });
    const c2 = await startCase('unixself');
    checkpointCase(c2, path.join(c2.dir, 'image.ucr'));
    await killAndWait(c2.pid);
    const r = ucr(['restart', '-i', loop, '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/datagram sockets connected in a cycle of three or more/);
    restartDetached(path.join(c2.dir, 'image.ucr')); // nothing was left behind
    expect(await verdict(c2)).toBe('PASS');
  });

  it('a bound datagram socket whose peer was closed since, with datagrams from that peer and others queued, and another socket connected to it: the datagrams come back with their senders, its sends fail with ECONNREFUSED, the other\'s with EPERM', async () => {
    const { verdict } = await roundTrip('unixself', { args: ['--gone'] });
    expect(verdict).toBe('PASS');
  });

  it('--external-unix=reconnect: a socket of the tree connected to a named socket that connected outside since still gets EPERM; the outside socket gets the datagram', async () => {
    await reconnectToOutsideDatagram('/tmp/ucr-extself-', 'unixself', '--outside');
  });

  it('connections waiting in the accept queues of a stream and a seqpacket listener stay there, in order, and work once accepted', async () => {
    const { verdict } = await roundTrip('unixaccept');
    expect(verdict).toBe('PASS');
  });

  it('refuses a socket whose peer is outside the tree, naming the outside process; restores it closed with --external-unix=close', async () => {
    const dir = fs.mkdtempSync('/tmp/ucr-ext-');
    try {
      const p = path.join(dir, 'outside.sock');
      const srv = await outsideServer(p);
      const c = await startCase('unixsock', { args: ['--connect', p] });
      await srv.connected;
      const img = path.join(c.dir, 'image.ucr');
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`process ${c.pid} fd \\d+ \\(socket:\\[\\d+\\] stream .*\\): its peer socket:\\[\\d+\\] is held by process ${process.pid} \\(.*\\) fd \\d+ outside the checkpointed tree`));
      expect(fs.existsSync(img)).toBe(false);
      expect(fs.existsSync(`/proc/${c.pid}`)).toBe(true); // untouched, still running
      const r2 = checkpointCase(c, img, ['--external-unix=close']);
      expect(r2.stderr).toMatch(/restored with its peer closed/);
      await killAndWait(c.pid);
      restartDetached(img);
      expect(await verdict(c)).toBe('PASS');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--external-unix=reconnect: a datagram socket connected to a named socket outside the tree connects to that name again on restart (it sends to it; with close it would get ECONNREFUSED)', async () => {
    await reconnectToOutsideDatagram('/tmp/ucr-extdg-', 'unixsock', '--dgram-to', (img, p, dir) => {
      expect(ucr(['inspect', img]).stdout).toContain(`connected again to ${p}`);
      // the name is checked like any field
      type F = { kind: string; unix?: Record<string, any> };
      expectEditsRefused(
        [['relative name', (fs: F[]) => (fs.find((f) => f.unix?.external)!.unix!.external.name = new Uint8Array(Buffer.from('x.sock'))), /external\.name: corrupt image: an absolute path or abstract name/]],
        (f) => editFiles<F>(fs.readFileSync(img), path.join(dir, 'mut.ucr'), f),
      );
    });
  });

  for (const [what, re] of [
    ['pending', /process \d+ fd \d+ \(socket:\[\d+\]\): data it sent waits unread in the accept queue of socket:\[\d+\] \(@ucr-unixsock-pending\): the kernel shows it only to accept\(\): not supported yet/],
  ] as [string, RegExp][])
    it(`refuses ${what === 'pending' ? 'data sent on a connection waiting to be accepted' : what} with one line naming the socket, and leaves the process running`, async () => {
      const c = await startCase('unixsock', { args: ['--refuse', what] });
      const img = path.join(c.dir, 'image.ucr');
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(fs.existsSync(img)).toBe(false);
      expect(await verdict(c)).toBe('PASS'); // untouched: it still runs and answers
    });

  it('a restart while the original still holds its named socket fails naming the path (in the files phase, before any task exists)', async () => {
    const c = await startCase('unixsock');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    const r = ucr(['restart', '-i', img, '--pidns', '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot bind the unix socket to ${c.dir}/listen.sock: the name is in use`));
    expect(await verdict(c)).toBe('PASS'); // the original is undisturbed
  });

  it('--skip sockets: the restarted program finds its sockets closed', async () => {
    const c = await startCase('unixsock', { args: ['--expect-closed'] });
    const img = path.join(c.dir, 'image.ucr');
    const r = checkpointCase(c, img, ['--skip', 'sockets']);
    expect(r.stderr).toMatch(/skipped, the restarted process finds it closed/);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });
});

describe('unix socket metadata validation', () => {
  it('names the field of an impossible socket, and random mutations never crash', async () => {
    const c = await startCase('unixsock');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    expect(await verdict(c)).toBe('PASS'); // the checkpoint left it undisturbed
    const good = fs.readFileSync(img);
    const mut = path.join(c.dir, 'mut.ucr');
    type F = { id: number; kind: string; unix?: Record<string, any> };
    const edit = (f: (files: F[]) => void) => editFiles<F>(good, mut, f);
    const socks = (files: F[]) => files.filter((f) => f.kind === 'unix').map((f) => f.unix!);
    const cases: [string, (files: F[]) => void, RegExp][] = [
      ['type', (fs) => (socks(fs)[0]!.type = 'raw'), /unix\.type: corrupt image: expected one of/],
      ['peer', (fs) => (socks(fs).find((u) => u.peer >= 0)!.peer = 9999), /peer is not another unix socket/],
      ['stream self', (fs) => { const f = fs.find((f) => f.unix?.type === 'stream' && f.unix.peer >= 0)!; f.unix!.peer = f.id; }, /peer is not another unix socket/],
      ['pair', (fs) => (socks(fs).find((u) => u.conn === 'pair' && u.peer >= 0)!.conn = 'client'), /without its accepted end|disagree/],
      ['listener', (fs) => (socks(fs).find((u) => u.conn === 'client')!.listener = socks(fs).findIndex((u) => !u.listening)), /listener is not a listening socket|listener/],
      ['name', (fs) => (socks(fs).find((u) => u.name)!.name = new Uint8Array(200)), /name: corrupt image: 200 bytes/],
      ['queue', (fs) => (socks(fs).find((u) => u.queue.length)!.queue = 'x'), /queue: corrupt image: expected an array/],
      ['shutdown', (fs) => (socks(fs)[0]!.shutdown = 9), /shutdown: corrupt image: 9 is outside/],
      ['senders', (fs) => (socks(fs)[0]!.senders = [new Uint8Array(1), new Uint8Array(2)]), /senders: corrupt image: one sender per datagram/],
    ];
    expectEditsRefused(cases, edit);
    const rand = seeded(12345);
    for (let i = 0; i < 400; i++) {
      fs.writeFileSync(mut, withFiles(good, (p) => mutated(p, rand, 4)));
      inspectRefuses(mut);
    }
  });
});
