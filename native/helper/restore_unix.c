/* Unix domain sockets, recreated by the helper before any task exists (plan line in plan.h):
 * created (socketpair for pairs), bound to their names (a stale socket file at the path is
 * replaced), listening, connected (a client connects to the listener and the accepted side
 * comes from accept(); a listener of the image or a temporary one bound to the accepted side's
 * name), then each queue is written by the socket's peer (one send per datagram), temporary
 * peers (gone at checkpoint) are closed, and shutdown state, options, flags are set. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "plan_parse.h"
#include "proto.h"
#include "restore.h"

extern struct plan plan;
extern struct restore_ctx ctx;

static struct unix_plan *ux(int id)
{
	int i = id < 0 ? -1 : plan_find_file(&plan, id);
	return i >= 0 && plan.files[i].kind == FILE_UNIX ? plan.files[i].ux : NULL;
}

static socklen_t addr_of(const char *name, size_t len, struct sockaddr_un *a)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* The path of a filesystem name (NUL-terminated), or NULL for an abstract one. */
static const char *path_of(const char *name, size_t len, char out[109])
{
	if (!len || !name[0])
		return NULL;
	memcpy(out, name, len);
	out[len] = 0;
	return out;
}

/* A socket file nobody is bound to any more (connect is refused). */
static int stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	struct sockaddr_un a;
	socklen_t al = addr_of(path, strlen(path), &a);
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = s >= 0 ? connect(s, (struct sockaddr *)&a, al) : 0;
	int e = errno;
	if (s >= 0)
		close(s);
	return r < 0 && e == ECONNREFUSED;
}

/* Binds fd to u's name; the socket file gets the owner and mode it had. */
static int bind_name(int fd, const struct unix_plan *u, const char *obj)
{
	struct sockaddr_un a;
	socklen_t al = addr_of(u->name, u->namelen, &a);
	char path[109];
	const char *p = path_of(u->name, u->namelen, path);
	int r = bind(fd, (struct sockaddr *)&a, al);
	if (r < 0 && errno == EADDRINUSE && p) {
		if (stale(p)) /* a socket file nobody is bound to: ours from the checkpointed run */
			r = unlink(p) < 0 ? -1 : bind(fd, (struct sockaddr *)&a, al);
		else
			errno = EADDRINUSE;
	}
	if (r < 0)
		return proto_fail("files", obj, errno, "cannot bind the unix socket to %s%.*s%s", p ? p : "@",
				  p ? 0 : (int)u->namelen - 1, p ? "" : u->name + 1,
				  errno == EADDRINUSE ? ": the name is in use (a live socket, or a file that is not a socket)" : "");
	if (p && u->mode >= 0 && (chown(p, (uid_t)u->uid, (gid_t)u->gid) < 0 || chmod(p, (mode_t)u->mode) < 0))
		return proto_fail("files", p, errno, "cannot give the socket file its owner and mode");
	return 0;
}

/* fd connects to the listener (or a temporary one bound to name); returns the accepted fd. */
static int connect_via(struct unix_plan *u, int fd, struct unix_plan *acc, const char *obj)
{
	struct unix_plan *l = ux(u->listener);
	int lfd = l ? l->fd : -1;
	if (u->listener >= 0 && (!l || !l->listening))
		return proto_fail("files", obj, EINVAL, "the listener of a unix connection is not a listening socket");
	if (!l) {
		lfd = socket(AF_UNIX, acc->type | SOCK_CLOEXEC, 0);
		if (lfd < 0 || bind_name(lfd, acc, obj) < 0 || listen(lfd, 1) < 0)
			return proto_fail("files", obj, errno, "cannot make a temporary listener for a connection");
	}
	struct sockaddr_un a;
	socklen_t al = addr_of(acc->name, acc->namelen, &a);
	int r = connect(fd, (struct sockaddr *)&a, al) < 0 ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	int e = errno;
	if (!l) {
		char path[109];
		const char *p = path_of(acc->name, acc->namelen, path);
		close(lfd);
		if (p && acc->unlinked)
			unlink(p);
	}
	if (r < 0)
		return proto_fail("files", obj, e, "cannot connect the unix socket again");
	return r;
}

/* The peer writes what was queued at u (its send buffer is raised meanwhile). */
static int fill(int wfd, struct unix_plan *u, const char *obj)
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
		do {
			ssize_t n = send(wfd, u->msgs[i] + off, u->msglen[i] - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0)
				return proto_fail("files", obj, errno, "cannot queue %zu bytes at the unix socket again",
						  u->msglen[i]);
			off += (size_t)n;
		} while (off < u->msglen[i]);
	}
	orig /= 2;
	setsockopt(wfd, SOL_SOCKET, SO_SNDBUFFORCE, &orig, sizeof orig);
	return 0;
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
	    fcntl(u->fd, F_SETFL, f->flags & ~O_ASYNC) < 0)
		return proto_fail("files", obj, errno, "cannot set the state of the unix socket");
	return 0;
}

int open_unix_sockets(void)
{
	char obj[48];
	/* sockets, pairs */
	for (int i = 0; i < plan.nfiles; i++) {
		struct file_plan *f = &plan.files[i];
		struct unix_plan *u = f->ux, *p;
		snprintf(obj, sizeof obj, "file %d (unix socket)", f->id);
		if (f->kind != FILE_UNIX || u->fd >= 0 || u->conn == UNIX_ACCEPTED)
			continue;
		p = ux(u->peer);
		if (u->peer >= 0 && (!p || p->type != u->type))
			return proto_fail("files", obj, EINVAL, "the peer of a unix socket is not a unix socket of its type");
		if (u->conn == UNIX_PAIR) {
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
	/* names, listeners */
	for (int i = 0; i < plan.nfiles; i++) {
		struct unix_plan *u = plan.files[i].ux;
		snprintf(obj, sizeof obj, "file %d (unix socket)", plan.files[i].id);
		if (plan.files[i].kind != FILE_UNIX || u->conn == UNIX_ACCEPTED)
			continue;
		if (u->namelen && bind_name(u->fd, u, obj) < 0)
			return -1;
		if (u->listening && listen(u->fd, u->backlog) < 0)
			return proto_fail("files", obj, errno, "cannot listen on the unix socket");
	}
	/* connections */
	for (int i = 0; i < plan.nfiles; i++) {
		struct file_plan *f = &plan.files[i];
		struct unix_plan *u = f->ux, *p;
		snprintf(obj, sizeof obj, "file %d (unix socket)", f->id);
		if (f->kind != FILE_UNIX)
			continue;
		p = ux(u->peer);
		if (u->conn == UNIX_CLIENT) {
			if (!p || p->conn != UNIX_ACCEPTED || p->peer != f->id)
				return proto_fail("files", obj, EINVAL, "a unix client without its accepted end");
			if ((p->fd = connect_via(u, u->fd, p, obj)) < 0)
				return -1;
		} else if (u->conn == UNIX_ACCEPTED && u->peer < 0) { /* the client is gone */
			int c = socket(AF_UNIX, u->type | SOCK_CLOEXEC, 0);
			if (c < 0 || (u->fd = connect_via(u, c, u, obj)) < 0)
				return c < 0 ? proto_fail("files", obj, errno, "cannot create a unix socket") : -1;
			u->tmp = c;
		} else if (u->conn == UNIX_DGRAM) {
			struct sockaddr_un a;
			if (!p || !p->namelen)
				return proto_fail("files", obj, EINVAL, "a datagram socket connected to an unnamed socket");
			socklen_t al = addr_of(p->name, p->namelen, &a);
			if (connect(u->fd, (struct sockaddr *)&a, al) < 0)
				return proto_fail("files", obj, errno, "cannot connect the datagram socket again");
		}
	}
	/* queues, written by the peer */
	for (int i = 0; i < plan.nfiles; i++) {
		struct unix_plan *u = plan.files[i].ux;
		snprintf(obj, sizeof obj, "file %d (unix socket)", plan.files[i].id);
		if (plan.files[i].kind != FILE_UNIX || !u->nmsgs)
			continue;
		int w = u->peer >= 0 && ux(u->peer) ? ux(u->peer)->fd : u->tmp;
		if (w < 0)
			return proto_fail("files", obj, EINVAL, "data queued at a unix socket that has no peer");
		if (fill(w, u, obj) < 0)
			return -1;
	}
	/* temporary peers closed, state, unlinked names, then every socket at a high fd */
	for (int i = 0; i < plan.nfiles; i++) {
		struct file_plan *f = &plan.files[i];
		snprintf(obj, sizeof obj, "file %d (unix socket)", f->id);
		if (f->kind == FILE_UNIX && finish(f, f->ux, obj) < 0)
			return -1;
	}
	for (int i = 0; i < plan.nfiles; i++) {
		struct file_plan *f = &plan.files[i];
		if (f->kind != FILE_UNIX)
			continue;
		struct unix_plan *u = f->ux;
		char path[109];
		const char *p = path_of(u->name, u->namelen, path);
		if (p && u->unlinked && u->conn != UNIX_ACCEPTED)
			unlink(p);
		f->hfd = fcntl(u->fd, F_DUPFD_CLOEXEC, ctx.base);
		close(u->fd);
		if (f->hfd < 0)
			return proto_fail("files", "unix socket", errno, "cannot place the socket");
	}
	return 0;
}
