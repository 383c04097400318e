// build: gcc -O2 -g -Wall -Wextra -o udplite udplite.c
/*
 * udplite.c - UDP-Lite sockets (IPPROTO_UDPLITE) keep their protocol, names, checksum
 * coverage and queued datagrams.
 *
 *   udplite --out FILE
 *       For IPv4 (127.0.0.1) and IPv6 (::1): a UDP-Lite socket bound to any port and one
 *       connected to it with UDPLITE_SEND_CSCOV 20 and UDPLITE_RECV_CSCOV 24; a datagram
 *       queued at the bound socket from the connected one.
 *       After SIGTERM: both still UDP-Lite (SO_PROTOCOL), the same names and coverage, the
 *       queued datagram read with its sender, and a new datagram goes each way.
 */
#include "net.h"

#define CSCOV_SEND 10 /* UDPLITE_SEND_CSCOV */
#define CSCOV_RECV 11 /* UDPLITE_RECV_CSCOV */

static int bound(int fam)
{
	int s = socket(fam, SOCK_DGRAM, IPPROTO_UDPLITE);
	struct sockaddr_storage a = { 0 };
	socklen_t al = fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	a.ss_family = (sa_family_t)fam;
	if (fam == AF_INET)
		inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&a)->sin_addr);
	else
		inet_pton(AF_INET6, "::1", &((struct sockaddr_in6 *)&a)->sin6_addr);
	if (s < 0 || bind(s, (struct sockaddr *)&a, al) < 0)
		die("UDP-Lite socket");
	return s;
}

static void check(int srv, int cli, const struct names *ns, const struct names *nc, const char *fam)
{
	char what[64], buf[64] = "";
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	snprintf(what, sizeof what, "UDP-Lite (%s)", fam);
	if (opt(srv, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_UDPLITE || opt(cli, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_UDPLITE)
		case_fail("%s: protocol %d and %d, expected UDP-Lite (136)", what, opt(srv, SOL_SOCKET, SO_PROTOCOL), opt(cli, SOL_SOCKET, SO_PROTOCOL));
	same_names(srv, ns, what);
	same_names(cli, nc, what);
	if (opt(cli, IPPROTO_UDPLITE, CSCOV_SEND) != 20 || opt(cli, IPPROTO_UDPLITE, CSCOV_RECV) != 24)
		case_fail("%s: checksum coverage %d/%d, expected 20/24", what, opt(cli, IPPROTO_UDPLITE, CSCOV_SEND), opt(cli, IPPROTO_UDPLITE, CSCOV_RECV));
	if (!wait_in(srv, 5000) || recvfrom(srv, buf, sizeof buf - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl) != 6 || strcmp(buf, "queued") ||
	    fl != nc->sl || memcmp(&from, &nc->self, fl))
		case_fail("%s: the queued datagram is not there, or not from its sender (\"%s\")", what, buf);
	send_text(cli, "after", what);
	memset(buf, 0, sizeof buf);
	if (!wait_in(srv, 5000) || recv(srv, buf, sizeof buf - 1, MSG_DONTWAIT) != 5 || strcmp(buf, "after"))
		case_fail("%s: a new datagram does not arrive", what);
	if (sendto(srv, "back", 4, 0, (struct sockaddr *)&nc->self, nc->sl) != 4 || !wait_in(cli, 5000) || recv(cli, buf, sizeof buf, MSG_DONTWAIT) != 4)
		case_fail("%s: a datagram back does not arrive", what);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int srv[2], cli[2];
	struct names ns[2], nc[2];
	for (int i = 0; i < 2; i++) {
		int fam = i ? AF_INET6 : AF_INET;
		srv[i] = bound(fam), cli[i] = bound(fam);
		struct sockaddr_storage a;
		socklen_t al = sizeof a;
		int sendc = 20, recvc = 24;
		if (getsockname(srv[i], (struct sockaddr *)&a, &al) < 0 || connect(cli[i], (struct sockaddr *)&a, al) < 0 ||
		    setsockopt(cli[i], IPPROTO_UDPLITE, CSCOV_SEND, &sendc, sizeof sendc) < 0 || setsockopt(cli[i], IPPROTO_UDPLITE, CSCOV_RECV, &recvc, sizeof recvc) < 0)
			die("connect / UDPLITE_*_CSCOV");
		if (send(cli[i], "queued", 6, 0) != 6 || !wait_in(srv[i], 5000))
			die("queue a datagram");
		names_of(srv[i], &ns[i]), names_of(cli[i], &nc[i]);
	}
	case_ready();
	case_wait_term();
	check(srv[0], cli[0], &ns[0], &nc[0], "IPv4");
	check(srv[1], cli[1], &ns[1], &nc[1], "IPv6");
	case_finish();
	return 0;
}
