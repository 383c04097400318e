// build: gcc -O2 -g -Wall -Wextra -o tcpclose tcpclose.c
/*
 * tcpclose.c - TCP connections being closed, with bytes still queued, and sockets bound in
 * ways a plain bind cannot repeat.
 *
 *   tcpclose --out FILE --states
 *       loopback pairs, both ends in the tree, each in a closing state with bytes queued:
 *        - CLOSE_WAIT / FIN_WAIT2: each end wrote 5 bytes the other did not read, then the
 *          FIN_WAIT2 end shut down writing (its FIN acknowledged);
 *        - FIN_WAIT1 (FIN never sent): the sender filled the receiver's buffers (256 KiB, the
 *          receiver does not read), then shut down: its FIN waits behind unsent bytes;
 *        - LAST_ACK / FIN_WAIT2: the peer shut down first (acknowledged), then the LAST_ACK
 *          end filled the peer's buffers and shut down (its FIN waits behind bytes);
 *        - CLOSING / FIN_WAIT2: the CLOSING end filled the peer's buffers and shut down (its
 *          FIN waits), then the peer shut down and its FIN arrived;
 *        - FIN_WAIT1 (FIN sent, never acknowledged: the receiver drops every packet with a
 *          socket filter of its own): 4 bytes and the FIN in flight.
 *       After SIGTERM: every end is in the state it had, reads what was queued then EOF,
 *       writes where it still may (EPIPE where it shut down), and every connection finishes
 *       its close normally (the FIN_WAIT1 ends reach FIN_WAIT2 once their peers read).
 *   tcpclose --out FILE --connect PORT
 *       a connection to an outside peer (the test) that wrote "before" and shut down writing:
 *       CLOSE_WAIT with 6 bytes queued. After SIGTERM: reads "before" then EOF, writes
 *       "after-restart\n" and closes (the peer gets the bytes, then EOF).
 *   tcpclose --out FILE --bound
 *       - SO_REUSEPORT: two TCP listeners on one port in this process and one in a child,
 *         two UDP sockets on one port (after the child exits, a new connection to the port
 *         is accepted by one of this process's listeners);
 *       - SO_BINDTODEVICE "lo": a TCP listener and a UDP socket;
 *       - IP_FREEBIND: a TCP listener on 192.0.2.7 and a UDP socket on [2001:db8::7]
 *         (IPV6_FREEBIND), addresses this host does not have; IP_TRANSPARENT: a UDP socket
 *         on 198.51.100.9.
 *       After SIGTERM: the same addresses and options, the reuseport listeners all still
 *       accept on their shared port, the device-bound listener accepts.
 *   tcpclose --out FILE --device NAME
 *       a TCP listener and a UDP socket bound to device NAME (the test's own network
 *       namespace); after SIGTERM: still bound to it, same addresses.
 */
#include "net.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/wait.h>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

static int state_of(int fd)
{
	struct tcp_info ti = { 0 };
	socklen_t l = sizeof ti;
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l);
	return ti.tcpi_state;
}

static const char *sname(int s)
{
	static const char *n[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };
	return s >= 0 && s <= 11 ? n[s] : "?";
}

static void wait_state(int fd, int want, const char *what, int setup)
{
	for (int i = 0; i < (setup ? 500 : wait_ms / 10) && state_of(fd) != want; i++)
		case_sleep_ms(10);
	if (state_of(fd) == want)
		return;
	if (setup)
		case_setup_fail("%s: state %s, expected %s", what, sname(state_of(fd)), sname(want));
	case_fail("%s: state %s, expected %s", what, sname(state_of(fd)), sname(want));
}

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
	ioctl(s, SIOCOUTQNSD, &nsd);
	if (nsd == 0)
		case_setup_fail("every byte was sent: the FIN would not wait");
}

/* Reads the FILL bytes, then expects EOF. */
static void drain_fill(int r, const char *what)
{
	static unsigned char got[FILL];
	if (read_exact(r, got, FILL, what) == 0 && memcmp(got, fill, FILL))
		case_fail("%s: the bytes differ", what);
}

static void expect_eof(int fd, const char *what)
{
	char b;
	if (!wait_in(fd, wait_ms))
		case_fail("%s: no EOF", what);
	else if (recv(fd, &b, 1, MSG_DONTWAIT) != 0)
		case_fail("%s: expected EOF, got %s", what, case_errname(errno));
}

static void expect_epipe(int fd, const char *what)
{
	if (send(fd, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		case_fail("%s: a write gives %s, expected EPIPE", what, case_errname(errno));
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

	/* FIN_WAIT1 (i), FIN sent and never acknowledged: j drops every packet */
	static struct sock_filter dropall[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, dropall };
	int j, i = connect_to(l, &j), outq = 0, nsd = 1;
	if (i < 0 || setsockopt(j, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 || send(i, "zzzz", 4, 0) != 4 || shutdown(i, SHUT_WR) < 0)
		die("fin-wait1 (sent) pair");
	for (int k = 0; k < 500 && (outq != 5 || nsd != 0); k++) {
		ioctl(i, SIOCOUTQ, &outq), ioctl(i, SIOCOUTQNSD, &nsd);
		case_sleep_ms(10);
	}
	if (outq != 5 || nsd != 0 || state_of(i) != TCP_FIN_WAIT1)
		case_setup_fail("4 bytes and the FIN not in flight (%d queued, %d unsent, %s)", outq, nsd, sname(state_of(i)));

	case_ready();
	case_wait_term();
	/* bytes held back by a full window or lost come with retransmissions and probes, which
	 * back off: a bound, not a timing */
	wait_ms = 60000;

	/* the states as they were */
	const struct { int fd, st; const char *what; } want[] = {
		{ b, TCP_CLOSE_WAIT, "close-wait end" }, { a, TCP_FIN_WAIT2, "fin-wait2 end" }, { c, TCP_FIN_WAIT1, "fin-wait1 end" },
		{ d, TCP_ESTABLISHED, "fin-wait1 peer" }, { e, TCP_LAST_ACK, "last-ack end" }, { f, TCP_FIN_WAIT2, "last-ack peer" },
		{ g, TCP_CLOSING, "closing end" }, { h, TCP_FIN_WAIT2, "closing peer" }, { i, TCP_FIN_WAIT1, "fin-wait1 (sent) end" },
		{ j, TCP_ESTABLISHED, "fin-wait1 (sent) peer" },
	};
	for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
		if (state_of(want[k].fd) != want[k].st)
			case_fail("%s: state %s after restart, expected %s", want[k].what, sname(state_of(want[k].fd)), sname(want[k].st));

	/* FIN_WAIT1 (sent): the peer's filter is still there, then removed at once (the bytes and
	 * the FIN come with the next retransmission, checked last) */
	socklen_t flen = 0;
	if (getsockopt(j, SOL_SOCKET, SO_GET_FILTER, NULL, &flen) < 0 || flen != 1)
		case_fail("fin-wait1 (sent) peer: its socket filter is gone (%u instructions)", flen);
	int z = 0;
	if (setsockopt(j, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z) < 0)
		case_fail("fin-wait1 (sent) peer: SO_DETACH_FILTER: %s", case_errname(errno));

	/* CLOSE_WAIT: the queued bytes, EOF, then it still writes and closes */
	expect_text(b, "a->b!", "close-wait end: queued bytes");
	expect_eof(b, "close-wait end");
	send_text(b, "more", "close-wait end");
	expect_text(a, "b->a!more", "fin-wait2 end: queued bytes and the peer's later ones");
	expect_epipe(a, "fin-wait2 end");
	close(b);
	expect_eof(a, "fin-wait2 end");

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

	/* FIN_WAIT1 (sent): once the filter is gone, the retransmitted bytes and FIN arrive */
	expect_text(j, "zzzz", "fin-wait1 (sent) peer: retransmitted bytes");
	expect_eof(j, "fin-wait1 (sent) peer");
	wait_state(i, TCP_FIN_WAIT2, "fin-wait1 (sent) end, once acknowledged", 0);
	case_finish();
	return 0;
}

static int outside(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int c = sock(AF_INET, SOCK_STREAM);
	if (connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect to the outside peer");
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

static int bound_sock(int fam, int type, const char *addr, int port, const int *opts, int nopts)
{
	int s = sock(fam, type), one = 1;
	for (int i = 0; i < nopts; i += 2)
		if (setsockopt(s, opts[i], opts[i + 1], &one, sizeof one) < 0)
			die("setsockopt");
	struct sockaddr_storage a = { 0 };
	socklen_t al;
	if (fam == AF_INET) {
		struct sockaddr_in *i = (void *)&a;
		i->sin_family = AF_INET, i->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &i->sin_addr);
		al = sizeof *i;
	} else {
		struct sockaddr_in6 *i = (void *)&a;
		i->sin6_family = AF_INET6, i->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &i->sin6_addr);
		al = sizeof *i;
	}
	if (bind(s, (struct sockaddr *)&a, al) < 0)
		die("bind");
	if (type == SOCK_STREAM && listen(s, 4) < 0)
		die("listen");
	return s;
}

static int port_of(int s)
{
	struct sockaddr_storage a;
	socklen_t al = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &al);
	return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static void bound_dev(int s, const char *dev, const char *what)
{
	char name[IFNAMSIZ] = "";
	socklen_t l = sizeof name;
	if (getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, name, &l) < 0 || strcmp(name, dev))
		case_fail("%s: bound to device \"%s\", expected \"%s\"", what, name, dev);
}

/* A TCP listener and a UDP socket bound to a device of the network namespace (any address). */
static int device(const char *dev)
{
	int dl = sock(AF_INET, SOCK_STREAM), du = sock(AF_INET, SOCK_DGRAM);
	struct sockaddr_in any = { .sin_family = AF_INET };
	if (setsockopt(dl, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev) + 1) < 0 ||
	    setsockopt(du, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev) + 1) < 0)
		die("SO_BINDTODEVICE");
	if (bind(dl, (struct sockaddr *)&any, sizeof any) < 0 || listen(dl, 4) < 0 || bind(du, (struct sockaddr *)&any, sizeof any) < 0)
		die("bind (device)");
	struct names nl, nu;
	names_of(dl, &nl), names_of(du, &nu);
	case_ready();
	case_wait_term();
	same_names(dl, &nl, "device-bound listener");
	same_names(du, &nu, "device-bound UDP socket");
	bound_dev(dl, dev, "device-bound listener");
	bound_dev(du, dev, "device-bound UDP socket");
	if (opt(dl, SOL_SOCKET, SO_ACCEPTCONN) != 1)
		case_fail("device-bound listener: not listening");
	case_finish();
	return 0;
}

static int bound(void)
{
	const int rp[] = { SOL_SOCKET, SO_REUSEPORT };
	int l1 = bound_sock(AF_INET, SOCK_STREAM, "127.0.0.1", 0, rp, 2), port = port_of(l1);
	int l2 = bound_sock(AF_INET, SOCK_STREAM, "127.0.0.1", port, rp, 2);
	int u1 = bound_sock(AF_INET, SOCK_DGRAM, "127.0.0.1", 0, rp, 2), uport = port_of(u1);
	int u2 = bound_sock(AF_INET, SOCK_DGRAM, "127.0.0.1", uport, rp, 2);
	int rq[2], an[2];
	case_pipe(rq, "request pipe"), case_pipe(an, "answer pipe");
	pid_t kid = fork();
	if (kid == 0) { /* a third listener on the port, in another task */
		close(rq[1]), close(an[0]);
		int l3 = bound_sock(AF_INET, SOCK_STREAM, "127.0.0.1", port, rp, 2);
		char x;
		if (write(an[1], "r", 1) != 1 || read(rq[0], &x, 1) != 1)
			_exit(1);
		int ok = opt(l3, SOL_SOCKET, SO_REUSEPORT) == 1 && port_of(l3) == port && opt(l3, SOL_SOCKET, SO_ACCEPTCONN) == 1;
		_exit(write(an[1], ok ? "y" : "n", 1) == 1 ? 0 : 1);
	}
	close(rq[0]), close(an[1]);
	char x;
	if (read(an[0], &x, 1) != 1)
		case_setup_fail("the child listener is not ready");

	int dl = sock(AF_INET, SOCK_STREAM), du = sock(AF_INET, SOCK_DGRAM);
	if (setsockopt(dl, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) < 0 || setsockopt(du, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) < 0)
		die("SO_BINDTODEVICE");
	struct sockaddr_in la = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
	if (bind(dl, (struct sockaddr *)&la, sizeof la) < 0 || listen(dl, 4) < 0 || bind(du, (struct sockaddr *)&la, sizeof la) < 0)
		die("bind (device)");

	const int fb[] = { IPPROTO_IP, IP_FREEBIND }, fb6[] = { IPPROTO_IPV6, IPV6_FREEBIND }, tr[] = { IPPROTO_IP, IP_TRANSPARENT };
	int fl = bound_sock(AF_INET, SOCK_STREAM, "192.0.2.7", 0, fb, 2);
	int fu6 = bound_sock(AF_INET6, SOCK_DGRAM, "2001:db8::7", 0, fb6, 2);
	int tu = bound_sock(AF_INET, SOCK_DGRAM, "198.51.100.9", 0, tr, 2);

	struct names n[9];
	const int fds[9] = { l1, l2, u1, u2, dl, du, fl, fu6, tu };
	for (int i = 0; i < 9; i++)
		names_of(fds[i], &n[i]);
	case_ready();
	case_wait_term();

	const char *what[9] = { "reuseport listener 1", "reuseport listener 2", "reuseport UDP 1", "reuseport UDP 2", "device-bound listener",
				"device-bound UDP", "freebind listener", "freebind UDP (IPv6)", "transparent UDP" };
	for (int i = 0; i < 9; i++)
		same_names(fds[i], &n[i], what[i]);
	for (int i = 0; i < 4; i++)
		if (opt(fds[i], SOL_SOCKET, SO_REUSEPORT) != 1)
			case_fail("%s: SO_REUSEPORT is off", what[i]);
	if (write(rq[1], "g", 1) != 1 || read(an[0], &x, 1) != 1 || x != 'y')
		case_fail("the child's reuseport listener lost its option, port or listening state");
	case_reap_child("reuseport child", kid, 5000);
	/* a new connection to the shared port reaches one of the listeners of this process or the
	 * child (gone now): accepted by l1 or l2 */
	int cc = connect_to(l1, NULL), got = 0;
	for (int k = 0; k < 2 && cc >= 0; k++) {
		int lf = k ? l2 : l1;
		if (wait_in(lf, k ? 1000 : 200)) {
			int acc = accept(lf, NULL, NULL);
			got = acc >= 0;
			close(acc);
			break;
		}
	}
	if (!got)
		case_fail("a connection to the shared port is accepted by neither listener");
	close(cc);
	bound_dev(dl, "lo", what[4]);
	bound_dev(du, "lo", what[5]);
	accepts(dl, what[4]);
	if (opt(fl, IPPROTO_IP, IP_FREEBIND) != 1 || opt(fu6, IPPROTO_IPV6, IPV6_FREEBIND) != 1)
		case_fail("IP_FREEBIND / IPV6_FREEBIND is off");
	if (opt(tu, IPPROTO_IP, IP_TRANSPARENT) != 1)
		case_fail("IP_TRANSPARENT is off");
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
	if (case_has_flag(argc, argv, "--bound"))
		return bound();
	if (case_arg(argc, argv, "--device"))
		return device(case_arg(argc, argv, "--device"));
	case_die_usage(argv[0], "--states, --connect PORT, --bound or --device NAME");
}
