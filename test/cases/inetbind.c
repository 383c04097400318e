// build: gcc -O2 -g -Wall -Wextra -o inetbind inetbind.c
/*
 * inetbind.c - TCP and UDP sockets bound in ways a plain bind cannot repeat.
 *
 *   inetbind --out FILE --bound
 *       - SO_REUSEPORT: two TCP listeners on one port in this process and one in a child,
 *         two UDP sockets on one port (after the child exits, a new connection to the port
 *         is accepted by one of this process's listeners);
 *       - SO_BINDTODEVICE "lo": a TCP listener and a UDP socket;
 *       - IP_FREEBIND: a TCP listener on 192.0.2.7 and a UDP socket on [2001:db8::7]
 *         (IPV6_FREEBIND), addresses this host does not have; IP_TRANSPARENT: a UDP socket
 *         on 198.51.100.9.
 *       - options turned off after bind: SO_REUSEPORT on one of two listeners of a port,
 *         IPV6_FREEBIND on a UDP socket on [2001:db8::8];
 *       After SIGTERM: the same addresses and options, the reuseport listeners all still
 *       accept on their shared port, the device-bound listener accepts.
 *   inetbind --out FILE --syn-sent
 *       a connection being opened, which a checkpoint refuses (see syn_sent()).
 *   inetbind --out FILE --device NAME
 *       a TCP listener and a UDP socket bound to device NAME (the test's own network
 *       namespace); after SIGTERM: still bound to it, same addresses.
 */
#include "net.h"

#include <net/if.h>
#include <sys/wait.h>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

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

	/* options turned off after bind: SO_REUSEPORT on one of two listeners sharing a port (the
	 * other keeps it), IPV6_FREEBIND on a UDP socket bound to an address the host does not have */
	int l4 = bound_sock(AF_INET, SOCK_STREAM, "127.0.0.1", 0, rp, 2), l5 = bound_sock(AF_INET, SOCK_STREAM, "127.0.0.1", port_of(l4), rp, 2);
	int fo6 = bound_sock(AF_INET6, SOCK_DGRAM, "2001:db8::8", 0, fb6, 2), zero = 0;
	if (setsockopt(l4, SOL_SOCKET, SO_REUSEPORT, &zero, sizeof zero) < 0 || setsockopt(fo6, IPPROTO_IPV6, IPV6_FREEBIND, &zero, sizeof zero) < 0)
		die("setsockopt (off)");

	struct names n[12];
	const int fds[12] = { l1, l2, u1, u2, dl, du, fl, fu6, tu, l4, l5, fo6 };
	for (int i = 0; i < 12; i++)
		names_of(fds[i], &n[i]);
	case_ready();
	case_wait_term();

	const char *what[12] = { "reuseport listener 1", "reuseport listener 2", "reuseport UDP 1", "reuseport UDP 2", "device-bound listener",
				 "device-bound UDP", "freebind listener", "freebind UDP (IPv6)", "transparent UDP", "listener with SO_REUSEPORT turned off",
				 "its reuseport companion", "UDP with IPV6_FREEBIND turned off" };
	for (int i = 0; i < 12; i++)
		same_names(fds[i], &n[i], what[i]);
	if (opt(l4, SOL_SOCKET, SO_REUSEPORT) != 0 || opt(l5, SOL_SOCKET, SO_REUSEPORT) != 1)
		case_fail("SO_REUSEPORT turned off on one listener of a shared port: now %d and %d (expected 0 and 1)", opt(l4, SOL_SOCKET, SO_REUSEPORT),
			  opt(l5, SOL_SOCKET, SO_REUSEPORT));
	if (opt(l4, SOL_SOCKET, SO_ACCEPTCONN) != 1 || opt(l5, SOL_SOCKET, SO_ACCEPTCONN) != 1)
		case_fail("a listener of the shared port is not listening");
	if (opt(fo6, IPPROTO_IPV6, IPV6_FREEBIND) != 0)
		case_fail("IPV6_FREEBIND turned off after bind is on again");
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

/* --syn-sent: a connection being opened (its listener drops every SYN with a socket filter):
 * checkpoint refuses it; after SIGTERM it is still SYN_SENT, and connects once the filter goes. */
static int syn_sent(void)
{
	static struct sock_filter dropall[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, dropall };
	int l = listener(AF_INET, "127.0.0.1", 4, 0), z = 0;
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	int c = sock(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
	if (setsockopt(l, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 || getsockname(l, (struct sockaddr *)&a, &al) < 0 ||
	    (connect(c, (struct sockaddr *)&a, al) < 0 && errno != EINPROGRESS))
		die("connect (syn-sent)");
	case_ready();
	case_wait_term();
	struct tcp_info ti = { 0 };
	socklen_t tl = sizeof ti;
	if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0 || ti.tcpi_state != TCP_SYN_SENT)
		case_fail("not SYN_SENT any more (state %d)", ti.tcpi_state);
	if (setsockopt(l, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z) < 0)
		case_fail("SO_DETACH_FILTER: %s", case_errname(errno));
	struct pollfd pf = { c, POLLOUT, 0 };
	if (poll(&pf, 1, 60000) != 1 || opt(c, SOL_SOCKET, SO_ERROR) != 0)
		case_fail("the connection is not made once its SYN passes");
	case_finish();
	return 0;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	signal(SIGPIPE, SIG_IGN);
	if (case_has_flag(argc, argv, "--bound"))
		return bound();
	if (case_arg(argc, argv, "--device"))
		return device(case_arg(argc, argv, "--device"));
	if (case_has_flag(argc, argv, "--syn-sent"))
		return syn_sent();
	case_die_usage(argv[0], "--bound, --device NAME or --syn-sent");
}
