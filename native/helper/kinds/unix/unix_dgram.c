/* Datagram unix sockets at restart (restore_unix.c calls these): datagrams that did not all
 * come from a socket's peer sent again by their own senders, and the datagram sockets of the
 * image connected to their peers in an order the kernel accepts. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "plan_parse.h"
#include "proto.h"
#include "restore.h"
#include "unix.h"

/* Temporary senders of datagrams, by name (closed, and paths they created removed, at the end). */
struct sender {
	char name[108];
	size_t len;
	int fd, made_path, task;
};

/* A datagram socket that can send as `name`: the plan's socket bound to it, else a temporary
 * one bound to it (a stale socket file at the path is replaced; with the credentials of task,
 * the receiver's holder) or unnamed. */
static int sender_for(struct restore_ctx *c, int task, const char *name, size_t len, struct sender **tmp, int *ntmp, const char *obj)
{
	for (int i = 0; len && i < c->plan->nfiles; i++) {
		struct unix_plan *v = c->plan->files[i].kind == FILE_UNIX ? c->plan->files[i].ux : NULL;
		if (v && v->type == SOCK_DGRAM && v->namelen == len && !memcmp(v->name, name, len) && v->fd >= 0)
			return v->fd;
	}
	for (int i = 0; i < *ntmp; i++)
		if ((*tmp)[i].len == len && !memcmp((*tmp)[i].name, name, len))
			return (*tmp)[i].fd;
	struct sender *t = realloc(*tmp, (size_t)(*ntmp + 1) * sizeof *t);
	if (!t)
		return proto_fail("files", obj, ENOMEM, "out of memory");
	*tmp = t;
	t += (*ntmp)++;
	memcpy(t->name, name, len);
	t->len = len;
	t->made_path = 0;
	t->task = task;
	t->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return proto_fail("files", obj, errno, "cannot create a unix socket");
	if (!len)
		return t->fd;
	char path[109];
	const char *p = unix_name_path(name, len, path);
	struct stat st;
	int existed = p && lstat(p, &st) == 0;
	struct sockaddr_un a;
	socklen_t al = unix_addr(name, len, &a);
	int r = fs_bind(task, t->fd, &a, al);
	if (r < 0 && errno == EADDRINUSE && p && fs_stale(task, p) == 1)
		r = fs_unlink(task, p) < 0 ? -1 : fs_bind(task, t->fd, &a, al);
	if (r < 0)
		return proto_fail("files", obj, errno, "cannot send a queued datagram again as %s%.*s%s", p ? p : "@",
				  p ? 0 : (int)len - 1, p ? "" : name + 1,
				  errno == EADDRINUSE ? ": the name is held by a socket outside the image" : "");
	t->made_path = p && !existed;
	return t->fd;
}

/* Datagrams that did not all come from the socket's peer: each sent again by its own sender to
 * the socket's name, in order, before any datagram socket connects. */
int unix_send_by_senders(struct restore_ctx *c)
{
	struct sender *tmp = NULL;
	int ntmp = 0, err = 0;
	char obj[48];
	for (int i = 0; i < c->plan->nfiles && !err; i++) {
		struct unix_plan *u = c->plan->files[i].kind == FILE_UNIX ? c->plan->files[i].ux : NULL;
		if (!u || !u->from)
			continue;
		unix_obj(obj, c->plan->files[i].id);
		struct sockaddr_un a;
		socklen_t al = unix_dest(u, &a);
		for (int m = 0; m < u->nmsgs && !err; m++) {
			int s = sender_for(c, u->task, u->from[m], u->fromlen[m], &tmp, &ntmp, obj);
			int big = (int)(u->msglen[m] + (1 << 20));
			if (s < 0 || setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0 ||
			    sendto(s, u->msgs[m], u->msglen[m], MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&a, al) != (ssize_t)u->msglen[m])
				err = s < 0 ? -1 : proto_fail("files", obj, errno, "cannot queue a datagram of %zu bytes at the unix socket again", u->msglen[m]);
		}
	}
	for (int i = 0; i < ntmp; i++) {
		char path[109];
		const char *p = unix_name_path(tmp[i].name, tmp[i].len, path);
		close(tmp[i].fd);
		if (p && tmp[i].made_path)
			fs_unlink(tmp[i].task, p);
	}
	free(tmp);
	return err;
}

/* Datagram sockets connected to a named socket outside the image connect to it again
 * (--external-unix=reconnect), after the sockets of the image that connect to them. */
static int connect_outside(struct restore_ctx *c)
{
	char obj[48];
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		struct unix_plan *u = f->ux;
		if (f->kind != FILE_UNIX || u->conn != UNIX_DGRAM || u->peer >= 0)
			continue;
		unix_obj(obj, f->id);
		struct sockaddr_un a;
		socklen_t al = unix_addr(u->ext, u->extlen, &a);
		if (!u->extlen || fs_connect(f->task, u->fd, &a, al) < 0)
			return proto_fail("files", obj, u->extlen ? errno : EINVAL, "cannot connect the datagram socket again to %s%.*s outside the image%s",
					  u->ext[0] ? "" : "@", (int)(u->ext[0] ? u->extlen : u->extlen - 1), u->ext + !u->ext[0], fs_who(f->task));
	}
	return 0;
}

/* Whether datagram socket x must connect before its peer p does (unix_connect_dgrams): unless
 * they are connected to each other, or x is p. */
static int connects_first(const struct file_plan *x, const struct file_plan *p)
{
	return p != x && p->ux->peer != x->id;
}

/* The datagram sockets of the image connect to their peers. The kernel lets X connect to P only
 * while P is connected to nobody, to X, or (P == X) to itself, and a socket connected to a
 * socket that has connected elsewhere since (or to itself) stays so (its sends fail with
 * EPERM): so X connects before P does, unless they are connected to each other or X is P (a
 * socket bound and connected to its own name). wait[i]: sockets that must connect before file
 * i does. A chain that never ends (a cycle of three or more, which the kernel cannot make) is
 * refused. */
int unix_connect_dgrams(struct restore_ctx *c)
{
	int n = c->plan->nfiles, todo = 0, err = 0;
	int *wait = calloc((size_t)n + 1, sizeof *wait), *peer = calloc((size_t)n + 1, sizeof *peer);
	char obj[48];
	if (!wait || !peer) {
		free(wait);
		free(peer);
		return proto_fail("files", "unix sockets", ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		struct file_plan *f = &c->plan->files[i];
		peer[i] = f->kind == FILE_UNIX && f->ux->conn == UNIX_DGRAM && f->ux->peer >= 0 ? plan_find_file(c->plan, f->ux->peer) : -1;
		if (peer[i] < 0)
			continue;
		/* a unix socket of its type, itself only if a named datagram socket: checked once, by
		 * open_unix_sockets (its first loop) */
		struct file_plan *p = &c->plan->files[peer[i]];
		if (!p->ux->namelen) {
			unix_obj(obj, f->id);
			err = proto_fail("files", obj, EINVAL, "a datagram socket connected to an unnamed socket");
			break;
		}
		todo++;
		if (connects_first(f, p))
			wait[peer[i]]++;
	}
	while (!err && todo) {
		int done = 0;
		for (int i = 0; i < n && !err; i++) {
			if (peer[i] < 0 || wait[i])
				continue;
			struct file_plan *f = &c->plan->files[i], *p = &c->plan->files[peer[i]];
			unix_obj(obj, f->id);
			if (unix_connect(f->task, f->ux->fd, p->ux) < 0)
				err = proto_fail("files", obj, errno, "cannot connect the datagram socket again%s", fs_who(f->task));
			if (connects_first(f, p))
				wait[peer[i]]--;
			peer[i] = -1;
			todo--, done++;
		}
		if (!err && !done)
			err = proto_fail("files", "unix sockets", EINVAL, "datagram sockets connected in a cycle of three or more");
	}
	free(wait);
	free(peer);
	return err < 0 ? err : connect_outside(c);
}

static int cmp_id(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* The file ids datagram sockets of the plan connect to (their own excepted), sorted into *to:
 * how many, or -1 (out of memory). */
static int dgram_targets(const struct restore_ctx *c, int **to)
{
	int n = 0;
	if (!(*to = malloc(((size_t)c->plan->nfiles + 1) * sizeof **to)))
		return -1;
	for (int i = 0; i < c->plan->nfiles; i++) {
		const struct file_plan *f = &c->plan->files[i];
		if (f->kind == FILE_UNIX && f->ux->conn == UNIX_DGRAM && f->ux->peer >= 0 && f->ux->peer != f->id)
			(*to)[n++] = f->ux->peer;
	}
	qsort(*to, (size_t)n, sizeof **to, cmp_id);
	return n;
}

int unix_pick_alone(struct restore_ctx *c)
{
	int *to = NULL, nto = -1;
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		struct unix_plan *u = f->kind == FILE_UNIX ? f->ux : NULL;
		if (!u || u->conn != UNIX_PAIR || u->peer >= 0 || u->type != SOCK_DGRAM || !u->namelen)
			continue;
		/* the ids others connect to: listed once, when the first socket without senders asks
		 * (most restarts have none) */
		if (!u->from && nto < 0 && (nto = dgram_targets(c, &to)) < 0)
			return proto_fail("files", "unix sockets", ENOMEM, "out of memory");
		u->alone = u->from || bsearch(&f->id, to, (size_t)nto, sizeof *to, cmp_id);
	}
	free(to);
	return 0;
}

/* A named datagram socket whose peer was gone at checkpoint is connected to a socket that is
 * closed once its queue is written (finish), so its first send fails with ECONNREFUSED. Most are
 * one end of a socket pair; one that other sockets of the image connect to, or whose datagrams
 * their senders sent again, was made alone (they could not connect to, or send to, a socket
 * connected elsewhere): it connects now, once they have, to a
 * temporary socket the kernel binds to an abstract name of its choosing (autobind: a datagram
 * socket connects only to a name), which getpeername then shows. */
int unix_gone_peers(struct restore_ctx *c)
{
	char obj[48];
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		struct unix_plan *u = f->ux;
		if (f->kind != FILE_UNIX || !u->alone)
			continue;
		unix_obj(obj, f->id);
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		socklen_t al = sizeof(sa_family_t);
		int t = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (t < 0 || bind(t, (struct sockaddr *)&a, al) < 0 || (al = sizeof a, getsockname(t, (struct sockaddr *)&a, &al)) < 0 ||
		    connect(u->fd, (struct sockaddr *)&a, al) < 0) {
			int e = errno;
			if (t >= 0)
				close(t);
			return proto_fail("files", obj, e, "cannot give the datagram socket a temporary peer");
		}
		u->tmp = t;
	}
	return 0;
}
