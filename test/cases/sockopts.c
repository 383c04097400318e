// build: gcc -O2 -g -Wall -Wextra -o sockopts sockopts.c
/*
 * sockopts.c - every socket option a program can read back comes back as it was, on TCP
 * (listener, both ends of a connection, a socket not yet connected) and UDP (IPv4, IPv6), and
 * on unix sockets (stream pair, datagram).
 *
 *   sockopts --out FILE [--user]
 *
 * Sets, per socket, options away from their defaults: SO_MARK, SO_PRIORITY (after IP_TOS,
 * which also sets it), SO_BUF_LOCK, SO_TIMESTAMP / SO_TIMESTAMPNS / SO_TIMESTAMPING,
 * SO_RCVTIMEO / SO_SNDTIMEO, SO_KEEPALIVE, SO_PASSCRED (unix), SO_DONTROUTE, SO_ZEROCOPY,
 * TCP_NODELAY, TCP_CORK, TCP_KEEPIDLE/INTVL/CNT, TCP_USER_TIMEOUT, TCP_SYNCNT, TCP_LINGER2,
 * TCP_THIN_LINEAR_TIMEOUTS, TCP_INQ, TCP_FASTOPEN (listener), TCP_FASTOPEN_CONNECT (not
 * connected), IP_TOS, IP_TTL, IP_RECVERR, IP_MTU_DISCOVER, IP_MULTICAST_TTL/LOOP/IF/ALL,
 * IP_RECVTOS, IP_RECVTTL, IP_PKTINFO, IP_RECVORIGDSTADDR, IP_FREEBIND, IP_TRANSPARENT,
 * IP_BIND_ADDRESS_NO_PORT, IPV6_TCLASS, IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS/LOOP/IF,
 * IPV6_RECVPKTINFO, IPV6_RECVERR, IPV6_MTU_DISCOVER, IPV6_RECVTCLASS, IPV6_RECVHOPLIMIT,
 * UDP_SEGMENT, UDP_GRO. Then reads back every option of the list from every socket (those it
 * set and those it did not: the defaults must come back too) and, after SIGTERM, compares.
 * --user: only what a user may set and checkpoint (no SO_MARK, no IP_TRANSPARENT, no TCP
 * connection).
 */
#include "net.h"

#include <linux/net_tstamp.h>
#include <netinet/udp.h>
#include <sys/un.h>

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

struct opt {
	int level, name, len;
	const char *label;
};
#define O(l, n, len) { l, n, len, #n }
static const struct opt sol[] = {
	O(SOL_SOCKET, SO_MARK, 4), O(SOL_SOCKET, SO_PRIORITY, 4), O(SOL_SOCKET, SO_BUF_LOCK, 4),
	O(SOL_SOCKET, SO_TIMESTAMP, 4), O(SOL_SOCKET, SO_TIMESTAMPNS, 4), O(SOL_SOCKET, SO_TIMESTAMPING, 8),
	O(SOL_SOCKET, SO_RCVTIMEO, 16), O(SOL_SOCKET, SO_SNDTIMEO, 16), O(SOL_SOCKET, SO_KEEPALIVE, 4),
	O(SOL_SOCKET, SO_PASSCRED, 4), O(SOL_SOCKET, SO_DONTROUTE, 4), O(SOL_SOCKET, SO_BROADCAST, 4),
	O(SOL_SOCKET, SO_OOBINLINE, 4), O(SOL_SOCKET, SO_RCVLOWAT, 4),
};
static const struct opt tcp[] = {
	O(SOL_SOCKET, SO_ZEROCOPY, 4), O(IPPROTO_TCP, TCP_NODELAY, 4), O(IPPROTO_TCP, TCP_CORK, 4),
	O(IPPROTO_TCP, TCP_KEEPIDLE, 4), O(IPPROTO_TCP, TCP_KEEPINTVL, 4), O(IPPROTO_TCP, TCP_KEEPCNT, 4),
	O(IPPROTO_TCP, TCP_USER_TIMEOUT, 4), O(IPPROTO_TCP, TCP_SYNCNT, 4), O(IPPROTO_TCP, TCP_LINGER2, 4),
	O(IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 4), O(IPPROTO_TCP, TCP_INQ, 4), O(IPPROTO_TCP, TCP_FASTOPEN, 4),
	O(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 4), O(IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4),
};
static const struct opt udp[] = {
	O(SOL_SOCKET, SO_ZEROCOPY, 4), O(IPPROTO_UDP, UDP_SEGMENT, 4), O(IPPROTO_UDP, UDP_GRO, 4), O(IPPROTO_UDP, UDP_CORK, 4),
};
static const struct opt ip4[] = {
	O(IPPROTO_IP, IP_TOS, 4), O(IPPROTO_IP, IP_TTL, 4), O(IPPROTO_IP, IP_RECVERR, 4), O(IPPROTO_IP, IP_MTU_DISCOVER, 4),
	O(IPPROTO_IP, IP_RECVTOS, 4), O(IPPROTO_IP, IP_RECVTTL, 4), O(IPPROTO_IP, IP_PKTINFO, 4),
	O(IPPROTO_IP, IP_RECVORIGDSTADDR, 4), O(IPPROTO_IP, IP_FREEBIND, 4), O(IPPROTO_IP, IP_TRANSPARENT, 4),
	O(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 4),
};
static const struct opt mc4[] = {
	O(IPPROTO_IP, IP_MULTICAST_TTL, 4), O(IPPROTO_IP, IP_MULTICAST_LOOP, 4), O(IPPROTO_IP, IP_MULTICAST_IF, 4),
	O(IPPROTO_IP, IP_MULTICAST_ALL, 4),
};
static const struct opt ip6[] = {
	O(IPPROTO_IPV6, IPV6_TCLASS, 4), O(IPPROTO_IPV6, IPV6_UNICAST_HOPS, 4), O(IPPROTO_IPV6, IPV6_V6ONLY, 4),
	O(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 4), O(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 4), O(IPPROTO_IPV6, IPV6_MULTICAST_IF, 4),
	O(IPPROTO_IPV6, IPV6_RECVPKTINFO, 4), O(IPPROTO_IPV6, IPV6_RECVERR, 4), O(IPPROTO_IPV6, IPV6_MTU_DISCOVER, 4),
	O(IPPROTO_IPV6, IPV6_RECVTCLASS, 4), O(IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 4),
};

enum { T_TCP = 1, T_UDP = 2, T_V4 = 4, T_V6 = 8, T_UNIX = 16 };
#define NS 12
static struct { int fd, kinds; const char *name; } socks[NS];
static int nsocks;
#define MAXV 256
static unsigned char before[NS][MAXV][16], after[NS][MAXV][16];
static int rc_before[NS][MAXV], rc_after[NS][MAXV];

static int user;

static void set(int s, int level, int name, int v, const char *what)
{
	if (user && ((level == SOL_SOCKET && name == SO_MARK) || (level == IPPROTO_IP && name == IP_TRANSPARENT)))
		return;
	if (setsockopt(s, level, name, &v, sizeof v) < 0)
		case_setup_fail("setsockopt %s = %d: %s", what, v, strerror(errno));
}
#define SET(s, l, n, v) set(s, l, n, v, #n)

static void add(int fd, int kinds, const char *name)
{
	if (nsocks == NS)
		case_setup_fail("more than %d sockets", NS);
	socks[nsocks].fd = fd, socks[nsocks].kinds = kinds, socks[nsocks].name = name;
	nsocks++;
}

/* every option of the lists that apply to socket i, into out (rc: errno or 0) */
static void read_all(int i, unsigned char out[MAXV][16], int *rc)
{
	int k = 0;
	const struct { const struct opt *o; size_t n; int when; } lists[] = {
		{ sol, sizeof sol / sizeof sol[0], 0 }, { tcp, sizeof tcp / sizeof tcp[0], T_TCP },
		{ udp, sizeof udp / sizeof udp[0], T_UDP }, { ip4, sizeof ip4 / sizeof ip4[0], T_V4 },
		{ mc4, sizeof mc4 / sizeof mc4[0], T_V4 | T_UDP }, { ip6, sizeof ip6 / sizeof ip6[0], T_V6 },
	};
	for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
		if ((lists[l].when & socks[i].kinds) != lists[l].when)
			continue;
		for (size_t j = 0; j < lists[l].n; j++, k++) {
			socklen_t len = (socklen_t)lists[l].o[j].len;
			memset(out[k], 0, 16);
			rc[k] = getsockopt(socks[i].fd, lists[l].o[j].level, lists[l].o[j].name, out[k], &len) < 0 ? errno : 0;
		}
	}
}

static const char *label_of(int i, int k)
{
	const struct { const struct opt *o; size_t n; int when; } lists[] = {
		{ sol, sizeof sol / sizeof sol[0], 0 }, { tcp, sizeof tcp / sizeof tcp[0], T_TCP },
		{ udp, sizeof udp / sizeof udp[0], T_UDP }, { ip4, sizeof ip4 / sizeof ip4[0], T_V4 },
		{ mc4, sizeof mc4 / sizeof mc4[0], T_V4 | T_UDP }, { ip6, sizeof ip6 / sizeof ip6[0], T_V6 },
	};
	for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
		if ((lists[l].when & socks[i].kinds) != lists[l].when)
			continue;
		if ((size_t)k < lists[l].n)
			return lists[l].o[k].label;
		k -= (int)lists[l].n;
	}
	return "?";
}

static int bound(int fam, int type, const char *addr)
{
	int s = sock(fam, type);
	struct sockaddr_storage a = { 0 };
	socklen_t al;
	if (fam == AF_INET) {
		struct sockaddr_in *i = (void *)&a;
		i->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &i->sin_addr);
		al = sizeof *i;
	} else {
		struct sockaddr_in6 *i = (void *)&a;
		i->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &i->sin6_addr);
		al = sizeof *i;
	}
	if (bind(s, (struct sockaddr *)&a, al) < 0)
		die("bind");
	return s;
}

static void timeo(int s, int name, long sec, long usec)
{
	struct timeval tv = { sec, usec };
	if (setsockopt(s, SOL_SOCKET, name, &tv, sizeof tv) < 0)
		die("SO_RCVTIMEO/SO_SNDTIMEO");
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	user = case_has_flag(argc, argv, "--user");
	/* a listener: fast open queue, mark, priority, timeouts, timestamping */
	int l = listener(AF_INET, "127.0.0.1", 4, 0);
	SET(l, IPPROTO_TCP, TCP_FASTOPEN, 5);
	SET(l, SOL_SOCKET, SO_MARK, 42);
	SET(l, SOL_SOCKET, SO_PRIORITY, 5);
	timeo(l, SO_RCVTIMEO, 1, 500000);
	SET(l, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
	add(l, T_TCP | T_V4, "listener");
	if (!user) { /* a connection (a user's checkpoint may not put it into repair mode) */
		int acc = -1, c = connect_to(l, &acc);
		/* the client: TCP options, IP_TOS then SO_PRIORITY (IP_TOS sets the priority too) */
		SET(c, IPPROTO_TCP, TCP_NODELAY, 1);
		SET(c, IPPROTO_TCP, TCP_CORK, 1);
		SET(c, SOL_SOCKET, SO_KEEPALIVE, 1);
		SET(c, IPPROTO_TCP, TCP_KEEPIDLE, 77);
		SET(c, IPPROTO_TCP, TCP_KEEPINTVL, 9);
		SET(c, IPPROTO_TCP, TCP_KEEPCNT, 4);
		SET(c, IPPROTO_TCP, TCP_USER_TIMEOUT, 12345);
		SET(c, IPPROTO_TCP, TCP_SYNCNT, 3);
		SET(c, IPPROTO_TCP, TCP_LINGER2, 17);
		SET(c, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 1);
		SET(c, IPPROTO_TCP, TCP_INQ, 1);
		SET(c, IPPROTO_IP, IP_TOS, 0x28);
		SET(c, SOL_SOCKET, SO_PRIORITY, 3);
		SET(c, SOL_SOCKET, SO_MARK, 7);
		SET(c, SOL_SOCKET, SO_TIMESTAMP, 1);
		SET(c, IPPROTO_IP, IP_RECVERR, 1);
		SET(c, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
		SET(c, SOL_SOCKET, SO_DONTROUTE, 1);
		SET(c, SOL_SOCKET, SO_ZEROCOPY, 1);
		SET(c, SOL_SOCKET, SO_RCVBUF, 100000);
		SET(c, SOL_SOCKET, SO_BUF_LOCK, 1); /* the send buffer locked, the receive buffer not */
		timeo(c, SO_SNDTIMEO, 0, 250000);
		add(c, T_TCP | T_V4, "client");
		/* the accepted end */
		SET(acc, IPPROTO_IP, IP_TTL, 33);
		SET(acc, SOL_SOCKET, SO_TIMESTAMPNS, 1);
		SET(acc, SOL_SOCKET, SO_OOBINLINE, 1);
		SET(acc, SOL_SOCKET, SO_RCVLOWAT, 3);
		SET(acc, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4096);
		timeo(acc, SO_RCVTIMEO, 3, 0);
		add(acc, T_TCP | T_V4, "accepted");
	}
	/* a TCP socket not connected yet */
	int u = sock(AF_INET, SOCK_STREAM);
	SET(u, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1);
	SET(u, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
	SET(u, IPPROTO_IP, IP_FREEBIND, 1);
	add(u, T_TCP | T_V4, "unconnected");
	/* UDP over IPv4: multicast and receive options */
	int d = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
	SET(d, IPPROTO_IP, IP_MULTICAST_TTL, 5);
	SET(d, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	if (setsockopt(d, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo) < 0)
		die("IP_MULTICAST_IF");
	SET(d, IPPROTO_IP, IP_MULTICAST_ALL, 0);
	SET(d, IPPROTO_IP, IP_RECVTOS, 1);
	SET(d, IPPROTO_IP, IP_RECVTTL, 1);
	SET(d, IPPROTO_IP, IP_PKTINFO, 1);
	SET(d, IPPROTO_IP, IP_RECVORIGDSTADDR, 1);
	SET(d, IPPROTO_IP, IP_TRANSPARENT, 1);
	SET(d, IPPROTO_UDP, UDP_SEGMENT, 1200);
	SET(d, IPPROTO_UDP, UDP_GRO, 1);
	SET(d, SOL_SOCKET, SO_BROADCAST, 1);
	SET(d, SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE);
	add(d, T_UDP | T_V4, "udp4");
	/* UDP over IPv6 */
	int d6 = sock(AF_INET6, SOCK_DGRAM);
	SET(d6, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	{
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		if (bind(d6, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind ::1");
	}
	SET(d6, IPPROTO_IPV6, IPV6_TCLASS, 0x10);
	SET(d6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 9);
	SET(d6, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 7);
	SET(d6, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
	SET(d6, IPPROTO_IPV6, IPV6_MULTICAST_IF, 1);
	SET(d6, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	SET(d6, IPPROTO_IPV6, IPV6_RECVERR, 1);
	SET(d6, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE);
	SET(d6, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
	SET(d6, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
	SET(d6, IPPROTO_UDP, UDP_CORK, 1);
	add(d6, T_UDP | T_V6, "udp6");
	/* unix: a stream pair and a datagram socket */
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		die("socketpair");
	SET(sp[0], SOL_SOCKET, SO_PRIORITY, 4);
	SET(sp[0], SOL_SOCKET, SO_MARK, 9);
	SET(sp[0], SOL_SOCKET, SO_PASSCRED, 1);
	SET(sp[0], SOL_SOCKET, SO_RCVLOWAT, 2);
	timeo(sp[0], SO_RCVTIMEO, 2, 0);
	timeo(sp[0], SO_SNDTIMEO, 0, 750000);
	add(sp[0], T_UNIX, "unix stream");
	add(sp[1], T_UNIX, "unix peer");
	int ud = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (ud < 0)
		die("socket");
	SET(ud, SOL_SOCKET, SO_TIMESTAMP, 1);
	SET(ud, SOL_SOCKET, SO_PRIORITY, 2);
	timeo(ud, SO_RCVTIMEO, 0, 100000);
	add(ud, T_UNIX, "unix dgram");
	for (int i = 0; i < nsocks; i++)
		read_all(i, before[i], rc_before[i]);
	case_ready();
	case_wait_term();

	for (int i = 0; i < nsocks; i++) {
		read_all(i, after[i], rc_after[i]);
		for (int k = 0; k < MAXV; k++)
			if (rc_before[i][k] != rc_after[i][k] || memcmp(before[i][k], after[i][k], 16)) {
				int b, a;
				memcpy(&b, before[i][k], 4);
				memcpy(&a, after[i][k], 4);
				case_fail("%s socket: %s reads %d (%s), was %d (%s)", socks[i].name, label_of(i, k), a,
					  rc_after[i][k] ? strerror(rc_after[i][k]) : "ok", b, rc_before[i][k] ? strerror(rc_before[i][k]) : "ok");
			}
	}
	case_finish();
	return 0;
}
