// build: gcc -O2 -g -Wall -Wextra -o unixdgram unixdgram.c
/*
 * unixdgram.c - unix datagram sockets beyond socketpairs: queued datagrams keep their senders.
 *
 *   unixdgram --out FILE
 *
 * Set up before ready (paths in the directory of FILE):
 *  - R, bound to r.sock and connected to nobody, has six datagrams queued, in this order:
 *    "one" from an unnamed unconnected socket S1, "two" from S2 (bound to an abstract name,
 *    unconnected), "three" from S3 (bound to s3.sock, connected to R), "four" from S4 (unnamed,
 *    connected to R), "five" from S1 again, "six" from S5 (bound to s5.sock, closed since);
 *  - R2, bound to r2.sock, got "eight" from an unnamed socket, then connected to S2;
 *  - P is connected to Q (bound to q.sock), and Q was closed since;
 *  - U is bound to u.sock, whose path was unlinked since; V is connected to U and queued
 *    "seven" there.
 * After SIGTERM: every datagram is received in order with its sender's address; S3 and S4
 * still reach R by send() (several sockets connected to one bound socket), R2 still reaches
 * S2, V still reaches U (whose path stays gone), and P's send fails with ECONNREFUSED, then
 * ENOTCONN, as on the original.
 */
#include "case.h"

#include <libgen.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static char dir[PATH_MAX];

static socklen_t addr(struct sockaddr_un *a, const char *name, int abstract)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (abstract) {
		snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "%s", name);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	}
	if (strlen(dir) + strlen(name) + 2 > sizeof a->sun_path)
		case_setup_fail("%s/%s: path too long for a unix socket", dir, name);
	strcpy(a->sun_path, dir);
	strcat(a->sun_path, "/");
	strcat(a->sun_path, name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static int dgram(void)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0)
		case_setup_fail("socket: %s", strerror(errno));
	return s;
}

static int bound(const char *name, int abstract)
{
	int s = dgram();
	struct sockaddr_un a;
	socklen_t al = addr(&a, name, abstract);
	if (!abstract)
		unlink(a.sun_path);
	if (bind(s, (struct sockaddr *)&a, al) < 0)
		case_setup_fail("bind %s: %s", name, strerror(errno));
	return s;
}

static void to(int s, const char *name, const char *msg)
{
	struct sockaddr_un a;
	socklen_t al = addr(&a, name, 0);
	if (sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, al) != (ssize_t)strlen(msg))
		case_setup_fail("sendto %s \"%s\": %s", name, msg, strerror(errno));
}

static void join(int s, const char *name, int abstract)
{
	struct sockaddr_un a;
	socklen_t al = addr(&a, name, abstract);
	if (connect(s, (struct sockaddr *)&a, al) < 0)
		case_setup_fail("connect %s: %s", name, strerror(errno));
}

static void say(int s, const char *msg)
{
	if (send(s, msg, strlen(msg), 0) != (ssize_t)strlen(msg))
		case_setup_fail("send \"%s\": %s", msg, strerror(errno));
}

/* The next datagram at s is msg from the sender named (name, abstract); name NULL: unnamed. */
static void expect(int s, const char *what, const char *msg, const char *name, int abstract)
{
	char buf[64];
	struct sockaddr_un from, want;
	socklen_t fl = sizeof from, wl = name ? addr(&want, name, abstract) : 0;
	memset(&from, 0, sizeof from);
	if (case_wait_readable(s, 5000) != 1) {
		case_fail("%s: no datagram \"%s\" queued", what, msg);
		return;
	}
	ssize_t n = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n != (ssize_t)strlen(msg) || memcmp(buf, msg, (size_t)n)) {
		case_fail("%s: got %zd bytes \"%.*s\" (%s), expected \"%s\"", what, n, n > 0 ? (int)n : 0, buf,
			  n < 0 ? case_errname(errno) : "", msg);
		return;
	}
	if (fl != wl || (name && memcmp(from.sun_path, want.sun_path, wl - offsetof(struct sockaddr_un, sun_path))))
		case_fail("%s: \"%s\" came from \"%s%s\" (%d bytes), expected \"%s%s\"", what, msg,
			  fl > offsetof(struct sockaddr_un, sun_path) && !from.sun_path[0] ? "@" : "",
			  from.sun_path[0] ? from.sun_path : from.sun_path + 1, (int)fl, name && abstract ? "@" : "",
			  name ? (abstract ? want.sun_path + 1 : want.sun_path) : "(unnamed)");
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	strcpy(dir, case_out);
	dirname(dir);
	char s2name[64];
	snprintf(s2name, sizeof s2name, "ucr-unixdgram-%d", (int)getpid());

	int r = bound("r.sock", 0);
	int s1 = dgram(), s2 = bound(s2name, 1), s3 = bound("s3.sock", 0), s4 = dgram(), s5 = bound("s5.sock", 0);
	join(s3, "r.sock", 0);
	join(s4, "r.sock", 0);
	to(s1, "r.sock", "one");
	struct sockaddr_un ra;
	socklen_t ral = addr(&ra, "r.sock", 0);
	if (sendto(s2, "two", 3, 0, (struct sockaddr *)&ra, ral) != 3)
		case_setup_fail("sendto two: %s", strerror(errno));
	say(s3, "three");
	say(s4, "four");
	to(s1, "r.sock", "five");
	to(s5, "r.sock", "six");
	close(s5);

	int r2 = bound("r2.sock", 0), s6 = dgram();
	to(s6, "r2.sock", "eight");
	close(s6);
	join(r2, s2name, 1);

	int q = bound("q.sock", 0), p = dgram();
	join(p, "q.sock", 0);
	close(q);

	int u = bound("u.sock", 0), v = dgram();
	join(v, "u.sock", 0);
	say(v, "seven");
	struct sockaddr_un ua;
	addr(&ua, "u.sock", 0);
	if (unlink(ua.sun_path) < 0)
		case_setup_fail("unlink u.sock: %s", strerror(errno));

	case_ready();
	case_wait_term();

	expect(r, "R", "one", NULL, 0);
	expect(r, "R", "two", s2name, 1);
	expect(r, "R", "three", "s3.sock", 0);
	expect(r, "R", "four", NULL, 0);
	expect(r, "R", "five", NULL, 0);
	expect(r, "R", "six", "s5.sock", 0);
	if (recv(r, (char[8]){0}, 8, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		case_fail("R: more than six datagrams were queued (%s)", case_errname(errno));
	if (send(s3, "again3", 6, 0) != 6 || send(s4, "again4", 6, 0) != 6)
		case_fail("S3/S4 connected to R cannot send: %s", case_errname(errno));
	expect(r, "R after restart", "again3", "s3.sock", 0);
	expect(r, "R after restart", "again4", NULL, 0);
	if (send(s1, "x", 1, 0) != -1 || errno != ENOTCONN)
		case_fail("S1 (never connected): send gave %s, expected ENOTCONN", case_errname(errno));

	expect(r2, "R2", "eight", NULL, 0);
	if (send(r2, "to-s2", 5, 0) != 5)
		case_fail("R2 connected to S2 cannot send: %s", case_errname(errno));
	expect(s2, "S2", "to-s2", "r2.sock", 0);

	expect(u, "U", "seven", NULL, 0);
	if (send(v, "more", 4, 0) != 4)
		case_fail("V connected to U (unlinked) cannot send: %s", case_errname(errno));
	expect(u, "U", "more", NULL, 0);
	struct stat st;
	if (stat(ua.sun_path, &st) == 0)
		case_fail("u.sock exists again after restart");

	if (send(p, "x", 1, 0) != -1 || errno != ECONNREFUSED)
		case_fail("P (its peer Q closed): first send gave %s, expected ECONNREFUSED", case_errname(errno));
	else if (send(p, "x", 1, 0) != -1 || errno != ENOTCONN)
		case_fail("P (its peer Q closed): second send gave %s, expected ENOTCONN", case_errname(errno));
	case_finish();
}
