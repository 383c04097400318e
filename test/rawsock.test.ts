import path from 'node:path';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointCase, cleanup, killAndWait, restartDetached, startCase, startTime, ucr, verdict } from './harness.js';

afterEach(cleanup);

describe('raw IP, packet and netlink sockets (issue 17)', () => {
  it('a raw ICMP socket with ICMP_FILTER pings 127.0.0.1 after the restart and gets its reply; IP_HDRINCL, an ICMPv6 filter and IPV6_FREEBIND on the raw IPv6 socket come back; a packet socket bound to lo (TPACKET_V2, aux data, a multicast membership, a socket filter) receives a frame sent on lo; a netlink route socket keeps its port id and groups and dumps the links; TPACKET_V2 receive and send rings come back at their address, the kernel at frame 3 of the receive ring as before, and a frame sent through the send ring arrives there', async () => {
    const c = await startCase('rawsock');
    const img = path.join(c.dir, 'image.ucr');
    const before = startTime(c.pid);
    checkpointCase(c, img, ['--kill']);
    const view = ucr(['inspect', img, '--all']).stdout;
    expect(view).toMatch(/raw protocol 1 127\.0\.0\.1 -> 127\.0\.0\.1/);
    expect(view).toMatch(/packet dgram lo protocol 0x88b5/);
    expect(view).toMatch(/netlink protocol 0 port \d+ groups 1,5,33/);
    expect(view).toMatch(/packet raw lo protocol 0x88b7, rings of 32 KiB \(receive ring at frame 3\)/);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(startTime(c.pid)).not.toBe(before);
    expect(await verdict(c)).toBe('PASS');
  });

  it('connected netlink sockets (to a peer socket, to the kernel) and a connected raw IPv6 socket come back connected; a raw socket bound to lo with SO_BINDTODEVICE stays bound', async () => {
    const c = await startCase('nlpeer');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img, ['--kill']);
    const view = ucr(['inspect', img, '--all']).stdout;
    expect(view).toMatch(/netlink protocol 2 port \d+ -> port \d+/);
    expect(view).toMatch(/raw protocol 1 0\.0\.0\.0 device lo/);
    await killAndWait(c.pid);
    restartDetached(img);
    expect(await verdict(c)).toBe('PASS');
  });

  it('a restart while the original still holds its netlink port id fails with one line naming it, and the original runs on undisturbed', async () => {
    const c = await startCase('rawsock');
    const img = path.join(c.dir, 'image.ucr');
    checkpointCase(c, img);
    const r = ucr(['restart', '-i', img, '--pidns', '--detach']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/^ucr: process \d+: files: file \d+: netlink port id \d+ of protocol 0 is taken by another socket: not restored: address already in use \(EADDRINUSE\)$/);
    expect(await verdict(c)).toBe('PASS');
  });

  for (const [what, re] of [
    ['ringv3', /^ucr: process \d+ fd \d+ \(socket:\[\d+\] packet raw \(every device\) protocol 0x88b5\): a packet socket with a TPACKET_V3 ring \(blocks retired by the kernel\): not supported yet$/],
    ['spkt', /^ucr: process \d+ fd \d+ \(socket:\[\d+\] packet .*\): a socket of type SOCK_PACKET \(the obsolete packet interface\): not supported$/],
  ] as [string, RegExp][])
    it(`refuses ${what} at checkpoint with one line naming the socket, and leaves the process running`, async () => {
      const c = await startCase('rawsock', { args: ['--refuse', what] });
      const img = path.join(c.dir, 'image.ucr');
      const r = ucr(['checkpoint', String(c.pid), '-o', img, '--kill']);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
      expect(fs.existsSync(img)).toBe(false);
      expect(await verdict(c)).toBe('PASS');
    });
});
