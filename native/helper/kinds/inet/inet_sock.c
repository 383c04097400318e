/* Socket helpers of the inet restart (restore_inet.c, restore_inet_peer.c): addresses of a
 * plan's family, options, queue bytes sent in the socket's mode, buffer room. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "inet.h"
#include "restore_inet.h"

socklen_t mkaddr(const struct inet_plan *p, const char *text, int port, struct sockaddr_storage *a)
{
	memset(a, 0, sizeof *a);
	if (p->family == 4) {
		struct sockaddr_in *s = (void *)a;
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, text[0] ? text : "0.0.0.0", &s->sin_addr);
		return sizeof *s;
	}
	struct sockaddr_in6 *s = (void *)a;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, text[0] ? text : "::", &s->sin6_addr);
	return sizeof *s;
}

const char *name_of(const struct inet_plan *p, const char *addr, int port, char out[64])
{
	snprintf(out, 64, p->family == 6 ? "[%s]:%d" : "%s:%d", addr, port);
	return out;
}

int set_int(int s, int level, int name, int v)
{
	return setsockopt(s, level, name, &v, sizeof v);
}

/* Options of inet.h but SO_REUSEADDR (the caller's: it depends on the moment) and the buffer
 * sizes (set only when they differ from a new socket's: setting them stops autotuning). Each
 * is set only when it differs from what the new socket has; SO_PRIORITY last (IP_TOS sets it
 * too); options a connection no longer takes (TCP_FASTOPEN*) only on closed or listening
 * sockets; options the image does not record (INET_OPT_UNSET) are left alone. */
static int set_opt(int s, const struct inet_plan *p, int i)
{
	const struct inet_opt *o = &inet_opts[i];
	int v = p->opts[i], cur = 0;
	socklen_t l = sizeof cur;
	if (i == IO_REUSEADDR || v == INET_OPT_UNSET || (o->tcp && p->proto != IPPROTO_TCP) || (o->udp && p->proto != IPPROTO_UDP) ||
	    (o->v6 && p->family != 6) || (o->v4 && p->family != 4) || (o->early && p->state != INET_CLOSED && p->state != INET_LISTEN))
		return 0;
	if (i == IO_LINGER) {
		struct linger lg = { v >= 0, v >= 0 ? v : 0 };
		return setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	if (o->tv) {
		struct timeval tv = { 0, 0 };
		l = sizeof tv;
		if (getsockopt(s, o->level, o->name, &tv, &l) == 0 && tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000 == v)
			return 0;
		tv = (struct timeval){ v / 1000, (v % 1000) * 1000 };
		return setsockopt(s, o->level, o->name, &tv, sizeof tv);
	}
	if (getsockopt(s, o->level, o->name, &cur, &l) == 0 && cur == v)
		return 0;
	if (i == IO_SNDBUF || i == IO_RCVBUF) /* the kernel doubles what is set */
		v /= 2;
	if (o->v6 && o->name == IPV6_V6ONLY && p->state != INET_CLOSED && p->state != INET_LISTEN)
		return 0; /* IPV6_V6ONLY only before bind (set there) */
	return setsockopt(s, o->level, i == IO_SNDBUF ? SO_SNDBUFFORCE : i == IO_RCVBUF ? SO_RCVBUFFORCE : o->name, &v, sizeof v);
}

int set_opts(int s, const struct inet_plan *p)
{
	for (int i = 0; i < INET_NOPTS; i++)
		if (i != IO_PRIORITY && set_opt(s, p, i) < 0)
			return -1;
	return set_opt(s, p, IO_PRIORITY);
}

/* Writes len bytes in the current mode (a repair queue or plain), halving chunks on ENOMEM. */
int send_all(int s, const unsigned char *d, size_t len)
{
	size_t off = 0, chunk = 1 << 20;
	while (off < len) {
		size_t c = len - off < chunk ? len - off : chunk;
		ssize_t n = send(s, d + off, c, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == ENOMEM || errno == EAGAIN) && chunk > 1024) {
			chunk /= 2;
			continue;
		}
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* Room for len more bytes in a buffer (the program's sizes are set again afterwards). */
void room(int s, int name, size_t len)
{
	int v = (int)(len * 2 + (1 << 20));
	setsockopt(s, SOL_SOCKET, name, &v, sizeof v);
}
