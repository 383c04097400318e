import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { inspect } from '../src/orchestrator/inspect.js';
import { editFiles, expectEditsRefused } from './image-edit.js';
import { checkpointCase, cleanup, killAndWait, restartDetached, startCase, startTime, tmpdir, trackPid, ucr, verdict, waitFor } from './harness.js';

const servers: net.Server[] = [];
const peers: net.Socket[] = [];
afterEach(async () => {
  for (const s of peers.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  await cleanup();
});

describe('TCP connections being closed, sockets bound in other ways', () => {
  it('both ends in the tree: CLOSE_WAIT, FIN_WAIT1 (FIN behind unsent bytes, or sent and never acknowledged), FIN_WAIT2, LAST_ACK and CLOSING, each with bytes queued, come back in their states and finish their close', async () => {
    const c = await startCase('tcpclose', { args: ['--states'] });
    const img = path.join(c.dir, 'image.ucr');
    const before = startTime(c.pid);
    checkpointCase(c, img, ['--kill']);
    const text = ucr(['inspect', img, '--all']).stdout;
    for (const s of ['close-wait', 'fin-wait1', 'fin-wait2', 'last-ack', 'closing']) expect(text).toContain(` ${s}, `);
    type F = { kind: string; inet?: Record<string, any> };
    const good = fs.readFileSync(img);
    expectEditsRefused(
      [['finUnsent', (fs: F[]) => (fs.find((f) => f.inet?.state === 'established')!.inet!.tcp.finUnsent = true), /finUnsent: corrupt image: a FIN waiting to be sent only in/]],
      (f) => editFiles<F>(good, path.join(c.dir, 'mut.ucr'), f),
    );
    await killAndWait(c.pid);
    restartDetached(img);
    expect(startTime(c.pid)).not.toBe(before);
    expect(await verdict(c, 'SIGTERM', 170_000)).toBe('PASS');
  }, 200_000);

  it('--tcp=established: CLOSE_WAIT to an outside peer that shut down writing: the bytes, then EOF, and what the program writes after the restart reaches the peer', async () => {
    const server = net.createServer({ allowHalfOpen: true });
    servers.push(server);
    let data = '';
    const events: string[] = [];
    const conn = new Promise<net.Socket>((resolve) =>
      server.once('connection', (sock) => {
        peers.push(sock);
        sock.on('data', (d) => (data += d.toString()));
        sock.on('end', () => events.push('end'));
        sock.on('error', (e) => events.push(`error ${(e as NodeJS.ErrnoException).code}`));
        sock.end('before');
        resolve(sock);
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const c = await startCase('tcpclose', { args: ['--connect', String(port)] });
    await conn;
    const img = path.join(c.dir, 'image.ucr');
    const r = checkpointCase(c, img, ['--kill', '--tcp=established']);
    expect(r.stderr).toMatch(/restored established \(--tcp=established\)/);
    trackPid(inspect({ input: img }).meta.files.files.find((f) => f.inet?.keeper)!.inet!.keeper!.pid);
    expect(ucr(['inspect', img]).stdout).toMatch(/close-wait, 6 bytes to read/);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
    await waitFor(() => events.includes('end'), 10_000, 'the FIN of the restarted program');
    expect(data).toBe('after-restart\n');
    expect(events).toEqual(['end']);
  });

  for (const [state, policy] of [['last-ack', 'established'], ['fin-wait1', 'established'], ['closing', 'established'], ['last-ack', 'close']] as const)
    it(`--tcp=${policy}: ${state.toUpperCase().replace('-', '_')} to an outside peer that does not read, the FIN behind bytes that did not fit: ${policy === 'established' ? 'comes back in its state, the peer gets every byte, then EOF' : 'comes back closed (EOF, EPIPE)'}`, async () => {
      const flag = path.join(tmpdir('flag'), 'flag'); // removed at cleanup
      const p = await startCase('tcpclose', { args: ['--peer', ...(state === 'fin-wait1' ? ['--no-fin'] : state === 'closing' ? ['--flag', flag] : [])] });
      const port = fs.readFileSync(`${p.out}.port`, 'utf8').trim();
      const c = await startCase('tcpclose', { args: ['--closing-to', port, '--state', state, '--flag', flag, ...(policy === 'close' ? ['--closed'] : [])] });
      const img = path.join(c.dir, 'image.ucr');
      const r = checkpointCase(c, img, ['--kill', `--tcp=${policy}`]);
      expect(r.stderr).toMatch(policy === 'established' ? /restored established \(--tcp=established\)/ : /has closed its side: restored closed/);
      if (policy === 'established') trackPid(inspect({ input: img }).meta.files.files.find((f) => f.inet?.keeper)!.inet!.keeper!.pid);
      expect(ucr(['inspect', img]).stdout).toMatch(new RegExp(`${state}, 0 bytes to read, \\d+ bytes unacknowledged \\(\\d+ never sent\\)`));
      await killAndWait(c.pid);
      restartDetached(img);
      expect(await verdict(c)).toBe('PASS');
      if (policy === 'close') return; // the original connection went silently: the peer waits on
      expect(await verdict(p, 'SIGTERM', 90_000)).toBe('PASS');
      expect(fs.readFileSync(`${p.out}.count`, 'utf8')).toBe(fs.readFileSync(`${c.out}.count`, 'utf8'));
    }, 120_000);

  it('refuses a connection being opened (SYN_SENT) with one line naming it, and leaves the process running', async () => {
    const c = await startCase('inetbind', { args: ['--syn-sent'] });
    const img = path.join(c.dir, 'image.ucr');
    const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^ucr: process \d+ fd \d+ \(socket:\[\d+\] TCP 127\.0\.0\.1:\d+\): TCP state SYN_SENT \(a connection being opened\) is not supported yet: checkpoint again in a moment$/);
    expect(fs.existsSync(img)).toBe(false);
    expect(await verdict(c, 'SIGTERM', 90_000)).toBe('PASS');
  }, 120_000);

  it('restart --tcp-close: every connection (IPv4 with bytes queued both ways, IPv6) comes back CLOSE: EOF at once, POLLHUP, EPIPE; the listeners still accept', async () => {
    const c = await startCase('tcpforceclose');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    await killAndWait(c.pid);
    const r = ucr(['restart', '-i', img, '--detach', '--tcp-close'], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.stderr).toBe('');
    expect(await verdict(c)).toBe('PASS');
  }, 120_000);

  it('SO_REUSEPORT listeners sharing a port (in two tasks; one with the option turned off after listen) and UDP sockets, SO_BINDTODEVICE, IP_FREEBIND/IPV6_FREEBIND (one turned off after bind) and IP_TRANSPARENT bound to addresses the host does not have come back bound as they were', async () => {
    const c = await startCase('inetbind', { args: ['--bound'] });
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    expect(ucr(['inspect', img]).stdout).toMatch(/device lo/);
    // an image's device name is checked like any field
    type F = { kind: string; inet?: Record<string, any> };
    const good = fs.readFileSync(img);
    const mut = path.join(c.dir, 'mut.ucr');
    expectEditsRefused(
      [
        ['device', (fs: F[]) => (fs.find((f) => f.inet?.device)!.inet!.device = 'a/b'), /inet\.device: corrupt image: not a network device name/],
      ],
      (f) => editFiles<F>(good, mut, f),
    );
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });
});

/** Runs sh in a new network namespace (unshare -n) with a device d0 (a bridge: this kernel has no dummy driver). */
function inNetns(script: string): { code: number; out: string } {
  const r = spawnSync('unshare', ['-n', 'sh', '-ec', `ip link set lo up; ip link add d0 type bridge; ip link set d0 up; ${script}`], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('SO_BINDTODEVICE to a device of the network namespace', () => {
  it('a socket bound to a device of its own (a bridge) comes back bound to it; with the device gone, the restart fails in one line naming it', async () => {
    const dir = fs.mkdtempSync('/tmp/ucr-bindtodev-');
    try {
      const node = process.execPath;
      const ucrBin = path.resolve('bin/ucr');
      // the launcher: only the fds the case means to have
      const prog = `${path.resolve('test/cases/bin/launcher')} --stdin /dev/null --stdout ${dir}/out --stderr ${dir}/err0 -- ${path.resolve('test/cases/bin/inetbind')}`;
      // the case (bound to d0) is checkpointed and killed, restarted, and verifies itself;
      // then checkpointed again, d0 deleted, and the restart refused
      const r = inNetns(`
        cd ${dir}
        ${prog} --out ${dir}/r1 --device d0 & pid=$!
        trap 'kill -9 $pid 2>/dev/null' EXIT # whatever fails, the case goes (and the netns with it)
        while [ ! -e ${dir}/r1.ready ]; do sleep 0.05; done
        ${node} ${ucrBin} checkpoint $pid -o ${dir}/i1 --kill
        wait $pid || true
        ${node} ${ucrBin} restart -i ${dir}/i1 --detach
        kill -TERM $pid; while [ ! -s ${dir}/r1 ]; do sleep 0.05; done
        echo "verdict: $(cat ${dir}/r1)"
        ${prog} --out ${dir}/r2 --device d0 & pid=$!
        while [ ! -e ${dir}/r2.ready ]; do sleep 0.05; done
        ${node} ${ucrBin} checkpoint $pid -o ${dir}/i2 --kill
        wait $pid || true
        ip link del d0
        if ${node} ${ucrBin} restart -i ${dir}/i2 --detach 2>${dir}/err; then echo restarted; fi
        echo "refusal: $(cat ${dir}/err)"
        echo "lines: $(wc -l < ${dir}/err)"
      `);
      expect(r.out).toMatch(/verdict: PASS/);
      expect(r.out).toMatch(/refusal: ucr: .*network device d0.*SO_BINDTODEVICE.*does not exist/);
      expect(r.out).toMatch(/lines: 1\n/);
      expect(r.out).not.toMatch(/restarted/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
