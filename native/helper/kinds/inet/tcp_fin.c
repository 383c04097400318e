/* The FINs of a TCP connection restored while it was being closed (fin-wait1, fin-wait2,
 * close-wait, closing, last-ack). The connection is rebuilt as established in repair mode with
 * each FIN taken out of the sequences (restore_inet.c), then its FINs are replayed in the order
 * the state implies, still in repair mode, so that nothing reaches the peer:
 *  - ours, when it had been sent: shutdown() with the send queue selected (TCP_REPAIR_QUEUE),
 *    which queues the FIN as sent without transmitting it (it is retransmitted like any
 *    unacknowledged segment); acknowledged (fin-wait2): the peer's ACK of it is injected;
 *  - the peer's: TCP_REPAIR cannot queue a received FIN, so it is injected: a bare FIN+ACK
 *    from the peer's address and port with the peer's sequence, sent through a raw socket to
 *    the connection's own address. The socket acknowledges it (a duplicate for the peer, which
 *    had its ACK before the checkpoint, or ignored by a peer in the tree still in repair mode).
 * Our FIN that was never sent (it waited behind unsent bytes) is queued at release, after those
 * bytes, by a plain shutdown(); in closing, the peer's FIN is injected after it. Each step waits
 * (bounded) for the state it must lead to and fails naming the connection otherwise. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "inet.h"
#include "proto.h"
#include "restore_inet.h"

static const char *tcp_state_name(int st)
{
	static const char *n[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };
	return st >= 0 && st < (int)(sizeof n / sizeof n[0]) ? n[st] : "?";
}

static int tcp_state(int s)
{
	struct tcp_info ti = { 0 };
	socklen_t l = sizeof ti;
	return getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ? -1 : ti.tcpi_state;
}

/* Waits (up to a second: loopback delivery) for the socket to reach state want. */
static int reach(int s, int want, const char *what, const char *step)
{
	int st = tcp_state(s);
	for (int i = 0; i < 100 && st != want; i++) {
		usleep(10000);
		st = tcp_state(s);
	}
	if (st == want)
		return 0;
	return proto_fail("files", what, EPROTO, "%s, replayed: the connection is in state %s, not %s", step, tcp_state_name(st), tcp_state_name(want));
}

static uint32_t sum16(const void *d, size_t len, uint32_t sum)
{
	const unsigned char *p = d;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A bare TCP segment from the peer to the connection (flags: 0x11 FIN+ACK, 0x10 ACK). */
static int inject(const struct inet_plan *p, uint32_t seq, uint32_t ack, int flags, const char *what)
{
	unsigned char pkt[60] = { 0 }, *tcp;
	unsigned char src[16], dst[16];
	int v4 = p->family == 4, mapped = !v4 && !strncmp(p->remote, "::ffff:", 7) && strchr(p->remote, '.') && !strncmp(p->local, "::ffff:", 7);
	if (v4 || mapped) {
		if (inet_pton(AF_INET, p->remote + (mapped ? 7 : 0), src) != 1 || inet_pton(AF_INET, p->local + (mapped ? 7 : 0), dst) != 1)
			return proto_fail("files", what, EINVAL, "cannot replay the connection's FIN: bad address");
	} else if (inet_pton(AF_INET6, p->remote, src) != 1 || inet_pton(AF_INET6, p->local, dst) != 1)
		return proto_fail("files", what, EINVAL, "cannot replay the connection's FIN: bad address");
	int four = v4 || mapped, hl = four ? 20 : 40, len = hl + 20;
	tcp = pkt + hl;
	uint32_t win = p->window[1] >> p->sndws;
	tcp[0] = (unsigned char)(p->rport >> 8), tcp[1] = (unsigned char)p->rport;
	tcp[2] = (unsigned char)(p->lport >> 8), tcp[3] = (unsigned char)p->lport;
	uint32_t nseq = htonl(seq), nack = htonl(ack);
	memcpy(tcp + 4, &nseq, 4), memcpy(tcp + 8, &nack, 4);
	tcp[12] = 5 << 4, tcp[13] = (unsigned char)flags;
	tcp[14] = (unsigned char)((win > 0xffff ? 0xffff : win) >> 8), tcp[15] = (unsigned char)(win > 0xffff ? 0xffff : win);
	uint32_t sum;
	if (four) {
		unsigned char ph[12] = { 0 };
		memcpy(ph, src, 4), memcpy(ph + 4, dst, 4), ph[9] = IPPROTO_TCP, ph[11] = 20;
		sum = sum16(tcp, 20, sum16(ph, 12, 0));
		pkt[0] = 0x45, pkt[3] = (unsigned char)len, pkt[8] = 64, pkt[9] = IPPROTO_TCP;
		memcpy(pkt + 12, src, 4), memcpy(pkt + 16, dst, 4);
		uint16_t ic = htons(fold(sum16(pkt, 20, 0)));
		memcpy(pkt + 10, &ic, 2);
	} else {
		unsigned char ph[40] = { 0 };
		memcpy(ph, src, 16), memcpy(ph + 16, dst, 16), ph[35] = 20, ph[39] = IPPROTO_TCP;
		sum = sum16(tcp, 20, sum16(ph, 40, 0));
		pkt[0] = 0x60, pkt[5] = 20, pkt[6] = IPPROTO_TCP, pkt[7] = 64;
		memcpy(pkt + 8, src, 16), memcpy(pkt + 24, dst, 16);
	}
	uint16_t tc = htons(fold(sum));
	memcpy(tcp + 16, &tc, 2);
	struct sockaddr_storage to = { 0 };
	socklen_t tl;
	if (four) {
		struct sockaddr_in *a = (void *)&to;
		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, dst, 4);
		tl = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (void *)&to;
		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, dst, 16);
		tl = sizeof *a;
	}
	int r = socket(four ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (r < 0 || sendto(r, pkt, (size_t)len, 0, (struct sockaddr *)&to, tl) != len) {
		int e = errno;
		if (r >= 0)
			close(r);
		return proto_fail("files", what, e, "cannot replay the connection's FIN (a raw socket needs CAP_NET_RAW)");
	}
	close(r);
	return 0;
}

/* sequences as restored: the peer's FIN at inseq - 1, ours at outseq - 1; snd_una below the
 * bytes not acknowledged (the send queue) */
static uint32_t snd_una(const struct inet_plan *p)
{
	return p->outseq - (uint32_t)tcp_fin_out(p->state) - (uint32_t)p->sqlen;
}

/* Injects a segment and waits for the state it leads to. The program's own socket filter
 * (attached already, so that the answers of other connections meet it as they did) is taken
 * off while it passes. */
static int replay(int s, const struct inet_plan *p, uint32_t seq, uint32_t ack, int flags, int want, const char *what, const char *step)
{
	int z = 0;
	struct sock_fprog prog = { (unsigned short)(p->filterlen / 8), (struct sock_filter *)p->filter };
	if (p->filterlen && setsockopt(s, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z) < 0)
		return proto_fail("files", what, errno, "cannot take its socket filter off while %s is replayed", step);
	int r = inject(p, seq, ack, flags, what) < 0 ? -1 : reach(s, want, what, step);
	if (p->filterlen && setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 && r == 0)
		r = proto_fail("files", what, errno, "cannot attach its socket filter again");
	return r;
}

static int peer_fin(int s, const struct inet_plan *p, int want, const char *what)
{
	return replay(s, p, p->inseq - 1, snd_una(p), 0x11, want, what, "the FIN its peer had sent");
}

int inet_replay_fins(int s, const struct inet_plan *p, int step, const char *what)
{
	if (p->mode != INET_REPAIR)
		return 0;
	int st = p->state;
	if (step == 0 && (st == INET_CLOSE_WAIT || st == INET_LAST_ACK))
		return peer_fin(s, p, TCP_CLOSE_WAIT, what);
	if (step == 1 && tcp_fin_out(st) && !p->finunsent) {
		if (set_int(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 || shutdown(s, SHUT_WR) < 0 ||
		    set_int(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0)
			return proto_fail("files", what, errno, "cannot queue the FIN it had sent");
		if (reach(s, st == INET_LAST_ACK ? TCP_LAST_ACK : TCP_FIN_WAIT1, what, "its FIN, queued as sent,") < 0)
			return -1;
		if (st == INET_FIN_WAIT2 && replay(s, p, p->inseq, p->outseq, 0x10, TCP_FIN_WAIT2, what, "the ACK of its FIN") < 0)
			return -1;
		return 0;
	}
	if (step == 2 && st == INET_CLOSING && !p->finunsent)
		return peer_fin(s, p, TCP_CLOSING, what);
	return 0;
}

int inet_fins_release(int s, const struct inet_plan *p, const char *what)
{
	if (p->mode != INET_REPAIR || !p->finunsent)
		return 0;
	if (shutdown(s, SHUT_WR) < 0)
		return proto_fail("finish", what, errno, "cannot queue the FIN it had not sent yet");
	if (reach(s, p->state == INET_LAST_ACK ? TCP_LAST_ACK : TCP_FIN_WAIT1, what, "its FIN, queued behind the bytes never sent,") < 0)
		return -1;
	return p->state == INET_CLOSING ? peer_fin(s, p, TCP_CLOSING, what) : 0;
}

int bind_device(int s, const struct inet_plan *p, const char *what)
{
	if (!p->dev[0] || setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, p->dev, (socklen_t)strlen(p->dev) + 1) == 0)
		return 0;
	return proto_fail("files", what, errno, "cannot bind it to network device %s (SO_BINDTODEVICE)%s", p->dev,
			  errno == ENODEV ? ": the device does not exist on this host" : "");
}
