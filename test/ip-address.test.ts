/**
 * ipFamily (src/image/ip-address.ts), which checks an image's socket addresses in place of
 * node:net's isIP: the same answer as isIP for addresses of both families and for text that is
 * neither (leading zeros, too many or too few groups, two `::`, a dotted part anywhere but at the
 * end), and 0 for a zone (`%eth0`, which inet_pton does not read).
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ipFamily } from '../src/image/ip-address.js';

const CASES = [
  '0.0.0.0', '127.0.0.1', '255.255.255.255', '10.1.2.3', '256.1.1.1', '01.1.1.1', '1.1.1', '1.1.1.1.1', '1..1.1', '1.1.1.1 ', '-1.1.1.1', '1.1.1.0x1',
  '::', '::1', '1::', 'fe80::1', 'FE80::ABCD:1', '::ffff:1.2.3.4', '::1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8',
  '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1:2:3:4:5::1.2.3.4', '1::2::3', '12345::', 'g::', '', 'a:b', ':1::', '1:::2', '::ffff:01.2.3.4',
  '1.2.3.4::', '1.2.3.4::1', ':::', '1:2:3:4:5:6:7:', ':1:2:3:4:5:6:7', '0000:0000:0000:0000:0000:0000:0000:0001', '00000::1',
];

describe('ipFamily', () => {
  it('answers as node:net isIP does', () => {
    for (const c of CASES) expect(ipFamily(c), JSON.stringify(c)).toBe(net.isIP(c));
  });
  it('refuses a zone', () => {
    expect(net.isIP('fe80::1%eth0')).toBe(6);
    expect(ipFamily('fe80::1%eth0')).toBe(0);
  });
});
