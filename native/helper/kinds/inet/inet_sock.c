/* Socket helpers of the inet restart (restore_inet.c, restore_inet_peer.c): addresses of a
 * plan's family, options, queue bytes sent in the socket's mode, buffer room. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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
 * sizes (set only when they differ from a new socket's: setting them stops autotuning). */
int set_opts(int s, const struct inet_plan *p)
{
	for (int i = 0; i < INET_NOPTS; i++) {
		const struct inet_opt *o = &inet_opts[i];
		int v = p->opts[i], cur = 0;
		socklen_t l = sizeof cur;
		if (i == IO_REUSEADDR || (o->tcp && p->proto != IPPROTO_TCP) || (o->v6 && p->family != 6) || (o->v4 && p->family != 4))
			continue;
		if (i == IO_LINGER) {
			struct linger lg = { v >= 0, v >= 0 ? v : 0 };
			if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
				return -1;
			continue;
		}
		if (getsockopt(s, o->level, o->name, &cur, &l) == 0 && cur == v)
			continue;
		if (i == IO_SNDBUF || i == IO_RCVBUF) /* the kernel doubles what is set */
			v /= 2;
		if (o->v6 && p->state != INET_CLOSED && p->state != INET_LISTEN)
			continue; /* IPV6_V6ONLY only before bind (set there) */
		if (setsockopt(s, o->level, i == IO_SNDBUF ? SO_SNDBUFFORCE : i == IO_RCVBUF ? SO_RCVBUFFORCE : o->name, &v, sizeof v) < 0)
			return -1;
	}
	return 0;
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
