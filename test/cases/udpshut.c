// build: gcc -O2 -g -Wall -Wextra -o udpshut udpshut.c
/*
 * udpshut.c - shutdown() of UDP sockets comes back.
 *
 *   udpshut --out FILE
 *
 * On loopback: A and B bound and connected to each other, A shut down for writing (SHUT_WR),
 * B for reading (SHUT_RD); C bound, not connected, shut down both ways (shutdown gives
 * ENOTCONN but the kernel marks it all the same); D bound and connected to itself, not shut down.
 * A datagram from B waits in A's queue. (C sends to D's address: its send would go there.) Each socket's behaviour is probed at set-up and again
 * after SIGTERM and must be the same: send() (MSG_NOSIGNAL) fails with EPIPE on A and C and
 * works on B and D; poll() shows POLLRDHUP on B, POLLRDHUP | POLLHUP on C, neither on A, D;
 * A first reads the queued datagram, from B.
 */
#include "case.h"

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int udp_bound(struct sockaddr_in *a)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	socklen_t l = sizeof *a;
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)a, sizeof *a) < 0 || getsockname(s, (struct sockaddr *)a, &l) < 0)
		case_setup_fail("UDP socket: %s", strerror(errno));
	return s;
}

/* send result: 0 sent, else errno; to: for a socket not connected */
static int try_send(int s, const struct sockaddr_in *to)
{
	return sendto(s, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT, (const struct sockaddr *)to, to ? sizeof *to : 0) == 1 ? 0 : errno;
}

/* the receive side: poll's POLLRDHUP and POLLHUP (shut down for reading, both ways) */
static int rd_hup(int s)
{
	struct pollfd pf = { s, POLLIN | POLLRDHUP, 0 };
	if (poll(&pf, 1, 0) < 0)
		return -1;
	return pf.revents & (POLLRDHUP | POLLHUP);
}

struct probe {
	int send[4], recv[4];
};

static void probe(const int *s, const struct sockaddr_in *to_c, struct probe *p)
{
	for (int i = 0; i < 4; i++)
		p->send[i] = try_send(s[i], i == 2 ? to_c : NULL);
	char b[64];
	while (recv(s[0], b, sizeof b, MSG_DONTWAIT) > 0) /* A: what B sent just now */
		;
	while (recv(s[3], b, sizeof b, MSG_DONTWAIT) > 0) /* D: what it sent itself */
		;
	for (int i = 0; i < 4; i++)
		p->recv[i] = rd_hup(s[i]);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	struct sockaddr_in aa, ab, ac, ad;
	int s[4] = { udp_bound(&aa), udp_bound(&ab), udp_bound(&ac), udp_bound(&ad) };
	if (connect(s[0], (struct sockaddr *)&ab, sizeof ab) < 0 || connect(s[1], (struct sockaddr *)&aa, sizeof aa) < 0 ||
	    connect(s[3], (struct sockaddr *)&ad, sizeof ad) < 0)
		case_setup_fail("connect: %s", strerror(errno));
	if (shutdown(s[0], SHUT_WR) < 0 || shutdown(s[1], SHUT_RD) < 0 || (shutdown(s[2], SHUT_RDWR) < 0 && errno != ENOTCONN))
		case_setup_fail("shutdown: %s", strerror(errno));
	struct probe before, after;
	probe(s, &ad, &before);
	static const char *names = "ABCD";
	const int want_send[4] = { EPIPE, 0, EPIPE, 0 };
	for (int i = 0; i < 4; i++)
		if (before.send[i] != want_send[i])
			case_setup_fail("send on %c: %s, expected %s", names[i], strerror(before.send[i]), strerror(want_send[i]));
	const int want_hup[4] = { 0, POLLRDHUP, POLLRDHUP | POLLHUP, 0 };
	for (int i = 0; i < 4; i++)
		if (before.recv[i] != want_hup[i])
			case_setup_fail("poll on %c: 0x%x, expected 0x%x", names[i], before.recv[i], want_hup[i]);
	if (send(s[1], "queued", 6, MSG_NOSIGNAL) != 6)
		case_setup_fail("send from B: %s", strerror(errno));
	for (int64_t end = case_now_ms() + 5000; case_wait_readable(s[0], 100) != 1;)
		if (case_now_ms() > end)
			case_setup_fail("the datagram from B does not arrive");
	case_ready();
	case_wait_term();

	char buf[64];
	struct sockaddr_in from;
	socklen_t fl = sizeof from;
	ssize_t n = recvfrom(s[0], buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n != 6 || memcmp(buf, "queued", 6) || from.sin_port != ab.sin_port)
		case_fail("A: the queued datagram from B is not there (%zd: %s)", n, n < 0 ? strerror(errno) : "");
	probe(s, &ad, &after);
	for (int i = 0; i < 4; i++) {
		if (after.send[i] != before.send[i])
			case_fail("send on %c: %s, expected %s", names[i], strerror(after.send[i]), strerror(before.send[i]));
		if (after.recv[i] != before.recv[i])
			case_fail("poll on %c: 0x%x (POLLRDHUP, POLLHUP), expected 0x%x", names[i], after.recv[i], before.recv[i]);
	}
	case_finish();
}
