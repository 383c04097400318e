// build: gcc -O2 -g -Wall -Wextra -o nlpeer nlpeer.c
/*
 * nlpeer.c - connected netlink sockets and a connected raw IPv6 socket come back connected
 * (issue 17). Its own sockets only.
 *
 *   nlpeer --out FILE
 *
 * Sets up two NETLINK_USERSOCK datagram sockets bound to port ids 0x7b000000 + pid and
 * 0x7c000000 + pid, the first connected to the second (the second not connected: it takes
 * messages from anyone), a NETLINK_ROUTE socket connected to the kernel (port id 0: it takes
 * messages from the kernel only), a raw ICMPv6 socket bound and connected to ::1, and a raw
 * ICMP socket bound to lo with SO_BINDTODEVICE (read back after the restart). After
 * SIGTERM: the first sends to its peer without an address and the second gets it; the route
 * socket still refuses messages from the first (it stays connected to the kernel); the raw
 * socket sends without an address.
 */
#include "net.h"

#include <linux/netlink.h>
#include <netinet/icmp6.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	struct sockaddr_nl me = { .nl_family = AF_NETLINK, .nl_pid = 0x7b000000u + (unsigned)getpid() };
	struct sockaddr_nl peer = { .nl_family = AF_NETLINK, .nl_pid = 0x7c000000u + (unsigned)getpid() };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int a = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_USERSOCK), b = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_USERSOCK);
	int route = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (a < 0 || b < 0 || route < 0 || bind(a, (void *)&me, sizeof me) < 0 || bind(b, (void *)&peer, sizeof peer) < 0 ||
	    connect(a, (void *)&peer, sizeof peer) < 0 || connect(route, (void *)&kernel, sizeof kernel) < 0)
		die("netlink sockets");
	int r6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	struct sockaddr_in6 l6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	if (r6 < 0 || bind(r6, (void *)&l6, sizeof l6) < 0 || connect(r6, (void *)&l6, sizeof l6) < 0)
		die("raw ICMPv6 on ::1");
	int dev = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); /* bound to lo with SO_BINDTODEVICE */
	if (dev < 0 || setsockopt(dev, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2) < 0)
		die("raw ICMP bound to lo");
	struct timeval t = { 5, 0 };
	setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
	case_ready();
	case_wait_term();

	struct sockaddr_nl got;
	socklen_t gl = sizeof got;
	if (getpeername(a, (void *)&got, &gl) < 0 || got.nl_pid != peer.nl_pid)
		case_fail("netlink: connected to port %u, was %u", got.nl_pid, peer.nl_pid);
	char msg[32] = "";
	if (send(a, "to the peer", 11, 0) != 11)
		case_fail("netlink: send to the connected peer: %s", strerror(errno));
	else if (recv(b, msg, sizeof msg, 0) != 11 || memcmp(msg, "to the peer", 11))
		case_fail("netlink: the peer got \"%s\" (%s)", msg, strerror(errno));
	struct sockaddr_nl to_route;
	socklen_t rl = sizeof to_route;
	int other = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); /* a port of its own, not the kernel */
	if (getsockname(route, (void *)&to_route, &rl) < 0 || !to_route.nl_pid || other < 0)
		case_fail("netlink: the route socket has no port id after the restart");
	else if (sendto(other, "x", 1, 0, (void *)&to_route, sizeof to_route) >= 0 || errno != ECONNREFUSED)
		case_fail("netlink: the route socket connected to the kernel took a message from another port (%s)", strerror(errno));
	struct icmp6_hdr e = { .icmp6_type = ICMP6_ECHO_REQUEST };
	if (send(r6, &e, sizeof e, 0) != sizeof e)
		case_fail("raw ICMPv6: send without an address after the restart: %s", strerror(errno));
	char name[16] = "";
	socklen_t nl = sizeof name;
	if (getsockopt(dev, SOL_SOCKET, SO_BINDTODEVICE, name, &nl) < 0 || strcmp(name, "lo"))
		case_fail("raw ICMP: bound to device \"%s\" after the restart, was lo", name);
	case_finish();
	return 0;
}
