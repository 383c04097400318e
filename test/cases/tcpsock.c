// build: gcc -O2 -g -Wall -Wextra -o tcpsock tcpsock.c
/*
 * tcpsock.c - TCP and UDP sockets on loopback keep their addresses, options, connections and
 * the bytes in flight.
 *
 *   tcpsock --out FILE [--outside-dgram]
 *       the full case (below; tcppeer.c: an outside peer, refusals); the bound UDP socket's port
 *       goes to FILE.udpport; with --outside-dgram a third datagram, "outside", is expected at
 *       it after the two queued ones (the test sends it before the checkpoint)
 *
 * Full case, set up before ready:
 *  - a listener on 127.0.0.1 (SO_REUSEADDR, backlog 5) with one accepted connection: 8 bytes
 *    queued at the server ("ping1234"), 5 at the client ("hello"); TCP_NODELAY and IP_TOS on
 *    the client, SO_KEEPALIVE + TCP_KEEPIDLE 77 + TCP_USER_TIMEOUT on the server side;
 *  - a second connection whose sender (SO_SNDBUF 4 MiB, non-blocking) wrote 1 MiB that the
 *    receiver has not read: part queued at the receiver, the rest in the sender's send queue;
 *  - a half-closed connection: the client wrote "bye" and shut down writing;
 *  - a connection reset by its peer with 4 bytes left to read (then ECONNRESET, EOF, EPIPE) and
 *    one whose peer closed after writing 4 bytes (then EOF);
 *  - a connection never accepted, waiting in the listener's accept queue (accepted first after
 *    the restart, from the same address);
 *  - a connection whose receiver drops every packet (a socket filter of its own): 7 bytes sent
 *    and never acknowledged; after restart the filter is still there, then removed, and the
 *    bytes arrive (retransmitted);
 *  - an IPv6 listener on [::1] (IPV6_V6ONLY, backlog 3) with a connection, 3 bytes queued;
 *  - two UDP sockets: one bound (SO_BROADCAST), one bound and connected to it; two datagrams
 *    queued at the first, one at the second.
 * After SIGTERM: every address is unchanged, the queued bytes arrive once and in order,
 * replies flow, options are kept, both listeners accept new connections, the half-closed
 * connection reads "bye" then EOF and can still answer, the queued datagrams arrive from their
 * senders in order, datagrams flow both ways.
 */
#include "net.h"

#define BIG (1 << 20)

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	case_seed();
	signal(SIGPIPE, SIG_IGN);

	int one = 1, idle = 77, big = 4 << 20;
	int l = listener(AF_INET, "127.0.0.1", 5, 0);
	int sa, c = connect_to(l, &sa);
	if (c < 0)
		die("connect");
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(sa, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(sa, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	int tos = 0x10, uto = 12345;
	setsockopt(c, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
	setsockopt(sa, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof uto);
	if (send(c, "ping1234", 8, 0) != 8 || send(sa, "hello", 5, 0) != 5)
		die("send");

	int rb, sb = connect_to(l, &rb);
	if (sb < 0)
		die("connect (big)");
	setsockopt(sb, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	fcntl(sb, F_SETFL, O_NONBLOCK);
	static unsigned char data[BIG], back[BIG];
	case_fill(data, BIG);
	for (size_t off = 0; off < BIG;) {
		struct pollfd p = { sb, POLLOUT, 0 };
		if (poll(&p, 1, 10000) != 1)
			case_setup_fail("1 MiB does not fit into the connection's buffers (%zu written)", off);
		ssize_t n = send(sb, data + off, BIG - off, 0);
		if (n < 0 && errno != EAGAIN)
			die("send (big)");
		off += n > 0 ? (size_t)n : 0;
	}

	int hs, hc = connect_to(l, &hs);
	if (hc < 0 || send(hc, "bye", 3, 0) != 3 || shutdown(hc, SHUT_WR) < 0)
		die("half-close");
	struct tcp_info ti;
	for (int i = 0; i < 500; i++) { /* the FIN arrived: close-wait / fin-wait2 */
		socklen_t tl = sizeof ti;
		getsockopt(hs, IPPROTO_TCP, TCP_INFO, &ti, &tl);
		if (ti.tcpi_state == TCP_CLOSE_WAIT)
			break;
		case_sleep_ms(10);
	}

	/* bytes sent and never acknowledged: the receiver drops every packet (a socket filter) */
	int ur, us = connect_to(l, &ur), outq = 0, nsd = 1;
	static struct sock_filter dropall[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, dropall };
	if (us < 0 || setsockopt(ur, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 || send(us, "unacked", 7, 0) != 7)
		die("unacknowledged bytes");
	for (int i = 0; i < 500 && (outq != 7 || nsd != 0); i++) {
		ioctl(us, SIOCOUTQ, &outq);
		ioctl(us, SIOCOUTQNSD, &nsd);
		if (outq != 7 || nsd != 0)
			case_sleep_ms(10);
	}
	if (outq != 7 || nsd != 0)
		case_setup_fail("the 7 bytes are not sent and unacknowledged (%d queued, %d unsent)", outq, nsd);

	/* connections that are over: one reset by its peer with 4 bytes left to read (the error
	 * waits), one whose peer closed after writing 4 bytes (the peer is gone: close-wait) */
	int rs, rc = connect_to(l, &rs), es, ec = connect_to(l, &es);
	struct linger lg0 = { 1, 0 };
	if (rc < 0 || ec < 0 || send(rs, "left", 4, 0) != 4 || send(es, "eof!", 4, 0) != 4)
		die("closed connections");
	case_sleep_ms(50);
	setsockopt(rs, SOL_SOCKET, SO_LINGER, &lg0, sizeof lg0);
	close(rs);
	close(es);
	for (int i = 0; i < 500; i++) {
		struct tcp_info a, b;
		socklen_t al = sizeof a, bl = sizeof b;
		getsockopt(rc, IPPROTO_TCP, TCP_INFO, &a, &al);
		getsockopt(ec, IPPROTO_TCP, TCP_INFO, &b, &bl);
		if (a.tcpi_state == TCP_CLOSE && b.tcpi_state == TCP_CLOSE_WAIT)
			break;
		case_sleep_ms(10);
	}

	/* a connection never accepted: it waits in the listener's accept queue */
	int pc = connect_to(l, NULL);
	if (pc < 0)
		die("connect (pending)");
	struct names npc;
	names_of(pc, &npc);

	int l6 = listener(AF_INET6, "::1", 3, 0);
	int s6, c6 = connect_to(l6, &s6);
	if (c6 < 0 || send(c6, "six", 3, 0) != 3)
		die("IPv6 connection");

	int u1 = sock(AF_INET, SOCK_DGRAM), u2 = sock(AF_INET, SOCK_DGRAM);
	struct sockaddr_in ua = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &ua.sin_addr);
	setsockopt(u1, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
	if (bind(u1, (struct sockaddr *)&ua, sizeof ua) < 0 || bind(u2, (struct sockaddr *)&ua, sizeof ua) < 0)
		die("bind (udp)");
	struct names n1, n2, nc, ns, nl, nl6, nu1, nu2, nh;
	names_of(u1, &n1);
	if (connect(u2, (struct sockaddr *)&n1.self, n1.sl) < 0)
		die("connect (udp)");
	names_of(u2, &n2);
	if (send(u2, "q1", 2, 0) != 2 || send(u2, "queued-2", 8, 0) != 8 || sendto(u1, "r", 1, 0, (struct sockaddr *)&n2.self, n2.sl) != 1)
		die("send (udp)");
	for (int i = 0; i < 500 && !wait_in(u2, 0); i++)
		case_sleep_ms(10);
	names_of(c, &nc), names_of(sa, &ns), names_of(l, &nl), names_of(l6, &nl6), names_of(u1, &nu1), names_of(u2, &nu2), names_of(hs, &nh);
	struct names n6;
	names_of(c6, &n6);

	char port[16];
	snprintf(port, sizeof port, "%d\n", ntohs(((struct sockaddr_in *)&nu1.self)->sin_port));
	if (case_write_aux(".udpport", port) < 0)
		die("FILE.udpport");
	case_ready();
	case_wait_term();

	same_names(l, &nl, "listener"), same_names(l6, &nl6, "IPv6 listener");
	same_names(c, &nc, "client"), same_names(sa, &ns, "accepted"), same_names(hs, &nh, "half-closed server");
	same_names(u1, &nu1, "bound UDP socket"), same_names(u2, &nu2, "connected UDP socket");
	if (opt(l, SOL_SOCKET, SO_REUSEADDR) != 1)
		case_fail("listener: SO_REUSEADDR is lost");
	if (opt(l6, IPPROTO_IPV6, IPV6_V6ONLY) != 1)
		case_fail("IPv6 listener: IPV6_V6ONLY is lost");
	if (opt(c, IPPROTO_TCP, TCP_NODELAY) != 1)
		case_fail("client: TCP_NODELAY is lost");
	if (opt(sa, SOL_SOCKET, SO_KEEPALIVE) != 1 || opt(sa, IPPROTO_TCP, TCP_KEEPIDLE) != 77)
		case_fail("accepted: SO_KEEPALIVE / TCP_KEEPIDLE 77 lost (%d, %d)", opt(sa, SOL_SOCKET, SO_KEEPALIVE), opt(sa, IPPROTO_TCP, TCP_KEEPIDLE));
	if (opt(c, IPPROTO_IP, IP_TOS) != 0x10 || opt(sa, IPPROTO_TCP, TCP_USER_TIMEOUT) != 12345)
		case_fail("IP_TOS 0x10 / TCP_USER_TIMEOUT 12345 lost (%d, %d)", opt(c, IPPROTO_IP, IP_TOS), opt(sa, IPPROTO_TCP, TCP_USER_TIMEOUT));
	if (opt(u1, SOL_SOCKET, SO_BROADCAST) != 1)
		case_fail("UDP: SO_BROADCAST is lost");

	expect_text(sa, "ping1234", "the 8 bytes queued at the server");
	expect_text(c, "hello", "the 5 bytes queued at the client");
	send_text(sa, "pong", "reply");
	expect_text(c, "pong", "the reply");

	if (read_exact(rb, back, BIG, "the 1 MiB queued") == 0 && memcmp(back, data, BIG))
		case_fail("the 1 MiB arrived changed");
	send_text(rb, "done", "answer to the 1 MiB");
	expect_text(sb, "done", "answer to the 1 MiB");

	expect_text(hs, "bye", "half-closed: the bytes before the FIN");
	char b;
	if (!wait_in(hs, 5000) || recv(hs, &b, 1, MSG_DONTWAIT) != 0)
		case_fail("half-closed: no EOF after the queued bytes");
	send_text(hs, "ok", "half-closed: answer");
	expect_text(hc, "ok", "half-closed: the answer");

	same_names(c6, &n6, "IPv6 client");
	expect_text(s6, "six", "IPv6: the 3 bytes queued");
	send_text(s6, "vi", "IPv6: reply");
	expect_text(c6, "vi", "IPv6: the reply");
	int pa = wait_in(l, 5000) ? accept(l, NULL, NULL) : -1;
	struct names npa;
	if (pa < 0)
		case_fail("the connection waiting in the accept queue is lost");
	else {
		names_of(pa, &npa);
		if (npa.pl != npc.sl || memcmp(&npa.peer, &npc.self, npa.pl))
			case_fail("the connection accepted first is not the one that waited in the accept queue");
		send_text(pc, "w", "pending connection");
		expect_text(pa, "w", "pending connection");
	}
	accepts(l, "listener"), accepts(l6, "IPv6 listener");

	expect_text(rc, "left", "reset connection: the bytes left");
	errno = 0;
	if (recv(rc, &b, 1, MSG_DONTWAIT) != -1 || errno != ECONNRESET)
		case_fail("reset connection: after the bytes left: %s, expected ECONNRESET", case_errname(errno));
	if (recv(rc, &b, 1, MSG_DONTWAIT) != 0)
		case_fail("reset connection: no EOF after the reset");
	if (send(rc, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		case_fail("reset connection: a write gives %s, expected EPIPE", case_errname(errno));
	expect_text(ec, "eof!", "closed connection: the bytes left");
	if (!wait_in(ec, 5000) || recv(ec, &b, 1, MSG_DONTWAIT) != 0)
		case_fail("closed connection: no EOF after the bytes left");

	socklen_t flen = 0;
	int inq = -1;
	ioctl(ur, FIONREAD, &inq);
	if (getsockopt(ur, SOL_SOCKET, SO_GET_FILTER, NULL, &flen) < 0 || flen != 1)
		case_fail("unacknowledged: the receiver's socket filter is lost (%u instructions)", flen);
	else if (inq != 0)
		case_fail("unacknowledged: %d bytes arrived through the receiver's drop-all filter", inq);
	int z = 0;
	setsockopt(ur, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z);
	wait_ms = 60000; /* the sender retransmits, backing off */
	expect_text(ur, "unacked", "the 7 bytes sent but not acknowledged");
	wait_ms = 5000;

	struct sockaddr_storage from;
	socklen_t fl;
	char buf[64];
	ssize_t n;
	static const char *const queued[2] = { "q1", "queued-2" };
	for (int i = 0; i < 2; i++) {
		fl = sizeof from;
		n = recvfrom(u1, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n != (ssize_t)strlen(queued[i]) || memcmp(buf, queued[i], (size_t)n) || fl != nu2.sl || memcmp(&from, &nu2.self, fl))
			case_fail("UDP: queued datagram %d (\"%s\") is not the next one from its sender (%zd %s)", i + 1, queued[i], n, n < 0 ? case_errname(errno) : "");
	}
	if (case_has_flag(argc, argv, "--outside-dgram") &&
	    ((n = recv(u1, buf, sizeof buf, MSG_DONTWAIT)) != 7 || memcmp(buf, "outside", 7)))
		case_fail("UDP: the datagram from outside (\"outside\") is not the third one (%zd)", n);
	if (recv(u2, buf, sizeof buf, MSG_DONTWAIT) != 1 || buf[0] != 'r')
		case_fail("UDP: the datagram queued at the connected socket is lost");
	send_text(u2, "dgram", "UDP");
	fl = sizeof from;
	n = wait_in(u1, 5000) ? recvfrom(u1, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl) : -1;
	if (n != 5 || memcmp(buf, "dgram", 5) || fl != nu2.sl || memcmp(&from, &nu2.self, fl))
		case_fail("UDP: the datagram from the connected socket did not arrive from its address (%zd)", n);
	if (sendto(u1, "back", 4, 0, (struct sockaddr *)&nu2.self, nu2.sl) != 4 || !wait_in(u2, 5000) || recv(u2, buf, sizeof buf, MSG_DONTWAIT) != 4)
		case_fail("UDP: the answer did not arrive");
	case_finish();
}
