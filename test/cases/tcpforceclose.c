// build: gcc -O2 -g -Wall -Wextra -o tcpforceclose tcpforceclose.c
/*
 * tcpforceclose.c - TCP connections restarted with `ucr restart --tcp-close`.
 *
 *   tcpforceclose --out FILE
 *       A listener on 127.0.0.1 and [::1] (any port) and a connection to each, both ends in
 *       this process, with bytes queued both ways (IPv4) and none (IPv6).
 *       After SIGTERM (the restart closed every connection): each end is in state CLOSE,
 *       reads EOF at once (nothing queued is left), polls POLLHUP without POLLERR, and a write
 *       fails with EPIPE; each listener is still listening and accepts a new connection.
 */
#include "net.h"

#include <signal.h>

static void closed(int fd, const char *what)
{
	char b;
	if (state_of(fd) != TCP_CLOSE)
		case_fail("%s: state %s, expected CLOSE", what, sname(state_of(fd)));
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
	if (n != 0)
		case_fail("%s: a read gives %s, expected EOF", what, n > 0 ? "a byte" : case_errname(errno));
	struct pollfd p = { fd, POLLHUP, 0 };
	if (poll(&p, 1, 0) != 1 || p.revents != POLLHUP)
		case_fail("%s: poll gives 0x%x, expected POLLHUP alone", what, p.revents);
	expect_epipe(fd, what);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	signal(SIGPIPE, SIG_IGN);
	int l4 = listener(AF_INET, "127.0.0.1", 4, 0), l6 = listener(AF_INET6, "::1", 4, 0), a4, a6;
	int c4 = connect_to(l4, &a4), c6 = connect_to(l6, &a6);
	if (c4 < 0 || c6 < 0)
		die("connect");
	send_text(c4, "to the server", "client (IPv4)");
	send_text(a4, "to the client", "server (IPv4)");
	wait_in(a4, 5000), wait_in(c4, 5000);
	case_ready();
	case_wait_term();
	const int fds[4] = { c4, a4, c6, a6 };
	const char *what[4] = { "client (IPv4)", "server (IPv4)", "client (IPv6)", "server (IPv6)" };
	for (int i = 0; i < 4; i++)
		closed(fds[i], what[i]);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	accepts(l4, "IPv4 listener");
	accepts(l6, "IPv6 listener");
	case_finish();
	return 0;
}
