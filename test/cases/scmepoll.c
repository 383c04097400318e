// build: gcc -O2 -g -Wall -Wextra -o scmepoll scmepoll.c
/*
 * scmepoll.c - an epoll held only in flight (SCM_RIGHTS) in a unix socket's queue.
 *
 *   scmepoll --out FILE [--lost]
 *
 * Set up: a datagram pair s0/s1; an epoll EP with s1 registered (EPOLLIN, data 0x51) and the
 * read end of a pipe P registered (EPOLLIN, data 0x9a) at a number the task then dup2's away
 * (fd 900, closed again); EP sent over s0 twice (two datagrams, each carrying EP), then closed:
 * only the queue holds it.
 * After SIGTERM: the first datagram gives back an epoll (a new fd) that reports exactly 0x51
 * (s1 still has the second datagram); after writing P, 0x51 and 0x9a; EPOLL_CTL_DEL of s1's
 * number succeeds (the registration is keyed by it), after which only 0x9a is left; the second
 * datagram gives the same epoll (EPOLL_CTL_DEL of s1 again: ENOENT); fd 900 is closed.
 * --lost: the read end of another pipe Q is registered too (data 0x77), then sent in a third
 * datagram and closed: a target held only in flight (the checkpoint refuses it).
 */
#include "case.h"

#include <sys/epoll.h>
#include <sys/socket.h>

/* The descriptor in flight with the next one-byte datagram, or -1. */
static int recv_fd(int s)
{
	char c;
	int fd;
	return case_recv_fd(s, &c, 1, &fd) == 1 ? fd : -1;
}

static int send_fd(int s, int fd)
{
	return case_send_fds(s, "e", 1, &fd, 1) == 1 ? 0 : -1;
}

/* the events' data, sorted */
static int collect(int ep, uint64_t *out)
{
	struct epoll_event ev[4];
	int n = epoll_wait(ep, ev, 4, 0);
	for (int i = 0; i < n; i++)
		out[i] = ev[i].data.u64;
	if (n == 2 && out[1] < out[0]) {
		uint64_t t = out[0];
		out[0] = out[1];
		out[1] = t;
	}
	return n;
}

int main(int argc, char **argv)
{
	int lost = argc > 1 && !strcmp(argv[argc - 1], "--lost");
	case_init(argc, argv);
	case_install_sigterm(0);
	int s[2], p[2], ep = epoll_create1(0);
	if (ep < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, s) < 0 || pipe(p) < 0)
		case_setup_fail("epoll, socketpair, pipe: %s", strerror(errno));
	struct epoll_event x = { .events = EPOLLIN, .data.u64 = 0x51 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s[1], &x) < 0)
		case_setup_fail("epoll_ctl s1: %s", strerror(errno));
	x = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0x9a };
	if (dup2(p[0], 900) != 900 || epoll_ctl(ep, EPOLL_CTL_ADD, 900, &x) < 0 || close(900) < 0)
		case_setup_fail("epoll_ctl P at 900: %s", strerror(errno));
	if (send_fd(s[0], ep) < 0 || send_fd(s[0], ep) < 0)
		case_setup_fail("sending the epoll: %s", strerror(errno));
	int q[2];
	x = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0x77 };
	if (lost && (pipe(q) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &x) < 0 || send_fd(s[0], q[0]) < 0 || close(q[0]) < 0))
		case_setup_fail("the pipe in flight: %s", strerror(errno));
	close(ep);

	case_ready();
	case_wait_term();

	uint64_t got[4];
	int e1 = recv_fd(s[1]);
	if (e1 < 0)
		case_fail("no epoll in the first datagram: %s", case_errname(errno));
	int n = collect(e1, got);
	if (n != 1 || got[0] != 0x51)
		case_fail("the epoll reported %d events (first 0x%llx), expected only 0x51", n, n > 0 ? (unsigned long long)got[0] : 0ULL);
	if (write(p[1], "!", 1) != 1)
		case_fail("pipe write: %s", case_errname(errno));
	n = collect(e1, got);
	if (n != 2 || got[0] != 0x51 || got[1] != 0x9a)
		case_fail("after writing P: %d events, expected 0x51 and 0x9a", n);
	if (epoll_ctl(e1, EPOLL_CTL_DEL, s[1], NULL) < 0)
		case_fail("EPOLL_CTL_DEL of s1 at its number: %s", case_errname(errno));
	n = collect(e1, got);
	if (n != 1 || got[0] != 0x9a)
		case_fail("after removing s1: %d events (first 0x%llx), expected only 0x9a", n, n > 0 ? (unsigned long long)got[0] : 0ULL);
	int e2 = recv_fd(s[1]);
	if (e2 < 0)
		case_fail("no epoll in the second datagram: %s", case_errname(errno));
	if (epoll_ctl(e2, EPOLL_CTL_DEL, s[1], NULL) != -1 || errno != ENOENT)
		case_fail("the second datagram's epoll is not the first's (EPOLL_CTL_DEL of s1: %s)", case_errname(errno));
	if (fcntl(900, F_GETFD) != -1 || errno != EBADF)
		case_fail("fd 900 is open after restart");
	case_finish();
}
