/* TCP and UDP queues written again by temporary peers (restore_inet.c does the rest): a
 * connection restored reset or closed (a loopback peer writes the bytes left, then resets or
 * closes it), and the datagrams queued at UDP sockets (sent again from their senders'
 * addresses). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "inet.h"
#include "proto.h"
#include "restore.h"
#include "restore_inet.h"


/* Connected to a temporary peer on loopback that writes the queue and resets the connection;
 * mode peer-closed: closes it instead (the socket reads the bytes, then EOF; writing to the
 * closed peer gets a reset); mode finished: and the socket closes its side too (EOF, EPIPE). */
int make_reset(struct inet_plan *p, const char *what)
{
	int fin = p->mode == INET_FINISHED || p->mode == INET_PEER_CLOSED;
	int fam = p->family == 4 ? AF_INET : AF_INET6;
	struct inet_plan lo = *p;
	strcpy(lo.local, p->family == 4 ? "127.0.0.1" : "::1");
	struct sockaddr_storage a;
	socklen_t al = mkaddr(&lo, lo.local, 0, &a);
	int l = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0), s = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1;
	if (l >= 0 && s >= 0 && bind(l, (struct sockaddr *)&a, al) == 0 && listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&a, &al) == 0 && connect(s, (struct sockaddr *)&a, al) == 0)
		c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	int e = errno;
	if (l >= 0)
		close(l);
	if (c < 0) {
		if (s >= 0)
			close(s);
		return proto_fail("files", what, e, "cannot make a temporary peer on loopback");
	}
	room(c, SO_SNDBUFFORCE, p->rqlen);
	room(s, SO_RCVBUFFORCE, p->rqlen);
	struct linger lg = { 1, 0 };
	int r = send_all(c, p->rq, p->rqlen);
	e = errno;
	for (int i = 0; r == 0 && i < 500; i++) { /* every byte arrived before the reset */
		int inq = 0;
		if (ioctl(s, SIOCINQ, &inq) < 0 || (size_t)inq >= p->rqlen)
			break;
		usleep(10000);
	}
	if (!fin)
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(c);
	struct pollfd pf = { s, POLLIN | POLLRDHUP, 0 };
	for (int i = 0; r == 0 && i < 500 && !(pf.revents & (fin ? POLLRDHUP : POLLHUP | POLLERR)); i++)
		if (poll(&pf, 1, 10) < 0)
			break;
	/* finished, or its own side closed too (closing, last-ack): shut down writing */
	if ((p->mode == INET_FINISHED || p->state == INET_CLOSING || p->state == INET_LAST_ACK) && r == 0 && shutdown(s, SHUT_WR) == 0) { /* until its FIN is acknowledged: CLOSE */
		struct tcp_info ti = { 0 };
		socklen_t tl = sizeof ti;
		for (int i = 0; i < 500 && getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_state != TCP_CLOSE; i++)
			usleep(10000);
	}
	if (r < 0 || set_opts(s, p) < 0) {
		close(s);
		return proto_fail("files", what, r < 0 ? e : errno, "cannot restore the connection reset");
	}
	return s;
}

/* Datagrams at s (peeked one by one), at most want. */
static int count_datagrams(int s, int want)
{
	int n = 0, zero = 0, off = -1;
	static char buf[65536];
	if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) < 0)
		return -1;
	while (n < want && recv(s, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) >= 0)
		n++;
	setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off);
	return n;
}

/* Each queued datagram is sent again from its sender's address (a temporary socket bound there
 * with SO_REUSEADDR: the image's own UDP sockets bound with it too meanwhile) to the socket's
 * address on loopback, in order; then SO_REUSEADDR is put back as it was. */
int requeue_datagrams(struct restore_ctx *c)
{
	char what[64], nm[64];
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		struct inet_plan *p = f->in;
		if (f->kind != FILE_INET || !p->ndgrams)
			continue;
		snprintf(what, sizeof what, "UDP socket (file %d)", f->id);
		struct sockaddr_storage to, a;
		socklen_t tl = mkaddr(p, p->local[0] && strcmp(p->local, "0.0.0.0") && strcmp(p->local, "::") ? p->local : p->family == 4 ? "127.0.0.1" : "::1", p->lport, &to);
		size_t total = 0;
		for (int k = 0; k < p->ndgrams; k++)
			total += p->dgrams[k].len + 1024;
		room(f->hfd, SO_RCVBUFFORCE, total);
		for (int k = 0; k < p->ndgrams; k++) {
			struct inet_dgram *d = &p->dgrams[k];
			socklen_t al = mkaddr(p, d->from, d->port, &a);
			int t = socket(p->family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, p->lite ? IPPROTO_UDPLITE : 0);
			if (t < 0 || set_int(t, SOL_SOCKET, SO_REUSEADDR, 1) < 0 || (p->family == 6 && set_int(t, IPPROTO_IPV6, IPV6_V6ONLY, 0) < 0) ||
			    bind(t, (struct sockaddr *)&a, al) < 0 || sendto(t, d->data, d->len, 0, (struct sockaddr *)&to, tl) != (ssize_t)d->len) {
				int e = errno;
				if (t >= 0)
					close(t);
				return proto_fail("files", what, e, "cannot queue the datagram from %s again%s", name_of(p, d->from, d->port, nm),
						  e == EADDRINUSE ? ": its address is in use by a socket outside the image" : "");
			}
			close(t);
		}
		int n = 0;
		for (int tries = 0; tries < 500 && (n = count_datagrams(f->hfd, p->ndgrams)) < p->ndgrams; tries++)
			usleep(10000);
		if (n != p->ndgrams)
			return proto_fail("files", what, EAGAIN, "only %d of the %d datagrams queued again arrived", n, p->ndgrams);
		if (set_opts(f->hfd, p) < 0)
			return proto_fail("files", what, errno, "cannot set the socket's options");
	}
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		if (f->kind == FILE_INET && f->in->proto == IPPROTO_UDP && set_int(f->hfd, SOL_SOCKET, SO_REUSEADDR, f->in->opts[IO_REUSEADDR]) < 0)
			return proto_fail("files", "UDP socket", errno, "cannot set SO_REUSEADDR");
	}
	return 0;
}
