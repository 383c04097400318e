// build: gcc -O2 -g -Wall -Wextra -o unixsock unixsock.c
/*
 * unixsock.c - unix domain sockets keep their connections, names, queues and flags.
 *
 *   unixsock --out FILE                 the full case (below)
 *   unixsock --out FILE --connect PATH  only a stream socket connected to PATH (a peer outside
 *                                       the tree); after SIGTERM: expects EOF on it and EPIPE
 *   unixsock --out FILE --dgram-bind PATH  a datagram socket bound to PATH (the outside peer of
 *                                       --dgram-to); after SIGTERM: expects the datagram "after"
 *   unixsock --out FILE --dgram-to PATH a datagram socket connected to PATH (outside the tree);
 *                                       after SIGTERM (restored with --external-unix=reconnect):
 *                                       still connected to PATH, sends "after" to it
 *   unixsock --out FILE --expect-closed a socket pair and a listener; after SIGTERM: expects
 *                                       those fds to be closed (checkpoint --skip sockets)
 *
 * Full case, set up before ready:
 *  - a stream socketpair shared with a child: each end has bytes queued by the other; the child
 *    waits on a pipe; after restart it reads its queued bytes, then echoes one request;
 *  - a datagram socketpair: two messages of different lengths queued at one end (non-blocking),
 *    one at the other; SO_SNDBUF set on one end;
 *  - a seqpacket socketpair with two queued messages;
 *  - a named listening socket (backlog 7, its file 0660 and owned by 65534) with one accepted connection, bytes queued both ways,
 *    the client non-blocking; an abstract-named datagram socket; a datagram socket whose path
 *    was unlinked after bind;
 *  - a stream pair shut down for writing on one side; a stream socket whose peer closed after
 *    queueing bytes.
 * After SIGTERM each is checked (names, boundaries, flags, EOF, a new connection is accepted).
 */
#include "case.h"

#include <libgen.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t addr(struct sockaddr_un *a, const char *path, int abstract)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (abstract) {
		strncpy(a->sun_path + 1, path, sizeof a->sun_path - 2);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
	}
	strncpy(a->sun_path, path, sizeof a->sun_path - 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static void expect_read(int fd, const char *want, const char *what)
{
	char buf[256];
	size_t len = strlen(want), got = 0;
	while (got < len) {
		if (case_wait_readable(fd, 5000) != 1) {
			case_fail("%s: nothing to read after %zu bytes", what, got);
			return;
		}
		ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0) {
			case_fail("%s: read %zd after %zu bytes (%s)", what, n, got, n < 0 ? case_errname(errno) : "EOF");
			return;
		}
		got += (size_t)n;
	}
	if (memcmp(buf, want, len))
		case_fail("%s: read \"%.*s\", expected \"%s\"", what, (int)len, buf, want);
}

static void expect_msg(int fd, const char *want, const char *what)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	if (n != (ssize_t)strlen(want) || memcmp(buf, want, (size_t)n))
		case_fail("%s: got %zd bytes \"%.*s\" (%s), expected the %zu-byte message \"%s\"", what, n,
			  n > 0 ? (int)n : 0, buf, n < 0 ? case_errname(errno) : "", strlen(want), want);
}

static void expect_name(int fd, const char *want, int abstract, const char *what)
{
	struct sockaddr_un a, w;
	socklen_t l = sizeof a, wl = addr(&w, want, abstract);
	if (getsockname(fd, (struct sockaddr *)&a, &l) < 0 || l != wl || memcmp(&a, &w, l))
		case_fail("%s: getsockname gives %d bytes \"%s\", expected %s%s", what, (int)l, a.sun_path[0] ? a.sun_path : a.sun_path + 1,
			  abstract ? "@" : "", want);
}

static void send_str(int fd, const char *s)
{
	if (send(fd, s, strlen(s), 0) != (ssize_t)strlen(s))
		case_setup_fail("send \"%s\": %s", s, strerror(errno));
}

static int child_main(int sock, int go)
{
	char c;
	if (read(go, &c, 1) != 1)
		return 10;
	char buf[64];
	if (recv(sock, buf, 9, MSG_WAITALL) != 9 || memcmp(buf, "to-child!", 9))
		return 11;
	if (recv(sock, buf, 4, MSG_WAITALL) != 4 || memcmp(buf, "ping", 4))
		return 12;
	if (send(sock, "pong", 4, 0) != 4)
		return 13;
	return 0;
}

static int mode_connect(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a;
	socklen_t al = addr(&a, path, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, al) < 0)
		case_setup_fail("connect %s: %s", path, strerror(errno));
	case_ready();
	case_wait_term();
	char buf[16];
	ssize_t n = read(s, buf, sizeof buf);
	if (n != 0)
		case_fail("read from the socket whose outside peer was closed gave %zd (%s), expected EOF", n, n < 0 ? case_errname(errno) : "data");
	signal(SIGPIPE, SIG_IGN);
	if (send(s, "x", 1, 0) != -1 || errno != EPIPE)
		case_fail("send to a closed peer did not fail with EPIPE (%s)", case_errname(errno));
	case_finish();
}

static int mode_dgram(const char *path, int bind_it)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a, peer;
	socklen_t al = addr(&a, path, 0), pl = sizeof peer;
	if (s < 0 || (bind_it ? bind(s, (struct sockaddr *)&a, al) : connect(s, (struct sockaddr *)&a, al)) < 0)
		case_setup_fail("%s %s: %s", bind_it ? "bind" : "connect", path, strerror(errno));
	case_ready();
	case_wait_term();
	char buf[16] = "";
	struct pollfd pf = { s, POLLIN, 0 };
	if (bind_it && (poll(&pf, 1, 10000) != 1 || recv(s, buf, sizeof buf - 1, MSG_DONTWAIT) != 5 || strcmp(buf, "after")))
		case_fail("the datagram \"after\" did not arrive (%s)", buf[0] ? buf : case_errname(errno));
	if (!bind_it && (getpeername(s, (struct sockaddr *)&peer, &pl) < 0 || strcmp(peer.sun_path, path)))
		case_fail("not connected to %s any more (%s)", path, case_errname(errno));
	if (!bind_it && send(s, "after", 5, 0) != 5)
		case_fail("send to the outside peer %s: %s", path, case_errname(errno));
	case_finish();
}

static int mode_closed(void)
{
	int sp[2], l = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 || l < 0)
		case_setup_fail("sockets: %s", strerror(errno));
	case_ready();
	case_wait_term();
	int fds[3] = { sp[0], sp[1], l };
	for (int i = 0; i < 3; i++)
		if (fcntl(fds[i], F_GETFD) != -1 || errno != EBADF)
			case_fail("fd %d (a skipped socket) is open after restart", fds[i]);
	case_finish();
}

static int mode_refuse(const char *what)
{
	(void)what;
	{ /* a connection waiting in the accept queue, with data sent on it */
		int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un a;
		socklen_t al = addr(&a, "ucr-unixsock-pending", 1);
		if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, al) < 0 || listen(l, 2) < 0 || connect(c, (struct sockaddr *)&a, al) < 0 ||
		    send(c, "x", 1, 0) != 1)
			case_setup_fail("pending connection: %s", strerror(errno));
	}
	case_ready();
	case_wait_term();
	case_finish();
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	if (case_arg(argc, argv, "--connect"))
		return mode_connect(case_arg(argc, argv, "--connect"));
	if (case_arg(argc, argv, "--dgram-to") || case_arg(argc, argv, "--dgram-bind"))
		return mode_dgram(case_arg(argc, argv, "--dgram-to") ? case_arg(argc, argv, "--dgram-to") : case_arg(argc, argv, "--dgram-bind"), !case_arg(argc, argv, "--dgram-to"));
	if (case_arg(argc, argv, "--refuse"))
		return mode_refuse(case_arg(argc, argv, "--refuse"));
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--expect-closed"))
			return mode_closed();
	char dir[PATH_MAX], lpath[PATH_MAX], gpath[PATH_MAX], abst[64];
	strcpy(dir, case_out);
	snprintf(lpath, sizeof lpath, "%s/listen.sock", dirname(dir));
	snprintf(gpath, sizeof gpath, "%s/gone.sock", dir);
	snprintf(abst, sizeof abst, "ucr-unixsock-%d", (int)getpid());

	/* stream pair with a child */
	int sp[2], go[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0 || pipe(go) < 0)
		case_setup_fail("socketpair: %s", strerror(errno));
	pid_t child = fork();
	if (child == 0) {
		close(sp[0]);
		close(go[1]);
		_exit(child_main(sp[1], go[0]));
	}
	close(sp[1]);
	close(go[0]);
	send_str(sp[0], "to-child!");

	/* datagram pair */
	int dp[2];
	int sndbuf = 65536;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dp) < 0 || setsockopt(dp[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0)
		case_setup_fail("dgram socketpair: %s", strerror(errno));
	send_str(dp[1], "first message");
	send_str(dp[1], "2nd");
	send_str(dp[0], "back");
	fcntl(dp[0], F_SETFL, O_NONBLOCK);

	/* seqpacket pair */
	int qp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, qp) < 0)
		case_setup_fail("seqpacket socketpair: %s", strerror(errno));
	send_str(qp[0], "packet one");
	send_str(qp[0], "p2");

	/* named listener, an accepted connection */
	struct sockaddr_un a;
	socklen_t al = addr(&a, lpath, 0);
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, al) < 0 || listen(l, 7) < 0 || connect(c, (struct sockaddr *)&a, al) < 0)
		case_setup_fail("listener %s: %s", lpath, strerror(errno));
	if (chown(lpath, 65534, 65534) < 0 || chmod(lpath, 0660) < 0)
		case_setup_fail("chown/chmod %s: %s", lpath, strerror(errno));
	int acc = accept(l, NULL, NULL);
	if (acc < 0)
		case_setup_fail("accept: %s", strerror(errno));
	send_str(c, "client->server");
	send_str(acc, "server->client");
	fcntl(c, F_SETFL, O_NONBLOCK);

	/* abstract datagram socket, a datagram socket whose path was unlinked */
	int ab = socket(AF_UNIX, SOCK_DGRAM, 0), gs = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un b, g;
	socklen_t bl = addr(&b, abst, 1), gl = addr(&g, gpath, 0);
	if (ab < 0 || gs < 0 || bind(ab, (struct sockaddr *)&b, bl) < 0 || bind(gs, (struct sockaddr *)&g, gl) < 0 || unlink(gpath) < 0)
		case_setup_fail("named datagram sockets: %s", strerror(errno));

	/* shut down for writing; peer closed with bytes queued */
	int sh[2], pc[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sh) < 0 || shutdown(sh[0], SHUT_WR) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pc) < 0)
		case_setup_fail("socketpair: %s", strerror(errno));
	send_str(pc[1], "last words");
	close(pc[1]);

	case_ready();
	case_wait_term();
	signal(SIGPIPE, SIG_IGN);

	/* stream pair with the child: its queued bytes, then an echo */
	if (write(go[1], "g", 1) != 1)
		case_fail("cannot wake the child: %s", strerror(errno));
	send_str(sp[0], "ping");
	expect_read(sp[0], "pong", "stream socketpair echo from the child");
	int st = 0;
	if (case_reap(child, 5000, &st) != 1) {
		case_fail("the child did not finish");
		kill(child, SIGKILL);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st))
		case_fail("the child failed (status 0x%x: 10 pipe, 11 queued bytes, 12 request, 13 reply)", st);

	/* datagram boundaries */
	expect_msg(dp[0], "first message", "first queued datagram");
	expect_msg(dp[0], "2nd", "second queued datagram");
	char buf[64];
	if (recv(dp[0], buf, sizeof buf, 0) != -1 || errno != EAGAIN)
		case_fail("datagram socket not empty after two messages, or not non-blocking");
	expect_msg(dp[1], "back", "datagram queued the other way");
	int got = 0;
	socklen_t gotl = sizeof got;
	if (getsockopt(dp[1], SOL_SOCKET, SO_SNDBUF, &got, &gotl) < 0 || got != 2 * sndbuf)
		case_fail("SO_SNDBUF is %d, expected %d", got, 2 * sndbuf);
	send_str(dp[0], "after");
	expect_msg(dp[1], "after", "a datagram sent after restart");
	expect_msg(qp[1], "packet one", "first queued seqpacket message");
	expect_msg(qp[1], "p2", "second queued seqpacket message");

	/* the named listener and its connection */
	expect_name(l, lpath, 0, "listener");
	struct stat lst;
	if (stat(lpath, &lst) < 0 || !S_ISSOCK(lst.st_mode) || (lst.st_mode & 07777) != 0660 || lst.st_uid != 65534 || lst.st_gid != 65534)
		case_fail("%s: mode 0%o owner %d:%d, expected a socket 0660 65534:65534", lpath, lst.st_mode, (int)lst.st_uid, (int)lst.st_gid);
	expect_name(acc, lpath, 0, "accepted socket");
	int on = 0;
	socklen_t onl = sizeof on;
	if (getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &on, &onl) < 0 || !on)
		case_fail("the listener is not listening");
	if (!(fcntl(c, F_GETFL) & O_NONBLOCK) || (fcntl(acc, F_GETFL) & O_NONBLOCK))
		case_fail("O_NONBLOCK of the connected sockets changed");
	expect_read(acc, "client->server", "bytes queued at the accepted socket");
	expect_read(c, "server->client", "bytes queued at the client");
	send_str(c, "again");
	expect_read(acc, "again", "bytes sent after restart");
	int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c2 < 0 || connect(c2, (struct sockaddr *)&a, al) < 0 || accept(l, NULL, NULL) < 0)
		case_fail("a new connection to the restored listener failed: %s", strerror(errno));

	expect_name(ab, abst, 1, "abstract datagram socket");
	expect_name(gs, gpath, 0, "datagram socket bound to an unlinked path");
	if (access(gpath, F_OK) == 0)
		case_fail("%s exists again after restart", gpath);

	/* shutdown, closed peer */
	if (recv(sh[1], buf, sizeof buf, MSG_DONTWAIT) != 0)
		case_fail("the peer of a socket shut down for writing does not read EOF");
	if (send(sh[0], "x", 1, 0) != -1 || errno != EPIPE)
		case_fail("a socket shut down for writing can write (%s)", case_errname(errno));
	expect_read(pc[0], "last words", "bytes queued by a peer that closed");
	if (recv(pc[0], buf, sizeof buf, MSG_DONTWAIT) != 0)
		case_fail("no EOF after the bytes of a closed peer");
	case_finish();
}
