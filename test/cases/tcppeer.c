// build: gcc -O2 -g -Wall -Wextra -o tcppeer tcppeer.c
/*
 * tcppeer.c - a TCP connection to a peer outside the checkpointed tree, and sockets that a
 * checkpoint refuses.
 *
 *   tcppeer --out FILE --connect PORT [--expect-reset | --during | --half]
 *       a connection to 127.0.0.1:PORT, a peer outside the tree that writes 6 bytes ("before")
 *       once connected; ready when they are queued (unread). After SIGTERM: reads them, writes
 *       "after-restart\n" and expects "peer-reply\n" back (--tcp=established; with --during it
 *       first expects "during\n", sent by the peer while the image waited for its restart);
 *       with --expect-reset: reads them, then expects ECONNRESET (--tcp=close); with --half it
 *       writes "bye\n" and shuts down writing before ready, and after SIGTERM expects
 *       "peer-reply\n" after the 6 bytes, and EPIPE on a write
 *   tcppeer --out FILE --refuse raw|packet|pending
 *       a raw IP socket / a packet socket / a listener (its port in FILE.port) with a
 *       connection from outside the tree waiting in its accept queue (checkpoint refuses; the
 *       program still answers after)
 */
#include "net.h"

static int outside(int port, int expect_reset, int during, int half)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int c = sock(AF_INET, SOCK_STREAM), q = 0;
	if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect to the outside peer");
	for (int i = 0; i < 1000 && q < 6; i++) {
		case_sleep_ms(10);
		ioctl(c, FIONREAD, &q);
	}
	if (q != 6)
		case_setup_fail("the outside peer's 6 bytes did not arrive (%d)", q);
	if (half) { /* done writing: fin-wait2 once the peer has acknowledged the FIN */
		struct tcp_info ti = { 0 };
		socklen_t tl = sizeof ti;
		if (send(c, "bye\n", 4, 0) != 4 || shutdown(c, SHUT_WR) < 0)
			die("shutdown");
		for (int i = 0; i < 500 && getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_state != TCP_FIN_WAIT2; i++)
			case_sleep_ms(10);
		if (ti.tcpi_state != TCP_FIN_WAIT2)
			case_setup_fail("not in FIN_WAIT2 after shutdown (state %d)", ti.tcpi_state);
	}
	struct names n;
	names_of(c, &n);
	case_ready();
	case_wait_term();
	expect_text(c, "before", "queued bytes from the outside peer");
	if (expect_reset) {
		char b;
		if (wait_in(c, 5000) && (recv(c, &b, 1, MSG_DONTWAIT) != -1 || errno != ECONNRESET))
			case_fail("after the queued bytes: expected ECONNRESET, got %s", case_errname(errno));
		case_finish();
	}
	if (during) { /* sent while the image waited: the peer retransmits it (backing off) */
		wait_ms = 60000;
		expect_text(c, "during\n", "bytes the outside peer sent between checkpoint and restart");
		wait_ms = 5000;
	}
	same_names(c, &n, "connection to the outside peer");
	if (half) {
		expect_text(c, "peer-reply\n", "the outside peer's bytes after our shutdown");
		if (send(c, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
			case_fail("half-closed: a write gives %s, expected EPIPE", case_errname(errno));
		case_finish();
	}
	send_text(c, "after-restart\n", "to the outside peer");
	expect_text(c, "peer-reply\n", "the outside peer's reply");
	case_finish();
}

static int refuse(const char *what)
{
	int r = -1;
	if (!strcmp(what, "raw"))
		r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	else if (!strcmp(what, "packet"))
		r = socket(AF_PACKET, SOCK_DGRAM, 0);
	else { /* pending: a listener that the test connects to (after ready); never accepted */
		r = listener(AF_INET, "127.0.0.1", 4, 0);
		struct sockaddr_in a;
		socklen_t al = sizeof a;
		char port[16];
		getsockname(r, (struct sockaddr *)&a, &al);
		snprintf(port, sizeof port, "%d\n", ntohs(a.sin_port));
		if (case_write_aux(".port", port) < 0)
			die("FILE.port");
	}
	if (r < 0)
		die("socket");
	case_ready();
	case_wait_term();
	case_finish();
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	signal(SIGPIPE, SIG_IGN);
	if (case_arg(argc, argv, "--connect"))
		return outside(atoi(case_arg(argc, argv, "--connect")), case_has_flag(argc, argv, "--expect-reset"),
			       case_has_flag(argc, argv, "--during"), case_has_flag(argc, argv, "--half"));
	if (case_arg(argc, argv, "--refuse"))
		return refuse(case_arg(argc, argv, "--refuse"));
	case_die_usage(argv[0], "--connect PORT or --refuse WHAT");
}
