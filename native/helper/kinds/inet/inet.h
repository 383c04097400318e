/* TCP and UDP sockets: the options kept across a checkpoint, in the order the dump reports
 * them and the restore plan carries them (src/kernel/fds/inet.ts INET_OPTS). */
#ifndef UCR_INET_H
#define UCR_INET_H
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define INET_QUEUE_MAX (4 << 20) /* per queue: the bytes travel in the metadata */

struct inet_opt {
	int level, name;
	int tcp; /* only for TCP sockets */
	int v6;  /* only for AF_INET6 sockets */
	int v4;  /* only for AF_INET sockets */
};

/* reuseaddr reuseport keepalive broadcast sndbuf rcvbuf v6only nodelay keepidle keepintvl
 * keepcnt linger (-1: off, else seconds) priority rcvlowat oobinline tos ttl tclass
 * unicasthops usertimeout deferaccept notsentlowat */
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
};
#define INET_NOPTS ((int)(sizeof inet_opts / sizeof inet_opts[0])) /* 22 */
enum { IO_REUSEADDR = 0, IO_SNDBUF = 4, IO_RCVBUF = 5, IO_LINGER = 11 };
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
#endif
