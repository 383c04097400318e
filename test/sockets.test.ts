import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, killAndWait, restartDetached, roundTrip, startCase, ucr, verdict } from './harness.js';

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

describe('unix domain sockets', () => {
  it('socketpairs (stream echo with a child, datagram and seqpacket boundaries), a named listener with a connection, abstract and unlinked names, shutdown, a closed peer, flags', async () => {
    const { verdict } = await roundTrip('unixsock');
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
