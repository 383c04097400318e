/**
 * Socket options a program can read back (docs/kinds.md, the `inet` and `unix` rows; docs/kinds-inet.md):
 * every option of the case's list, set or left at its default, reads the same after a restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, exists, roundTrip, ucr, verdict } from './harness.js';
import { KIND } from './image-edit.js';
import { expectOneLine, forge, userImage } from './nobody.js';

afterEach(cleanup);

describe('socket options come back as the program set them', () => {
  it('TCP (listener, both ends of a connection, not yet connected), UDP over IPv4 and IPv6, unix stream and datagram sockets: every readable option, set or default', async () => {
    const { verdict } = await roundTrip('sockopts');
    expect(verdict).toBe('PASS');
  });

  it("a user's image restarted by root: the options come back; edited to a privileged one (SO_MARK, SO_PRIORITY above 6, IP_TRANSPARENT), it is refused", async () => {
    const { c, img, good } = await userImage('sockopts', ['--user']);
    const edits: [string, (f: Record<string, any>) => void, RegExp][] = [
      ['mark', (f) => (f.files.find((x: any) => x.inet).inet.opts.mark = 1), /\(tcp socket\): has SO_MARK 1 \(needs CAP_NET_ADMIN\), beyond uid 65534/],
      ['transparent', (f) => (f.files.find((x: any) => x.inet?.proto === 'udp').inet.opts.transparent = 1), /\(udp socket\): has IP_TRANSPARENT \(needs CAP_NET_ADMIN\), beyond uid 65534/],
      ['priority', (f) => (f.files.find((x: any) => x.unix).unix.opts.priority = 7), /\(unix socket\): has SO_PRIORITY 7 \(above 6 needs CAP_NET_ADMIN\), beyond uid 65534/],
    ];
    for (const [name, edit, re] of edits) {
      expectOneLine(ucr(['restart', '-i', forge(c, good, `${name}.ucr`, KIND.FILES, edit), '--detach']), re);
      expect(exists(c.pid), name).toBe(false);
    }
    const r = ucr(['restart', '-i', img, '--detach']);
    expect(r.code, r.stderr).toBe(0);
    expect(await verdict(c)).toBe('PASS');
  });
});
