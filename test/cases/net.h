/*
 * net.h - helpers of the TCP/UDP test programs (tcpsock.c, tcppeer.c): sockets on loopback,
 * reads with a timeout, names compared before and after a restart.  Header-only, static.
 */
#ifndef UCR_TEST_NET_H
#define UCR_TEST_NET_H
#include "case.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define BIG (1 << 20)

__attribute__((noreturn)) CASE_FN void die(const char *what)
{
	case_setup_fail("%s: %s", what, strerror(errno));
}

CASE_FN int sock(int fam, int type)
{
	int s = socket(fam, type, 0);
	if (s < 0)
		die("socket");
	return s;
}

CASE_FN int listener(int fam, const char *addr, int backlog, int port)
{
	int s = sock(fam, SOCK_STREAM), one = 1;
	struct sockaddr_storage a = { 0 };
	socklen_t al;
	if (fam == AF_INET) {
		struct sockaddr_in *i = (void *)&a;
		i->sin_family = AF_INET;
		i->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &i->sin_addr);
		al = sizeof *i;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	} else {
		struct sockaddr_in6 *i = (void *)&a;
		i->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &i->sin6_addr);
		al = sizeof *i;
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	}
	if (bind(s, (struct sockaddr *)&a, al) < 0 || listen(s, backlog) < 0)
		die("bind/listen");
	return s;
}

CASE_FN int connect_to(int l, int *acc)
{
	struct sockaddr_storage a;
	socklen_t al = sizeof a;
	getsockname(l, (struct sockaddr *)&a, &al);
	int c = sock(a.ss_family, SOCK_STREAM);
	if (connect(c, (struct sockaddr *)&a, al) < 0)
		return -1;
	if (acc && (*acc = accept(l, NULL, NULL)) < 0)
		return -1;
	return c;
}

CASE_FN int wait_in(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, ms) == 1;
}

static int wait_ms = 5000;

/* Reads exactly len bytes (wait_ms per chunk). */
CASE_FN int read_exact(int fd, void *buf, size_t len, const char *what)
{
	size_t got = 0;
	while (got < len) {
		if (!wait_in(fd, wait_ms)) {
			case_fail("%s: nothing to read after %zu of %zu bytes", what, got, len);
			return -1;
		}
		ssize_t n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n <= 0) {
			case_fail("%s: read %zd after %zu of %zu bytes (%s)", what, n, got, len, n < 0 ? case_errname(errno) : "EOF");
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

CASE_FN void expect_text(int fd, const char *want, const char *what)
{
	char buf[256];
	size_t len = strlen(want);
	if (read_exact(fd, buf, len, what) == 0 && memcmp(buf, want, len))
		case_fail("%s: read \"%.*s\", expected \"%s\"", what, (int)len, buf, want);
}

CASE_FN void send_text(int fd, const char *s, const char *what)
{
	if (send(fd, s, strlen(s), MSG_NOSIGNAL) != (ssize_t)strlen(s))
		case_fail("%s: send: %s", what, case_errname(errno));
}

CASE_FN int opt(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof v;
	getsockopt(fd, level, name, &v, &l);
	return v;
}

struct names {
	struct sockaddr_storage self, peer;
	socklen_t sl, pl;
	int mss; /* TCP: the segment size it sends (a restored connection must not send smaller ones) */
};

CASE_FN void names_of(int fd, struct names *n)
{
	n->sl = n->pl = sizeof n->self;
	if (getsockname(fd, (struct sockaddr *)&n->self, &n->sl) < 0)
		n->sl = 0;
	if (getpeername(fd, (struct sockaddr *)&n->peer, &n->pl) < 0)
		n->pl = 0;
	socklen_t ml = sizeof n->mss;
	if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &n->mss, &ml) < 0)
		n->mss = -1;
}

CASE_FN void same_names(int fd, const struct names *was, const char *what)
{
	struct names now;
	names_of(fd, &now);
	if (now.sl != was->sl || memcmp(&now.self, &was->self, now.sl))
		case_fail("%s: its local address changed", what);
	if (now.pl != was->pl || memcmp(&now.peer, &was->peer, now.pl))
		case_fail("%s: its peer address changed (or it is no longer connected)", what);
	/* a restart asks the kernel for the clamp it had (TCP_MAXSEG: at most 32767; restore_inet.c),
	 * the size then loses the options' bytes (up to 40); it used to fall to 524 */
	int want = (was->mss < 32767 ? was->mss : 32767) - 40;
	if (was->mss > 0 && now.mss < want)
		case_fail("%s: its segment size (TCP_MAXSEG) was %d, is %d", what, was->mss, now.mss);
}

/* A new connection to the listener is accepted and carries a byte both ways. */
CASE_FN void accepts(int l, const char *what)
{
	int a = -1, c = connect_to(l, NULL);
	if (c < 0) {
		case_fail("%s: a new connection fails: %s", what, case_errname(errno));
		return;
	}
	if (!wait_in(l, 5000) || (a = accept(l, NULL, NULL)) < 0) {
		case_fail("%s: the new connection is not accepted", what);
		close(c);
		return;
	}
	send_text(c, "x", what);
	expect_text(a, "x", what);
	send_text(a, "y", what);
	expect_text(c, "y", what);
	close(a);
	close(c);
}

/* TCP states (tcpclose.c): TCP_INFO's, by name, waited for (setup: a setup failure) */
CASE_FN int state_of(int fd)
{
	struct tcp_info ti = { 0 };
	socklen_t l = sizeof ti;
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l);
	return ti.tcpi_state;
}

CASE_FN const char *sname(int s)
{
	CASE_FN const char *n[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };
	return s >= 0 && s <= 11 ? n[s] : "?";
}

CASE_FN void wait_state(int fd, int want, const char *what, int setup)
{
	for (int i = 0; i < (setup ? 500 : wait_ms / 10) && state_of(fd) != want; i++)
		case_sleep_ms(10);
	if (state_of(fd) == want)
		return;
	if (setup)
		case_setup_fail("%s: state %s, expected %s", what, sname(state_of(fd)), sname(want));
	case_fail("%s: state %s, expected %s", what, sname(state_of(fd)), sname(want));
}

CASE_FN void expect_eof(int fd, const char *what)
{
	char b;
	if (!wait_in(fd, wait_ms) || recv(fd, &b, 1, MSG_DONTWAIT) != 0)
		case_fail("%s: expected EOF, got %s", what, wait_in(fd, 0) ? case_errname(errno) : "nothing");
}

CASE_FN void expect_epipe(int fd, const char *what)
{
	if (send(fd, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		case_fail("%s: a write gives %s, expected EPIPE", what, case_errname(errno));
}

#endif /* UCR_TEST_NET_H */
