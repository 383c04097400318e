// build: gcc -O2 -g -Wall -Wextra -o tcpclose tcpclose.c
/*
 * tcpclose.c - TCP connections being closed, with bytes still queued (inetbind.c: sockets
 * bound in ways a plain bind cannot repeat).
 *
 *   tcpclose --out FILE --states
 *       loopback pairs, both ends in the tree, each in a closing state with bytes queued:
 *        - CLOSE_WAIT / FIN_WAIT2: each end wrote 5 bytes the other did not read, then the
 *          FIN_WAIT2 end shut down writing (its FIN acknowledged); once over IPv4, once IPv6;
 *        - FIN_WAIT1 (FIN never sent): the sender filled the receiver's buffers (256 KiB, the
 *          receiver does not read), then shut down: its FIN waits behind unsent bytes;
 *        - LAST_ACK / FIN_WAIT2: the peer shut down first (acknowledged), then the LAST_ACK
 *          end filled the peer's buffers and shut down (its FIN waits behind bytes);
 *        - CLOSING / FIN_WAIT2: the CLOSING end filled the peer's buffers and shut down (its
 *          FIN waits), then the peer shut down and its FIN arrived;
 *        - CLOSING / FIN_WAIT1 and LAST_ACK / FIN_WAIT1, both FINs sent, neither acknowledged
 *          (the FIN_WAIT1 end drops every packet with a socket filter of its own).
 *       After SIGTERM: every end is in its state, reads what was queued then EOF, writes where
 *       it may (EPIPE where it shut down), and every connection finishes its close.
 *   tcpclose --out FILE --connect PORT
 *       CLOSE_WAIT to an outside peer (the test) that wrote "before" and shut down. After
 *       SIGTERM: reads "before" then EOF, writes "after-restart\n" and closes.
 *   tcpclose --out FILE --peer [--no-fin | --flag F]
 *   tcpclose --out FILE --closing-to PORT --state last-ack|fin-wait1|closing [--closed] [--flag F]
 *       an outside peer (not checkpointed) that does not read, and a program in LAST_ACK,
 *       FIN_WAIT1 or CLOSING towards it, its FIN behind the bytes that did not fit; see peer()
 *       and closing_to() below.
 */
#include "net.h"
#include <fcntl.h>

#define FILL (256 << 10)
static unsigned char fill[FILL];

/* Writes FILL bytes into a receiver that does not read (small buffers both ways): part waits
 * at the receiver, the rest is never sent. */
static void fill_up(int s, int r)
{
	int small = 16384;
	setsockopt(r, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	fcntl(s, F_SETFL, O_NONBLOCK);
	for (size_t off = 0; off < FILL;) {
		ssize_t n = send(s, fill + off, FILL - off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			die("send (fill)");
		if (n < 0) {
			struct pollfd p = { s, POLLOUT, 0 };
			if (poll(&p, 1, 10000) != 1)
				case_setup_fail("the receiver's buffers do not take %d bytes (%zu written)", FILL, off);
		}
		off += n > 0 ? (size_t)n : 0;
	}
	fcntl(s, F_SETFL, 0);
	int nsd = 0;
	if (ioctl(s, SIOCOUTQNSD, &nsd) < 0 || nsd == 0)
		case_setup_fail("every byte was sent: the FIN would not wait");
}

static void drain_fill(int r, const char *what)
{
	static unsigned char got[FILL];
	if (read_exact(r, got, FILL, what) == 0 && memcmp(got, fill, FILL))
		case_fail("%s: the bytes differ", what);
}

/* A connection whose peer j drops every packet: i writes 4 bytes and shuts down, j shuts down
 * (before i when last_ack): i CLOSING or LAST_ACK, j FIN_WAIT1, every FIN unacknowledged. */
static int lost_fins(int l, int last_ack, int *j)
{
	static struct sock_filter dropall[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, dropall };
	int i = connect_to(l, j), outq = 0, nsd = 1;
	if (i < 0 || setsockopt(*j, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 || (last_ack && shutdown(*j, SHUT_WR) < 0))
		die("lost FINs");
	if (last_ack)
		wait_state(i, TCP_CLOSE_WAIT, "last-ack (sent) end", 1);
	if (send(i, "zzzz", 4, 0) != 4 || shutdown(i, SHUT_WR) < 0)
		die("lost FINs: shutdown");
	for (int k = 0; k < 500 && (outq != 5 || nsd != 0); k++) {
		ioctl(i, SIOCOUTQ, &outq), ioctl(i, SIOCOUTQNSD, &nsd);
		case_sleep_ms(10);
	}
	if (outq != 5 || nsd != 0 || (!last_ack && shutdown(*j, SHUT_WR) < 0))
		case_setup_fail("4 bytes and the FIN not in flight (%d queued, %d unsent, %s)", outq, nsd, sname(state_of(i)));
	wait_state(i, last_ack ? TCP_LAST_ACK : TCP_CLOSING, "lost FINs", 1);
	wait_state(*j, TCP_FIN_WAIT1, "lost FINs: peer", 1);
	return i;
}

/* j's filter is still there after the restart, then taken off */
static void unfilter(int j, const char *what)
{
	socklen_t flen = 0;
	int z = 0;
	if (getsockopt(j, SOL_SOCKET, SO_GET_FILTER, NULL, &flen) < 0 || flen != 1)
		case_fail("%s: its socket filter is gone (%u instructions)", what, flen);
	if (setsockopt(j, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z) < 0)
		case_fail("%s: SO_DETACH_FILTER: %s", what, case_errname(errno));
}

/* the retransmitted bytes and FINs arrive: both ends read EOF and end CLOSE */
static void lost_fins_end(int i, int j, const char *what)
{
	char w[64];
	snprintf(w, sizeof w, "%s peer", what);
	expect_text(j, "zzzz", w);
	expect_eof(j, w);
	wait_state(j, TCP_CLOSE, w, 0);
	snprintf(w, sizeof w, "%s end", what);
	expect_eof(i, w);
	wait_state(i, TCP_CLOSE, w, 0);
}

static int states(void)
{
	int l = listener(AF_INET, "127.0.0.1", 8, 0);
	case_fill(fill, FILL);

	/* CLOSE_WAIT (b) / FIN_WAIT2 (a) */
	int b, a = connect_to(l, &b);
	if (a < 0 || send(a, "a->b!", 5, 0) != 5 || send(b, "b->a!", 5, 0) != 5 || shutdown(a, SHUT_WR) < 0)
		die("close-wait pair");
	wait_state(b, TCP_CLOSE_WAIT, "close-wait end", 1);
	wait_state(a, TCP_FIN_WAIT2, "fin-wait2 end", 1);

	/* the same over IPv6 (the FIN and ACK are replayed in IPv6 packets) */
	int l6 = listener(AF_INET6, "::1", 4, 0), b6, a6 = connect_to(l6, &b6);
	if (a6 < 0 || send(a6, "six>b", 5, 0) != 5 || send(b6, "six>a", 5, 0) != 5 || shutdown(a6, SHUT_WR) < 0)
		die("close-wait pair (IPv6)");
	wait_state(b6, TCP_CLOSE_WAIT, "close-wait end (IPv6)", 1);
	wait_state(a6, TCP_FIN_WAIT2, "fin-wait2 end (IPv6)", 1);

	/* FIN_WAIT1 (c), FIN behind unsent bytes */
	int d, c = connect_to(l, &d);
	if (c < 0)
		die("fin-wait1 pair");
	fill_up(c, d);
	if (shutdown(c, SHUT_WR) < 0)
		die("shutdown (fin-wait1)");
	wait_state(c, TCP_FIN_WAIT1, "fin-wait1 end", 1);

	/* LAST_ACK (e) / FIN_WAIT2 (f) */
	int f, e = connect_to(l, &f);
	if (e < 0 || shutdown(f, SHUT_WR) < 0)
		die("last-ack pair");
	wait_state(e, TCP_CLOSE_WAIT, "last-ack end (peer's FIN)", 1);
	wait_state(f, TCP_FIN_WAIT2, "last-ack peer", 1);
	fill_up(e, f);
	if (shutdown(e, SHUT_WR) < 0)
		die("shutdown (last-ack)");
	wait_state(e, TCP_LAST_ACK, "last-ack end", 1);

	/* CLOSING (g) / FIN_WAIT2 (h) */
	int h, g = connect_to(l, &h);
	if (g < 0)
		die("closing pair");
	fill_up(g, h);
	if (shutdown(g, SHUT_WR) < 0 || shutdown(h, SHUT_WR) < 0)
		die("shutdown (closing)");
	wait_state(g, TCP_CLOSING, "closing end", 1);
	wait_state(h, TCP_FIN_WAIT2, "closing peer", 1);

	/* FINs sent and never acknowledged: j drops every packet (a socket filter), so i's 4 bytes
	 * and FIN and its ACK of j's FIN are lost: CLOSING (i sent first) or LAST_ACK / FIN_WAIT1 */
	int j, i = lost_fins(l, 0, &j), j2, i2 = lost_fins(l, 1, &j2);

	case_ready();
	case_wait_term();
	/* bytes held back by a full window or lost come with retransmissions and probes, which
	 * back off: a bound, not a timing */
	wait_ms = 60000;

	/* the states as they were */
	const struct { int fd, st; const char *what; } want[] = {
		{ b, TCP_CLOSE_WAIT, "close-wait end" }, { a, TCP_FIN_WAIT2, "fin-wait2 end" }, { c, TCP_FIN_WAIT1, "fin-wait1 end" },
		{ d, TCP_ESTABLISHED, "fin-wait1 peer" }, { e, TCP_LAST_ACK, "last-ack end" }, { f, TCP_FIN_WAIT2, "last-ack peer" },
		{ g, TCP_CLOSING, "closing end" }, { h, TCP_FIN_WAIT2, "closing peer" }, { i, TCP_CLOSING, "closing (sent) end" },
		{ j, TCP_FIN_WAIT1, "closing (sent) peer" }, { i2, TCP_LAST_ACK, "last-ack (sent) end" }, { j2, TCP_FIN_WAIT1, "last-ack (sent) peer" }, { b6, TCP_CLOSE_WAIT, "close-wait end (IPv6)" },
		{ a6, TCP_FIN_WAIT2, "fin-wait2 end (IPv6)" },
	};
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
		if (state_of(want[k].fd) != want[k].st)
			case_fail("%s: state %s after restart, expected %s", want[k].what, sname(state_of(want[k].fd)), sname(want[k].st));

	/* FINs sent: the peers' filters are still there; removed at once (checked last) */
	unfilter(j, "closing (sent) peer");
	unfilter(j2, "last-ack (sent) peer");

	/* CLOSE_WAIT: the queued bytes, EOF, then it still writes and closes */
	expect_text(b, "a->b!", "close-wait end: queued bytes");
	expect_eof(b, "close-wait end");
	send_text(b, "more", "close-wait end");
	expect_text(a, "b->a!more", "fin-wait2 end: queued bytes and the peer's later ones");
	expect_epipe(a, "fin-wait2 end");
	close(b);
	expect_eof(a, "fin-wait2 end");

	expect_text(b6, "six>b", "close-wait end (IPv6): queued bytes");
	expect_eof(b6, "close-wait end (IPv6)");
	send_text(b6, "more", "close-wait end (IPv6)");
	expect_text(a6, "six>amore", "fin-wait2 end (IPv6)");
	close(b6);
	expect_eof(a6, "fin-wait2 end (IPv6)");

	/* FIN_WAIT1: the receiver reads everything, then EOF; it answers, the sender gets it */
	drain_fill(d, "fin-wait1 peer");
	expect_eof(d, "fin-wait1 peer");
	wait_state(c, TCP_FIN_WAIT2, "fin-wait1 end, once its peer read", 0);
	send_text(d, "done", "fin-wait1 peer");
	expect_text(c, "done", "fin-wait1 end");
	expect_epipe(c, "fin-wait1 end");

	/* LAST_ACK: EOF already read side, peer reads everything then EOF */
	expect_eof(e, "last-ack end");
	expect_epipe(e, "last-ack end");
	drain_fill(f, "last-ack peer");
	expect_eof(f, "last-ack peer");
	wait_state(e, TCP_CLOSE, "last-ack end, once acknowledged", 0);

	/* CLOSING: EOF; the peer reads everything then EOF */
	expect_eof(g, "closing end");
	expect_epipe(g, "closing end");
	drain_fill(h, "closing peer");
	expect_eof(h, "closing peer");
	expect_epipe(h, "closing peer");

	/* CLOSING (sent): once the filter is gone, the retransmitted bytes and FIN arrive */
	lost_fins_end(i, j, "closing (sent)");
	lost_fins_end(i2, j2, "last-ack (sent)");
	case_finish();
	return 0;
}

static int connect_port(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int c = sock(AF_INET, SOCK_STREAM);
	if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect to the outside peer");
	return c;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/* The outside peer of --closing-to (not checkpointed): a listener (small receive buffer, port
 * in FILE.port) whose connection it does not read and shuts down at once (fin 0), never (1) or
 * once flag exists (2); after SIGTERM it reads everything (count in FILE.count), then EOF. */
static int peer(int fin, const char *flag)
{
	int l = sock(AF_INET, SOCK_STREAM), small = 16384;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &al) < 0)
		die("listen (peer)");
	char port[16];
	snprintf(port, sizeof port, "%d\n", ntohs(a.sin_port));
	if (case_write_aux(".port", port) < 0)
		die("FILE.port");
	case_ready();
	int c = accept(l, NULL, NULL);
	if (c < 0)
		die("accept (peer)");
	for (int i = 0; fin == 2 && i < 1000 && access(flag, F_OK) < 0; i++)
		case_sleep_ms(10);
	if (fin != 1 && shutdown(c, SHUT_WR) < 0)
		die("shutdown (peer)");
	case_wait_term();
	static unsigned char buf[1 << 16];
	size_t total = 0;
	for (;;) {
		if (!wait_in(c, 60000)) {
			case_fail("no EOF after %zu bytes", total);
			break;
		}
		ssize_t n = recv(c, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0) {
			if (n < 0)
				case_fail("read after %zu bytes: %s", total, case_errname(errno));
			break;
		}
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != pattern(total + (size_t)k)) {
				case_fail("byte %zu differs", total + (size_t)k);
				n = 0;
				break;
			}
		total += (size_t)n;
	}
	char cnt[32];
	snprintf(cnt, sizeof cnt, "%zu\n", total);
	case_write_aux(".count", cnt);
	case_finish();
	return 0;
}

/* --closing-to PORT last-ack|fin-wait1|closing: a connection to peer(), which does not read:
 * it writes until the peer's buffers are full (its count in FILE.count) and shuts down, its FIN
 * behind unsent bytes: last-ack (the peer had shut down first), fin-wait1 (the peer does not
 * shut down), closing (the peer shuts down once it is told, by the file flag, after ours).
 * After SIGTERM: in that state again (kept, --tcp=established) or, closed (--tcp=close), not
 * connected any more; a write gets EPIPE, a read EOF where the peer had shut down. */
static int closing_to(int port, const char *what, int kept, const char *flag)
{
	int want = !strcmp(what, "last-ack") ? TCP_LAST_ACK : !strcmp(what, "closing") ? TCP_CLOSING : TCP_FIN_WAIT1;
	int c = connect_port(port), small = 65536;
	if (want == TCP_LAST_ACK)
		wait_state(c, TCP_CLOSE_WAIT, "connection to the outside peer", 1);
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	fcntl(c, F_SETFL, O_NONBLOCK);
	static unsigned char buf[4096];
	size_t total = 0;
	for (int idle = 0; idle < 20;) { /* until 200 ms without room */
		for (size_t k = 0; k < sizeof buf; k++)
			buf[k] = pattern(total + k);
		ssize_t n = send(c, buf, sizeof buf, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			die("send (closing)");
		if (n < 0)
			idle++, case_sleep_ms(10);
		total += n > 0 ? (size_t)n : 0;
	}
	fcntl(c, F_SETFL, 0);
	if (shutdown(c, SHUT_WR) < 0)
		die("shutdown (closing)");
	int ff = want == TCP_CLOSING ? open(flag, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) : 0;
	if (ff < 0 || (ff > 0 && close(ff) < 0))
		die("flag");
	wait_state(c, want, "connection to the outside peer", 1);
	char cnt[32];
	if (snprintf(cnt, sizeof cnt, "%zu\n", total) < 0 || case_write_aux(".count", cnt) < 0)
		die("FILE.count");
	case_ready();
	case_wait_term();
	if (kept && state_of(c) != want)
		case_fail("state %s after restart, expected %s", sname(state_of(c)), sname(want));
	if (want == TCP_FIN_WAIT1 && kept && wait_in(c, 0))
		case_fail("readable, though its peer has not shut down");
	if (want != TCP_FIN_WAIT1 || !kept)
		expect_eof(c, "connection to the outside peer");
	expect_epipe(c, "connection to the outside peer");
	case_finish();
	return 0;
}

static int outside(int port)
{
	int c = connect_port(port);
	wait_state(c, TCP_CLOSE_WAIT, "connection to the outside peer", 1);
	int q = 0;
	for (int i = 0; i < 500 && q < 6; i++, case_sleep_ms(10))
		ioctl(c, FIONREAD, &q);
	if (q != 6)
		case_setup_fail("the outside peer's 6 bytes did not arrive (%d)", q);
	struct names n;
	names_of(c, &n);
	case_ready();
	case_wait_term();
	if (state_of(c) != TCP_CLOSE_WAIT)
		case_fail("state %s after restart, expected CLOSE_WAIT", sname(state_of(c)));
	same_names(c, &n, "connection to the outside peer");
	expect_text(c, "before", "queued bytes from the outside peer");
	expect_eof(c, "connection to the outside peer");
	send_text(c, "after-restart\n", "to the outside peer");
	close(c);
	case_finish();
	return 0;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	case_seed();
	signal(SIGPIPE, SIG_IGN);
	if (case_has_flag(argc, argv, "--states"))
		return states();
	if (case_arg(argc, argv, "--connect"))
		return outside(atoi(case_arg(argc, argv, "--connect")));
	const char *flag = case_arg(argc, argv, "--flag") ? case_arg(argc, argv, "--flag") : "";
	if (case_arg(argc, argv, "--closing-to") && case_arg(argc, argv, "--state"))
		return closing_to(atoi(case_arg(argc, argv, "--closing-to")), case_arg(argc, argv, "--state"), !case_has_flag(argc, argv, "--closed"), flag);
	if (case_has_flag(argc, argv, "--peer"))
		return peer(case_has_flag(argc, argv, "--no-fin") ? 1 : flag[0] ? 2 : 0, flag);
	case_die_usage(argv[0], "--states, --connect PORT, --closing-to PORT --state S [--closed] [--flag F] or --peer [--no-fin | --flag F]");
}
