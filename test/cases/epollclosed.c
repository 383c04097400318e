// build: gcc -O2 -g -Wall -Wextra -o epollclosed epollclosed.c
/*
 * epollclosed.c - epoll registrations whose fd was closed while the file lives on.
 *
 *   epollclosed --out FILE
 *
 * Set up: an epoll EP; pipe A's read end registered at fd a (data 0xa1), then dup'ed to fd
 * a2 and fd a closed; an eventfd registered at fd e (data 0xe1, EPOLLET), dup'ed, fd e closed,
 * and another file (/dev/null) opened, which takes number e; the read end of pipe B registered
 * as usual (data 0xb1); the read end of pipe C dup'ed to fd 999 (above every other fd),
 * registered there (data 0xc1) and fd 999 closed. One byte is queued in A.
 * After SIGTERM: epoll_wait reports exactly 0xa1 (A readable through the closed number); after
 * writing the eventfd through its dup, 0xe1 too; EPOLL_CTL_DEL of a2 fails with ENOENT (the
 * registration is keyed by the old number, not a2); fd e is still /dev/null; reading A empties
 * it and 0xa1 is gone; the registration at the closed number can still be re-added at a2;
 * after writing C, only 0xc1 is reported and fd 999 is still closed.
 */
#include "case.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

static int collect(int ep, uint64_t *out)
{
	struct epoll_event ev[8];
	int n = epoll_wait(ep, ev, 8, 0);
	for (int i = 0; i < n; i++)
		out[i] = ev[i].data.u64;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (out[j] < out[i]) {
				uint64_t t = out[i];
				out[i] = out[j];
				out[j] = t;
			}
	return n;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int ep = epoll_create1(0), a[2], b[2], cp[2];
	int ev = eventfd(0, EFD_NONBLOCK);
	if (ep < 0 || ev < 0 || pipe(a) || pipe(b) || pipe(cp))
		case_setup_fail("epoll, eventfd, pipes: %s", strerror(errno));
	struct epoll_event x = { .events = EPOLLIN, .data.u64 = 0xa1 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &x) < 0)
		case_setup_fail("epoll_ctl A: %s", strerror(errno));
	int a2 = dup(a[0]);
	close(a[0]);
	x = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u64 = 0xe1 };
	if (a2 < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev, &x) < 0)
		case_setup_fail("epoll_ctl eventfd: %s", strerror(errno));
	int e2 = dup(ev), enr = ev;
	close(ev);
	int nul = open("/dev/null", O_RDONLY);
	if (e2 < 0 || nul != enr)
		case_setup_fail("/dev/null did not take the eventfd's number (%d, %d)", nul, enr);
	x = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0xb1 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, b[0], &x) < 0 || write(a[1], "!", 1) != 1)
		case_setup_fail("epoll_ctl B: %s", strerror(errno));
	x = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0xc1 };
	if (dup2(cp[0], 999) != 999 || epoll_ctl(ep, EPOLL_CTL_ADD, 999, &x) < 0 || close(999) < 0)
		case_setup_fail("epoll_ctl C at 999: %s", strerror(errno));

	case_ready();
	case_wait_term();

	uint64_t got[8];
	int n = collect(ep, got);
	if (n != 1 || got[0] != 0xa1)
		case_fail("epoll_wait reported %d events (first 0x%llx), expected only 0xa1", n, n > 0 ? (unsigned long long)got[0] : 0ULL);
	uint64_t one = 1;
	if (write(e2, &one, sizeof one) != sizeof one)
		case_fail("eventfd write: %s", case_errname(errno));
	n = collect(ep, got);
	if (n != 2 || got[0] != 0xa1 || got[1] != 0xe1)
		case_fail("after the eventfd write: %d events, expected 0xa1 and 0xe1", n);
	if (epoll_ctl(ep, EPOLL_CTL_DEL, a2, NULL) != -1 || errno != ENOENT)
		case_fail("EPOLL_CTL_DEL of the dup a2 gave %s, expected ENOENT (keyed by the closed number)", case_errname(errno));
	char c;
	struct stat st, ns;
	if (fstat(enr, &st) < 0 || stat("/dev/null", &ns) < 0 || st.st_rdev != ns.st_rdev)
		case_fail("fd %d is no longer /dev/null", enr);
	if (read(a2, &c, 1) != 1 || c != '!')
		case_fail("pipe A lost its byte");
	n = collect(ep, got);
	if (n != 0)
		case_fail("after reading A and collecting the edge: %d events, expected none", n);
	x = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0xa2 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, a2, &x) < 0)
		case_fail("adding a2 (the same file at another number): %s", case_errname(errno));
	if (write(cp[1], "!", 1) != 1)
		case_fail("pipe C write: %s", case_errname(errno));
	n = collect(ep, got);
	if (n != 1 || got[0] != 0xc1)
		case_fail("after writing C: %d events (first 0x%llx), expected only 0xc1", n, n > 0 ? (unsigned long long)got[0] : 0ULL);
	if (fcntl(999, F_GETFD) != -1 || errno != EBADF)
		case_fail("fd 999 is open after restart");
	case_finish();
}
