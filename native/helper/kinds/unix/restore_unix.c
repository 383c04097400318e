/* Unix domain sockets, recreated by the helper before any task exists (plan line in plan.h):
 * created (socketpair for pairs), bound to their names (a stale socket file at the path is
 * replaced; binding, connecting, the socket file's owner and mode and every removal of a name
 * are done with the holder's credentials: fscred.c), listening, connected (a client connects
 * to the listener and the accepted side
 * comes from accept(); a listener of the image or a temporary one bound to the accepted side's
 * name; datagram sockets by unix_dgram.c, in an order the kernel accepts), then each queue is
 * written by the socket's peer (one send per datagram), temporary
 * peers (gone at checkpoint) are closed, and shutdown state, options, flags are set. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "plan_parse.h"
#include "proto.h"
#include "inet.h"
#include "restore.h"
#include "restore_inet.h"
#include "unix.h"


static struct unix_plan *ux(struct restore_ctx *c, int id)
{
	int i = id < 0 ? -1 : plan_find_file(c->plan, id);
	return i >= 0 && c->plan->files[i].kind == FILE_UNIX ? c->plan->files[i].ux : NULL;
}

/* fd (of u) connects to the listener (or a temporary one bound to acc's name); returns the
 * accepted fd. */
static int connect_via(struct restore_ctx *c, struct unix_plan *u, int fd, struct unix_plan *acc, const char *obj)
{
	struct unix_plan *l = ux(c, u->listener), tmp;
	int lfd = l ? l->fd : -1;
	if (u->listener >= 0 && (!l || !l->listening))
		return proto_fail("files", obj, EINVAL, "the listener of a unix connection is not a listening socket");
	if (!l) {
		tmp = *acc; /* a temporary listener bound to the accepted side's name */
		tmp.opath = -1;
		l = &tmp;
		lfd = socket(AF_UNIX, acc->type | SOCK_CLOEXEC, 0);
		if (lfd < 0 || unix_bind(lfd, &tmp, obj) < 0 || listen(lfd, 1) < 0)
			return proto_fail("files", obj, errno, "cannot make a temporary listener for a connection");
	}
	int r = unix_connect(u->task, fd, l) < 0 ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int e = errno;
	if (l == &tmp) {
		char path[PATH_MAX];
		const char *p = unix_path(acc, path);
		close(lfd);
		if (tmp.opath >= 0)
			close(tmp.opath);
		else if (p && acc->unlinked)
			fs_unlink(acc->task, p);
	}
	if (r < 0)
		return proto_fail("files", obj, e, "cannot connect the unix socket again");
	return r;
}

/* One message with the files in flight with it (their helper fds: every file object exists). */
static ssize_t send_rights(struct restore_ctx *c, int wfd, const void *data, size_t len, const int *ids, int n, const char *obj)
{
	union {
		char buf[CMSG_SPACE(253 * sizeof(int))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { NULL, 0, &iov, 1, cb.buf, CMSG_SPACE((size_t)n * sizeof(int)), 0 };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	for (int i = 0; i < n; i++) {
		int k = plan_find_file(c->plan, ids[i]);
		int hfd = k >= 0 ? c->plan->files[k].hfd : -1;
		if (hfd < 0) {
			errno = EINVAL;
			return proto_fail("files", obj, EINVAL, "file %d in flight in the unix socket's queue is not held by the helper", ids[i]);
		}
		((int *)CMSG_DATA(cm))[i] = hfd;
	}
	ssize_t r = sendmsg(wfd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r < 0)
		return proto_fail("files", obj, errno, "cannot queue a message with %d file(s) in flight at the unix socket again", n);
	return r;
}

/* The peer writes what was queued at u, each message with the files in flight with it (its
 * send buffer is raised meanwhile). */
static int fill(struct restore_ctx *c, int wfd, struct unix_plan *u, const char *obj)
{
	size_t total = 0;
	for (int i = 0; i < u->nmsgs; i++)
		total += u->msglen[i];
	int orig = 0;
	socklen_t ol = sizeof orig;
	getsockopt(wfd, SOL_SOCKET, SO_SNDBUF, &orig, &ol);
	int big = (int)(total + (1 << 20));
	if (setsockopt(wfd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
		return proto_fail("files", obj, errno, "cannot raise a send buffer to refill a unix socket");
	for (int i = 0; i < u->nmsgs; i++) {
		size_t off = 0;
		if (u->rights && u->nrights[i]) {
			ssize_t n = send_rights(c, wfd, u->msgs[i], u->msglen[i], u->rights[i], u->nrights[i], obj);
			if (n < 0)
				return -1;
			off = (size_t)n;
		}
		while (off < u->msglen[i]) {
			ssize_t n = send(wfd, u->msgs[i] + off, u->msglen[i] - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0)
				return proto_fail("files", obj, errno, "cannot queue %zu bytes at the unix socket again",
						  u->msglen[i]);
			off += (size_t)n;
		}
		if (!u->msglen[i] && !(u->rights && u->nrights[i]) && send(wfd, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			return proto_fail("files", obj, errno, "cannot queue an empty message at the unix socket again");
	}
	orig /= 2;
	setsockopt(wfd, SOL_SOCKET, SO_SNDBUFFORCE, &orig, sizeof orig);
	return 0;
}

/* Clients whose connections waited in an accept queue connect again, in queue order, so they
 * wait there again (nothing accepts them before the tasks run). */
static int connect_waiting(struct restore_ctx *c)
{
	char obj[48];
	for (int place = 0;; place++) {
		int found = 0;
		for (int i = 0; i < c->plan->nfiles; i++) {
			struct unix_plan *u = c->plan->files[i].kind == FILE_UNIX ? c->plan->files[i].ux : NULL;
			if (!u || u->pending != place)
				continue;
			found = 1;
			struct unix_plan *l = ux(c, u->listener);
			unix_obj(obj, c->plan->files[i].id);
			if (!l || !l->listening || l->type != u->type || !l->namelen)
				return proto_fail("files", obj, EINVAL, "a connection waits in the accept queue of a socket that is not a listener");
			if (unix_connect(u->task, u->fd, l) < 0)
				return proto_fail("files", obj, errno, "cannot connect again the unix socket that waited in an accept queue");
		}
		if (!found)
			return 0;
	}
}

/* Its socket-level options, through the TCP/UDP code (the family and protocol of no inet
 * socket: only the socket level applies). */
static int unix_opts(const struct unix_plan *u)
{
	static struct inet_plan p;
	memset(&p, 0, sizeof p);
	memcpy(p.opts, u->opts, sizeof p.opts);
	return set_opts(u->fd, &p);
}

static int finish(struct file_plan *f, struct unix_plan *u, const char *obj)
{
	static const int how[4] = { -1, SHUT_RD, SHUT_WR, SHUT_RDWR };
	int snd = u->sndbuf / 2, rcv = u->rcvbuf / 2, one = 1;
	if (u->tmp >= 0)
		close(u->tmp);
	u->tmp = -1;
	if ((u->shutdown && shutdown(u->fd, how[u->shutdown]) < 0 && errno != ENOTCONN) ||
	    (u->passcred && setsockopt(u->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) ||
	    (snd && setsockopt(u->fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) < 0) ||
	    (rcv && setsockopt(u->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) ||
	    (u->peekoff >= 0 && setsockopt(u->fd, SOL_SOCKET, SO_PEEK_OFF, &u->peekoff, sizeof u->peekoff) < 0) ||
	    fcntl(u->fd, F_SETFL, f->flags & ~O_ASYNC) < 0 || (u->have_opts && unix_opts(u) < 0))
		return proto_fail("files", obj, errno, "cannot set the state of the unix socket");
	return 0;
}

int open_unix_sockets(struct restore_ctx *c)
{
	char obj[48];
	if (unix_pick_alone(c) < 0)
		return -1;
	/* sockets, pairs */
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		struct unix_plan *u = f->ux, *p;
		unix_obj(obj, f->id);
		if (f->kind != FILE_UNIX || u->fd >= 0 || u->conn == UNIX_ACCEPTED)
			continue;
		p = ux(c, u->peer);
		/* the one check of a socket's peer, made for every datagram socket (unix_connect_dgrams
		 * relies on it): a unix socket of its type; itself only for a named datagram socket
		 * connected to its own name */
		if (u->peer >= 0 && (!p || p->type != u->type || (p == u && (u->conn != UNIX_DGRAM || u->type != SOCK_DGRAM || !u->namelen))))
			return proto_fail("files", obj, EINVAL, "the peer of a unix socket is not a unix socket of its type");
		if (u->alone) {
			/* its peer is gone, and datagrams are sent again to it by their senders or sockets
			 * of the image connect to it (unix_pick_alone): before it has a peer (unix_gone_peers) */
			if ((u->fd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0)) < 0)
				return proto_fail("files", obj, errno, "cannot create a unix socket");
		} else if (u->conn == UNIX_PAIR) {
			int sv[2];
			if (p && (p->conn != UNIX_PAIR || p->peer != f->id))
				return proto_fail("files", obj, EINVAL, "the two ends of a socket pair disagree");
			if (socketpair(AF_UNIX, u->type | SOCK_CLOEXEC, 0, sv) < 0)
				return proto_fail("files", obj, errno, "cannot create a socket pair");
			u->fd = sv[0];
			*(p ? &p->fd : &u->tmp) = sv[1];
		} else if ((u->fd = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0)) < 0) {
			return proto_fail("files", obj, errno, "cannot create a unix socket");
		}
	}
	/* names (those still linked first: a path unlinked since may hold one of them now),
	 * listeners */
	for (int n = 0; n < 2 * c->plan->nfiles; n++) {
		int i = n % c->plan->nfiles;
		struct unix_plan *u = c->plan->files[i].ux;
		unix_obj(obj, c->plan->files[i].id);
		if (c->plan->files[i].kind != FILE_UNIX || u->conn == UNIX_ACCEPTED || u->unlinked != (n >= c->plan->nfiles))
			continue;
		if (u->namelen && unix_bind(u->fd, u, obj) < 0)
			return -1;
		if (u->listening && listen(u->fd, u->backlog) < 0)
			return proto_fail("files", obj, errno, "cannot listen on the unix socket");
	}
	if (unix_send_by_senders(c) < 0)
		return -1;
	/* connections */
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		struct unix_plan *u = f->ux, *p;
		unix_obj(obj, f->id);
		if (f->kind != FILE_UNIX)
			continue;
		p = ux(c, u->peer);
		if (u->conn == UNIX_CLIENT && u->pending >= 0) {
			continue; /* below */
		} else if (u->conn == UNIX_CLIENT) {
			if (!p || p->conn != UNIX_ACCEPTED || p->peer != f->id)
				return proto_fail("files", obj, EINVAL, "a unix client without its accepted end");
			if ((p->fd = connect_via(c, u, u->fd, p, obj)) < 0)
				return -1;
		} else if (u->conn == UNIX_ACCEPTED && u->peer < 0) { /* the client is gone */
			int cs = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
			if (cs < 0 || (u->fd = connect_via(c, u, cs, u, obj)) < 0)
				return cs < 0 ? proto_fail("files", obj, errno, "cannot create a unix socket") : -1;
			u->tmp = cs;
		}
	}
	/* datagram sockets connected to sockets of the image, in an order the kernel accepts, and
	 * to named sockets outside it */
	if (unix_connect_dgrams(c) < 0 || unix_gone_peers(c) < 0 || connect_waiting(c) < 0)
		return -1;
	/* unlinked names, then every socket also at a high fd (its own fd stays open for the
	 * queues: unix_finish) */
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		if (f->kind != FILE_UNIX)
			continue;
		struct unix_plan *u = f->ux;
		char path[PATH_MAX];
		const char *p = unix_path(u, path);
		if (p && u->unlinked && u->conn != UNIX_ACCEPTED && u->opath < 0)
			fs_unlink(f->task, p);
		f->hfd = fcntl(u->fd, F_DUPFD_CLOEXEC, c->base);
		if (f->hfd < 0)
			return proto_fail("files", "unix socket", errno, "cannot place the socket");
	}
	return 0;
}

/* Once every file object exists (the files in flight in a queue are sent again with it): each
 * queue written by the peer, temporary peers closed, shutdown state, options and flags set. */
int unix_finish(struct restore_ctx *c)
{
	char obj[48];
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct unix_plan *u = c->plan->files[i].ux;
		unix_obj(obj, c->plan->files[i].id);
		if (c->plan->files[i].kind != FILE_UNIX || !u->nmsgs || u->from)
			continue;
		int w = u->peer >= 0 && ux(c, u->peer) ? ux(c, u->peer)->fd : u->tmp;
		if (w < 0)
			return proto_fail("files", obj, EINVAL, "data queued at a unix socket that has no peer");
		if (fill(c, w, u, obj) < 0)
			return -1;
	}
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		unix_obj(obj, f->id);
		if (f->kind == FILE_UNIX && finish(f, f->ux, obj) < 0)
			return -1;
	}
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		if (f->kind == FILE_UNIX && f->ux->fd >= 0) {
			close(f->ux->fd);
			f->ux->fd = -1;
		}
		if (f->kind == FILE_UNIX && f->ux->opath >= 0) {
			close(f->ux->opath);
			f->ux->opath = -1;
		}
	}
	return 0;
}
