/* TCP and UDP sockets: the options kept across a checkpoint, in the order the dump reports
 * them and the restore plan carries them (src/kernel/fds/inet.ts INET_OPTS). */
#ifndef UCR_INET_H
#define UCR_INET_H
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/time.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define INET_QUEUE_MAX (4 << 20) /* per queue: the bytes travel in the metadata */

struct inet_opt {
	int level, name;
	int tcp; /* only for TCP sockets */
	int v6;  /* only for AF_INET6 sockets */
	int v4;  /* only for AF_INET sockets */
	int udp; /* only for UDP sockets */
	int tv;  /* a struct timeval, carried in milliseconds */
	int early; /* settable only before a connection exists (closed or listening sockets) */
};

/* A value the image does not record (an option newer than the image): left as it is. */
#define INET_OPT_UNSET ((int)0x80000000)

/* reuseaddr reuseport keepalive broadcast sndbuf rcvbuf v6only nodelay keepidle keepintvl
 * keepcnt linger (-1: off, else seconds) priority rcvlowat oobinline tos ttl tclass
 * unicasthops usertimeout deferaccept notsentlowat; since issue 17: mark buflock timestamp
 * timestampns timestamping rcvtimeo sndtimeo (ms) dontroute zerocopy cork syncnt
 * linger2 thinlt fastopen fastopenconnect inq mcastttl mcastloop mcastif (the address, as
 * the int it reads back) mcastall recvtos recvttl pktinfo recverr mtudisc freebind bindnoport
 * transparent recvorigdst (freebind and transparent at the IP level are the socket's own flags,
 * IPV6_FREEBIND/IPV6_TRANSPARENT alike: read and set on IPv6 sockets too, before bind) mcasthops mcastloop6 mcastif6 recvpktinfo6 recverr6 mtudisc6
 * recvtclass recvhoplimit udpcork udpsegment udpgro */
static const struct inet_opt inet_opts[] = {
	{ SOL_SOCKET, SO_REUSEADDR, 0, 0, 0 },     { SOL_SOCKET, SO_REUSEPORT, 0, 0, 0 },
	{ SOL_SOCKET, SO_KEEPALIVE, 0, 0, 0 },     { SOL_SOCKET, SO_BROADCAST, 0, 0, 0 },
	{ SOL_SOCKET, SO_SNDBUF, 0, 0, 0 },        { SOL_SOCKET, SO_RCVBUF, 0, 0, 0 },
	{ IPPROTO_IPV6, IPV6_V6ONLY, 0, 1, 0 },    { IPPROTO_TCP, TCP_NODELAY, 1, 0, 0 },
	{ IPPROTO_TCP, TCP_KEEPIDLE, 1, 0, 0 },    { IPPROTO_TCP, TCP_KEEPINTVL, 1, 0, 0 },
	{ IPPROTO_TCP, TCP_KEEPCNT, 1, 0, 0 },     { SOL_SOCKET, SO_LINGER, 0, 0, 0 },
	{ SOL_SOCKET, SO_PRIORITY, 0, 0, 0 },      { SOL_SOCKET, SO_RCVLOWAT, 0, 0, 0 },
	{ SOL_SOCKET, SO_OOBINLINE, 0, 0, 0 },     { IPPROTO_IP, IP_TOS, 0, 0, 1 },
	{ IPPROTO_IP, IP_TTL, 0, 0, 1 },           { IPPROTO_IPV6, IPV6_TCLASS, 0, 1, 0 },
	{ IPPROTO_IPV6, IPV6_UNICAST_HOPS, 0, 1, 0 }, { IPPROTO_TCP, TCP_USER_TIMEOUT, 1, 0, 0 },
	{ IPPROTO_TCP, TCP_DEFER_ACCEPT, 1, 0, 0 }, { IPPROTO_TCP, TCP_NOTSENT_LOWAT, 1, 0, 0 },
	{ SOL_SOCKET, SO_MARK },                    { SOL_SOCKET, SO_BUF_LOCK },
	{ SOL_SOCKET, SO_TIMESTAMP_OLD },           { SOL_SOCKET, SO_TIMESTAMPNS_OLD },
	{ SOL_SOCKET, SO_TIMESTAMPING_OLD },        { SOL_SOCKET, SO_RCVTIMEO_OLD, .tv = 1 },
	{ SOL_SOCKET, SO_SNDTIMEO_OLD, .tv = 1 },   { SOL_SOCKET, SO_DONTROUTE },
	{ SOL_SOCKET, SO_ZEROCOPY },
	{ IPPROTO_TCP, TCP_CORK, .tcp = 1 },        { IPPROTO_TCP, TCP_SYNCNT, .tcp = 1 },
	{ IPPROTO_TCP, TCP_LINGER2, .tcp = 1 },     { IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, .tcp = 1 },
	{ IPPROTO_TCP, TCP_FASTOPEN, .tcp = 1, .early = 1 }, { IPPROTO_TCP, TCP_FASTOPEN_CONNECT, .tcp = 1, .early = 1 },
	{ IPPROTO_TCP, TCP_INQ, .tcp = 1 },         { IPPROTO_IP, IP_MULTICAST_TTL, .v4 = 1, .udp = 1 },
	{ IPPROTO_IP, IP_MULTICAST_LOOP, .v4 = 1, .udp = 1 }, { IPPROTO_IP, IP_MULTICAST_IF, .v4 = 1, .udp = 1 },
	{ IPPROTO_IP, IP_MULTICAST_ALL, .v4 = 1, .udp = 1 },  { IPPROTO_IP, IP_RECVTOS, .v4 = 1 },
	{ IPPROTO_IP, IP_RECVTTL, .v4 = 1 },        { IPPROTO_IP, IP_PKTINFO, .v4 = 1 },
	{ IPPROTO_IP, IP_RECVERR, .v4 = 1 },        { IPPROTO_IP, IP_MTU_DISCOVER, .v4 = 1 },
	{ IPPROTO_IP, IP_FREEBIND },                { IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, .v4 = 1 },
	{ IPPROTO_IP, IP_TRANSPARENT },    { IPPROTO_IP, IP_RECVORIGDSTADDR, .v4 = 1 },
	{ IPPROTO_IPV6, IPV6_MULTICAST_HOPS, .v6 = 1, .udp = 1 }, { IPPROTO_IPV6, IPV6_MULTICAST_LOOP, .v6 = 1, .udp = 1 },
	{ IPPROTO_IPV6, IPV6_MULTICAST_IF, .v6 = 1, .udp = 1 }, { IPPROTO_IPV6, IPV6_RECVPKTINFO, .v6 = 1 },
	{ IPPROTO_IPV6, IPV6_RECVERR, .v6 = 1 },    { IPPROTO_IPV6, IPV6_MTU_DISCOVER, .v6 = 1 },
	{ IPPROTO_IPV6, IPV6_RECVTCLASS, .v6 = 1 }, { IPPROTO_IPV6, IPV6_RECVHOPLIMIT, .v6 = 1 },
	{ IPPROTO_UDP, UDP_CORK, .udp = 1 },        { IPPROTO_UDP, UDP_SEGMENT, .udp = 1 },
	{ IPPROTO_UDP, UDP_GRO, .udp = 1 },
};
#define INET_NOPTS ((int)(sizeof inet_opts / sizeof inet_opts[0])) /* 62 */
#define INET_NOPTS_MAX 64 /* room in struct inet_plan */
enum { IO_REUSEADDR = 0, IO_REUSEPORT = 1, IO_SNDBUF = 4, IO_RCVBUF = 5, IO_LINGER = 11, IO_PRIORITY = 12, IO_FREEBIND = 47 };
/* getsockopt of an int (SO_LINGER: -1 off, else seconds), 0 on failure */
static inline int opt_int(int s, int level, int name)
{
	int v = 0;
	socklen_t l = sizeof v;
	if (name == SO_LINGER && level == SOL_SOCKET) {
		struct linger lg = { 0, 0 };
		l = sizeof lg;
		getsockopt(s, level, name, &lg, &l);
		return lg.l_onoff ? lg.l_linger : -1;
	}
	getsockopt(s, level, name, &v, &l);
	return v;
}
/* A timeout option (struct timeval) in milliseconds, rounded up; INT_MAX at most. */
static inline int opt_ms(int s, int level, int name)
{
	struct timeval tv = { 0, 0 };
	socklen_t l = sizeof tv;
	if (getsockopt(s, level, name, &tv, &l) < 0)
		return 0;
	long long ms = (long long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* The options a unix socket keeps too (src/kernel/fds/unix.ts UNIX_OPTS): those of the socket
 * level but the address reuse and the buffer sizes (kept by the unix socket's own line). */
static inline int inet_opt_unix(int i)
{
	return inet_opts[i].level == SOL_SOCKET && i != IO_REUSEADDR && i != IO_REUSEPORT && i != IO_SNDBUF && i != IO_RCVBUF;
}

/* A socket's classic filter of the program's own (SO_ATTACH_FILTER) as `"filter":HEX`, or
 * `"filter":"ebpf"` for one that cannot be read back (SO_ATTACH_BPF); nothing without one
 * (dump_inet.c; the inet and rawsock kinds). */
struct sbuf;
void dump_sock_filter(struct sbuf *b, int s);
#endif
