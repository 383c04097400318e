/**
 * Process state the kernel keeps and ucr used to lose (docs/restart.md): prctl(PR_SET_THP_DISABLE)
 * (with kernel 6.18's PR_THP_DISABLE_EXCEPT_ADVISED), the signal a stopped process was stopped
 * with, the process group of a zombie whose group leader is gone, shutdown() of UDP sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, treeRoundTrip } from './harness.js';

afterEach(cleanup);

describe('prctl(PR_SET_THP_DISABLE)', () => {
  it('a process and its child (same flag, inherited by fork) report PR_GET_THP_DISABLE 1 again', async () => {
    const { verdict } = await treeRoundTrip('thpdisable');
    expect(verdict).toBe('PASS');
  });

  it('with PR_THP_DISABLE_EXCEPT_ADVISED: 3 again', async () => {
    const { verdict } = await treeRoundTrip('thpdisable', { args: ['--advised'] });
    expect(verdict).toBe('PASS');
  });
});

describe('a stopped process', () => {
  it('comes back stopped by the signal that stopped it: SIGTSTP, SIGTTOU, SIGSTOP, as its parent\'s waitid(WSTOPPED) reports (zdtm stopped03)', async () => {
    const { verdict, pids } = await treeRoundTrip('stopsig');
    expect(pids).toHaveLength(5);
    expect(verdict).toBe('PASS');
  });
});

describe('UDP sockets shut down', () => {
  it('SHUT_WR, SHUT_RD on connected sockets and SHUT_RDWR on an unconnected one come back: send gives EPIPE, poll shows the sides shut down, as before (zdtm socket_udp_shutdown)', async () => {
    const { verdict } = await treeRoundTrip('udpshut');
    expect(verdict).toBe('PASS');
  });
});
