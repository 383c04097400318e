// build: gcc -O2 -g -Wall -Wextra -o unixaccept unixaccept.c
/*
 * unixaccept.c - connections waiting in a unix listener's accept queue (never accepted) stay
 * there, in order.
 *
 *   unixaccept --out FILE
 *
 * Set up before ready: a stream listener bound to listen.sock (backlog 8) with three clients
 * connected and not accepted (C1, C2, C3, in that order; C2 non-blocking), one accepted
 * connection beside them; a seqpacket listener on an abstract name with one client waiting.
 * After SIGTERM: the listener is readable; accept() returns the connections in the order they
 * came (each one's peer is C1, C2, C3: a byte written on the accepted end reaches that client),
 * then EAGAIN; each client's bytes reach its accepted end; the accepted connection still works;
 * the seqpacket connection keeps message boundaries.
 */
#include "case.h"

#include <libgen.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static socklen_t addr(struct sockaddr_un *a, const char *dir, const char *name)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (!dir) {
		strncpy(a->sun_path + 1, name, sizeof a->sun_path - 2);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	}
	if (strlen(dir) + strlen(name) + 2 > sizeof a->sun_path)
		case_setup_fail("%s/%s: too long for a unix socket", dir, name);
	strcpy(a->sun_path, dir);
	strcat(a->sun_path, "/");
	strcat(a->sun_path, name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static int sock(int type)
{
	int s = socket(AF_UNIX, type, 0);
	if (s < 0)
		case_setup_fail("socket: %s", strerror(errno));
	return s;
}

/* The accepted end a and the client c are one connection, both ways. */
static void check_link(int a, int c, const char *what)
{
	char b = 0;
	if (send(a, "s", 1, MSG_DONTWAIT) != 1 || case_wait_readable(c, 3000) != 1 || recv(c, &b, 1, MSG_DONTWAIT) != 1 || b != 's') {
		case_fail("%s: a byte written on the accepted end did not reach the client (%s)", what, case_errname(errno));
		return;
	}
	if (send(c, "c", 1, MSG_DONTWAIT) != 1 || case_wait_readable(a, 3000) != 1 || recv(a, &b, 1, MSG_DONTWAIT) != 1 || b != 'c')
		case_fail("%s: a byte written by the client did not reach the accepted end (%s)", what, case_errname(errno));
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	char dir[PATH_MAX], abst[64];
	strcpy(dir, case_out);
	dirname(dir);
	snprintf(abst, sizeof abst, "ucr-unixaccept-%d", (int)getpid());

	struct sockaddr_un la, sa;
	socklen_t lal = addr(&la, dir, "listen.sock"), sal = addr(&sa, NULL, abst);
	unlink(la.sun_path);
	int l = sock(SOCK_STREAM), sl = sock(SOCK_SEQPACKET);
	if (bind(l, (struct sockaddr *)&la, lal) < 0 || listen(l, 8) < 0 || bind(sl, (struct sockaddr *)&sa, sal) < 0 ||
	    listen(sl, 2) < 0)
		case_setup_fail("listeners: %s", strerror(errno));
	int done = sock(SOCK_STREAM);
	if (connect(done, (struct sockaddr *)&la, lal) < 0)
		case_setup_fail("connect: %s", strerror(errno));
	int acc = accept(l, NULL, NULL);
	if (acc < 0)
		case_setup_fail("accept: %s", strerror(errno));
	int c[3];
	for (int i = 0; i < 3; i++) {
		c[i] = sock(SOCK_STREAM);
		if (connect(c[i], (struct sockaddr *)&la, lal) < 0)
			case_setup_fail("connect C%d: %s", i + 1, strerror(errno));
	}
	fcntl(c[1], F_SETFL, O_NONBLOCK);
	int sc = sock(SOCK_SEQPACKET);
	if (connect(sc, (struct sockaddr *)&sa, sal) < 0)
		case_setup_fail("connect seqpacket: %s", strerror(errno));

	case_ready();
	case_wait_term();

	struct pollfd pf = { l, POLLIN, 0 };
	if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLIN))
		case_fail("the listener with connections waiting is not readable");
	for (int i = 0; i < 3; i++) {
		char what[32];
		snprintf(what, sizeof what, "connection %d (C%d)", i + 1, i + 1);
		int a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
		if (a < 0) {
			case_fail("%s: accept gave %s", what, case_errname(errno));
			break;
		}
		check_link(a, c[i], what);
		close(a);
	}
	fcntl(l, F_SETFL, O_NONBLOCK);
	if (accept(l, NULL, NULL) != -1 || errno != EAGAIN)
		case_fail("a fourth connection waited in the accept queue (%s)", case_errname(errno));
	if (!(fcntl(c[1], F_GETFL) & O_NONBLOCK) || (fcntl(c[0], F_GETFL) & O_NONBLOCK))
		case_fail("the clients' O_NONBLOCK flags changed");
	check_link(acc, done, "the accepted connection");

	int sacc = accept4(sl, NULL, NULL, SOCK_NONBLOCK);
	if (sacc < 0)
		case_fail("seqpacket: accept gave %s", case_errname(errno));
	else {
		char buf[16];
		if (send(sc, "ab", 2, 0) != 2 || send(sc, "cde", 3, 0) != 3 || case_wait_readable(sacc, 3000) != 1 ||
		    recv(sacc, buf, sizeof buf, 0) != 2 || recv(sacc, buf, sizeof buf, 0) != 3)
			case_fail("seqpacket: the waiting connection does not keep message boundaries (%s)", case_errname(errno));
	}
	case_finish();
}
