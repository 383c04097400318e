/*
 * dgram.h - unix datagram socket names and checks for the test cases (unixself.c): a name
 * with its length as the kernel gives it, sockets bound in the directory of the result file,
 * and checks that record the first failure with case_fail().
 */
#ifndef UCR_TEST_DGRAM_H
#define UCR_TEST_DGRAM_H

#include "case.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* the directory of FILE, where names are bound (set by the case) */
static char dir[PATH_MAX];

struct name {
	struct sockaddr_un a;
	socklen_t len;
};

/* the name of path p (any path: one outside the tree too) */
CASE_FN struct name path_at(const char *p)
{
	struct name n;
	memset(&n, 0, sizeof n);
	n.a.sun_family = AF_UNIX;
	if (strlen(p) >= sizeof n.a.sun_path)
		case_setup_fail("%s: path too long for a unix socket", p);
	strcpy(n.a.sun_path, p);
	n.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p) + 1);
	return n;
}

/* the name of file in dir */
CASE_FN struct name path_name(const char *file)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	return path_at(p);
}

CASE_FN int dgram(void)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0)
		case_setup_fail("socket: %s", strerror(errno));
	return s;
}

CASE_FN int bound(const char *file, struct name *n)
{
	int s = dgram();
	*n = path_name(file);
	unlink(n->a.sun_path);
	if (bind(s, (struct sockaddr *)&n->a, n->len) < 0)
		case_setup_fail("bind %s: %s", file, strerror(errno));
	return s;
}

CASE_FN struct name name_of(int s)
{
	struct name n;
	memset(&n, 0, sizeof n);
	n.len = sizeof n.a;
	if (getsockname(s, (struct sockaddr *)&n.a, &n.len) < 0)
		case_setup_fail("getsockname: %s", strerror(errno));
	return n;
}

CASE_FN void join(int s, const struct name *n, const char *what)
{
	if (connect(s, (const struct sockaddr *)&n->a, n->len) < 0)
		case_setup_fail("connect %s: %s", what, strerror(errno));
}

CASE_FN void say(int s, const char *msg)
{
	if (send(s, msg, strlen(msg), 0) != (ssize_t)strlen(msg))
		case_setup_fail("send \"%s\": %s", msg, strerror(errno));
}

CASE_FN void to(int s, const struct name *n, const char *msg)
{
	if (sendto(s, msg, strlen(msg), 0, (const struct sockaddr *)&n->a, n->len) != (ssize_t)strlen(msg))
		case_setup_fail("sendto \"%s\": %s", msg, strerror(errno));
}

CASE_FN const char *show(const struct name *n, char *buf, size_t len)
{
	size_t pl = n->len > offsetof(struct sockaddr_un, sun_path) ? n->len - offsetof(struct sockaddr_un, sun_path) : 0;
	if (!pl)
		snprintf(buf, len, "(unnamed)");
	else if (!n->a.sun_path[0])
		snprintf(buf, len, "@%.*s", (int)pl - 1, n->a.sun_path + 1);
	else
		snprintf(buf, len, "%s", n->a.sun_path);
	return buf;
}

CASE_FN int same(const struct name *x, const struct name *y)
{
	return x->len == y->len && (x->len <= offsetof(struct sockaddr_un, sun_path) || !memcmp(x->a.sun_path, y->a.sun_path, x->len - offsetof(struct sockaddr_un, sun_path)));
}

/* getsockname of an unnamed socket; the sender address recvfrom gives for one */
static const struct name unnamed = { .a = { .sun_family = AF_UNIX }, .len = sizeof(sa_family_t) };
static const struct name nosender = { .len = 0 };

/* The next datagram at s is msg from the sender named `from`. */
CASE_FN void expect(int s, const char *what, const char *msg, const struct name *from)
{
	char buf[64], x[128], y[128];
	struct name got;
	memset(&got, 0, sizeof got);
	got.len = sizeof got.a;
	if (case_wait_readable(s, 5000) != 1) {
		case_fail("%s: no datagram \"%s\" queued", what, msg);
		return;
	}
	ssize_t n = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&got.a, &got.len);
	if (n != (ssize_t)strlen(msg) || memcmp(buf, msg, (size_t)n))
		case_fail("%s: got %zd bytes \"%.*s\" (%s), expected \"%s\"", what, n, n > 0 ? (int)n : 0, buf, n < 0 ? case_errname(errno) : "", msg);
	else if (!same(&got, from))
		case_fail("%s: \"%s\" came from %s, expected %s", what, msg, show(&got, x, sizeof x), show(from, y, sizeof y));
}

CASE_FN void expect_empty(int s, const char *what)
{
	char b[8];
	if (recv(s, b, sizeof b, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		case_fail("%s: more datagrams queued than expected (%s)", what, case_errname(errno));
}

/* s is bound to `me` and connected to `peer`. */
CASE_FN void expect_names(int s, const char *what, const struct name *me, const struct name *peer)
{
	char x[128], y[128];
	struct name n;
	memset(&n, 0, sizeof n);
	n.len = sizeof n.a;
	if (getsockname(s, (struct sockaddr *)&n.a, &n.len) < 0 || !same(&n, me))
		case_fail("%s: getsockname gave %s, expected %s", what, show(&n, x, sizeof x), show(me, y, sizeof y));
	memset(&n, 0, sizeof n);
	n.len = sizeof n.a;
	if (getpeername(s, (struct sockaddr *)&n.a, &n.len) < 0 || !same(&n, peer))
		case_fail("%s: getpeername gave %s (%s), expected %s", what, show(&n, x, sizeof x), case_errname(errno), show(peer, y, sizeof y));
}

CASE_FN void expect_send_err(int s, const char *what, int err)
{
	if (send(s, "x", 1, MSG_DONTWAIT) != -1 || errno != err)
		case_fail("%s: send gave %s, expected %s", what, case_errname(errno), case_errname(err));
}

/* A socket connected to itself: it sends to itself, nobody else reaches it or connects to it
 * (EPERM; ENOENT when its path was unlinked). */
CASE_FN void expect_self_err(int s, const char *what, const struct name *me, int err)
{
	expect_names(s, what, me, me);
	if (send(s, "again", 5, 0) != 5)
		case_fail("%s: cannot send to itself after restart: %s", what, case_errname(errno));
	expect(s, what, "again", me);
	int o = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sendto(o, "o", 1, MSG_DONTWAIT, (const struct sockaddr *)&me->a, me->len) != -1 || errno != err)
		case_fail("%s: another socket's sendto gave %s, expected %s", what, case_errname(errno), case_errname(err));
	if (connect(o, (const struct sockaddr *)&me->a, me->len) != -1 || errno != err)
		case_fail("%s: another socket's connect gave %s, expected %s", what, case_errname(errno), case_errname(err));
	close(o);
	expect_empty(s, what);
}

CASE_FN void expect_self(int s, const char *what, const struct name *me)
{
	expect_self_err(s, what, me, EPERM);
}

#endif
