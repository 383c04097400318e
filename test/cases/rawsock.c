// build: gcc -O2 -g -Wall -Wextra -o rawsock rawsock.c
/*
 * rawsock.c - raw IP, packet and netlink sockets come back with their names, options and
 * memberships, and work after the restart (issue 17). Loopback only, its own sockets only.
 *
 *   rawsock --out FILE [--refuse ringv3|spkt]
 *
 * Sets up: a raw ICMP socket with ICMP_FILTER (only echo replies pass), IP_TTL, bound to and
 * connected to 127.0.0.1; a raw socket of protocol 253 with IP_HDRINCL; a raw ICMPv6 socket
 * with an ICMPV6_FILTER and IPV6_FREEBIND; a packet socket (SOCK_DGRAM, ethertype 0x88b5) bound to lo, with
 * PACKET_VERSION TPACKET_V2, PACKET_AUXDATA, a multicast membership on lo (PACKET_MR_MULTICAST,
 * 01:00:5e:7f:00:99, which /proc/net/dev_mcast lists), a classic socket filter, a fanout group; a netlink
 * route socket bound to port id 0x7a000000 + pid with groups 1 and 5 (bind) and 33
 * (NETLINK_ADD_MEMBERSHIP), NETLINK_EXT_ACK and NETLINK_NO_ENOBUFS; a packet socket (SOCK_RAW,
 * 0x88b7, lo) with TPACKET_V2 receive and send rings of 8 frames each, mapped, 3 frames received
 * and read (the kernel fills frame 3 next). After SIGTERM: every name
 * and option is read back and compared, the ICMP socket pings 127.0.0.1 and gets the reply,
 * the packet socket receives a frame sent on lo, the netlink socket dumps the links (RTM_GETLINK)
 * and finds lo; the rings are mapped at the same address, a frame sent through the send ring
 * arrives in receive frame 3.
 */
#include "net.h"

#include <net/if.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sys/mman.h>

#define ETH_TEST 0x88b5
#define ETH_RING 0x88b7 /* the socket with rings */
#define NL_PORT(pid) (0x7a000000u + (unsigned)(pid))

static int icmp, hdr, icmp6, pkt, nl;
static struct sockaddr_storage names[5][2];
static socklen_t namelen[5][2];
static const unsigned char mcaddr[6] = { 0x01, 0x00, 0x5e, 0x7f, 0x00, 0x99 };

static void set(int s, int level, int name, const void *v, socklen_t l, const char *what)
{
	if (setsockopt(s, level, name, v, l) < 0)
		case_setup_fail("setsockopt %s: %s", what, strerror(errno));
}
static void seti(int s, int level, int name, int v, const char *what)
{
	set(s, level, name, &v, sizeof v, what);
}
static int geti(int s, int level, int name)
{
	int v = -12345;
	socklen_t l = sizeof v;
	if (getsockopt(s, level, name, &v, &l) < 0)
		return -errno - 100000;
	return v;
}
static void keep_names(void)
{
	int fds[5] = { icmp, hdr, icmp6, pkt, nl };
	for (int i = 0; i < 5; i++) {
		namelen[i][0] = namelen[i][1] = sizeof names[i][0];
		if (getsockname(fds[i], (void *)&names[i][0], &namelen[i][0]) < 0)
			namelen[i][0] = 0;
		if (getpeername(fds[i], (void *)&names[i][1], &namelen[i][1]) < 0)
			namelen[i][1] = 0;
	}
}
static void names_same(void)
{
	int fds[5] = { icmp, hdr, icmp6, pkt, nl };
	static const char *what[5] = { "raw ICMP", "raw HDRINCL", "raw ICMPv6", "packet", "netlink" };
	for (int i = 0; i < 5; i++) {
		struct sockaddr_storage a[2];
		socklen_t l[2] = { sizeof a[0], sizeof a[1] };
		if (getsockname(fds[i], (void *)&a[0], &l[0]) < 0)
			l[0] = 0;
		if (getpeername(fds[i], (void *)&a[1], &l[1]) < 0)
			l[1] = 0;
		for (int k = 0; k < 2; k++)
			if (l[k] != namelen[i][k] || memcmp(&a[k], &names[i][k], l[k]))
				case_fail("%s socket: its %s name differs after the restart", what[i], k ? "peer" : "own");
	}
}

static int lo_has_mcast(void)
{
	char line[256], want[16];
	snprintf(want, sizeof want, "%02x%02x%02x%02x%02x%02x", mcaddr[0], mcaddr[1], mcaddr[2], mcaddr[3], mcaddr[4], mcaddr[5]);
	FILE *f = fopen("/proc/net/dev_mcast", "r");
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		found |= strstr(line, " lo ") && strstr(line, want);
	if (f)
		fclose(f);
	return found;
}

static uint16_t csum(const void *d, size_t n)
{
	const uint16_t *p = d;
	uint32_t s = 0;
	for (; n > 1; n -= 2)
		s += *p++;
	if (n)
		s += *(const uint8_t *)p;
	s = (s >> 16) + (s & 0xffff);
	s += s >> 16;
	return (uint16_t)~s;
}

static void check_ping(void)
{
	struct icmphdr e = { .type = ICMP_ECHO, .un.echo = { htons((uint16_t)getpid()), htons(7) } };
	e.checksum = csum(&e, sizeof e);
	if (send(icmp, &e, sizeof e, 0) != sizeof e)
		return case_fail("raw ICMP: send after the restart: %s", strerror(errno));
	for (int i = 0; i < 64; i++) {
		unsigned char buf[256];
		ssize_t n = recv(icmp, buf, sizeof buf, 0);
		if (n < 0)
			return case_fail("raw ICMP: no echo reply after the restart: %s", strerror(errno));
		struct iphdr *ip = (void *)buf;
		struct icmphdr *r = (void *)(buf + ip->ihl * 4);
		if (n < ip->ihl * 4 + (ssize_t)sizeof *r)
			continue;
		if (r->type != ICMP_ECHOREPLY)
			return case_fail("raw ICMP: ICMP_FILTER let type %d through after the restart", r->type);
		if (r->un.echo.id == htons((uint16_t)getpid()) && r->un.echo.sequence == htons(7))
			return;
	}
	case_fail("raw ICMP: our echo reply never came");
}

/* a frame of that ethertype sent on lo: 0, or -1 */
static int send_lo(int proto, const char *text)
{
	int tx = socket(AF_PACKET, SOCK_DGRAM, htons(proto)), r;
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(proto), .sll_ifindex = (int)if_nametoindex("lo"), .sll_halen = 6 };
	r = tx < 0 || sendto(tx, text, strlen(text), 0, (void *)&to, sizeof to) < 0 ? -1 : 0;
	close(tx);
	return r;
}

static void check_packet(void)
{
	char msg[64];
	int lo = (int)if_nametoindex("lo");
	snprintf(msg, sizeof msg, "ucr-rawsock %d", (int)getpid());
	if (send_lo(ETH_TEST, msg) < 0)
		return case_fail("packet: cannot send a frame on lo: %s", strerror(errno));
	for (int i = 0; i < 64; i++) {
		char buf[256];
		struct sockaddr_ll from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(pkt, buf, sizeof buf, 0, (void *)&from, &fl);
		if (n < 0)
			return case_fail("packet: no frame after the restart: %s", strerror(errno));
		if (from.sll_ifindex != lo || from.sll_protocol != htons(ETH_TEST))
			return case_fail("packet: a frame of device %d protocol %#x passed (bound to lo, %#x)", from.sll_ifindex, ntohs(from.sll_protocol), ETH_TEST);
		if (n == (ssize_t)strlen(msg) && !memcmp(buf, msg, (size_t)n))
			return;
	}
	case_fail("packet: our frame never came");
}

static void check_netlink(void)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { { sizeof req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 42, 0 }, { .ifi_family = AF_UNSPEC } };
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	if (sendto(nl, &req, sizeof req, 0, (void *)&k, sizeof k) < 0)
		return case_fail("netlink: RTM_GETLINK after the restart: %s", strerror(errno));
	int lo = (int)if_nametoindex("lo"), found = 0;
	static char buf[1 << 16];
	for (int done = 0; !done;) {
		ssize_t n = recv(nl, buf, sizeof buf, 0);
		if (n < 0)
			return case_fail("netlink: no answer after the restart: %s", strerror(errno));
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 42)
				continue; /* a notification of the groups */
			if (h->nlmsg_pid != NL_PORT(getpid()))
				return case_fail("netlink: the answer went to port %u", h->nlmsg_pid);
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			struct ifinfomsg *i = NLMSG_DATA(h);
			if (h->nlmsg_type == RTM_NEWLINK && i->ifi_index == lo)
				found = 1;
		}
	}
	if (!found)
		case_fail("netlink: the link dump did not list lo");
}

/* The rings of a packet socket (SOCK_RAW, ETH_RING, bound to lo, TPACKET_V2): 8 frames to
 * receive, 8 to send, mapped together. */
#define RING_FRAMES 8
static int ring;
static unsigned char *rmap;
static const struct tpacket_req ring_req = { 4096, 4, 2048, RING_FRAMES };
#define RX_FRAME(i) ((struct tpacket2_hdr *)(rmap + (size_t)(i) * 2048))
#define TX_FRAME(i) ((struct tpacket2_hdr *)(rmap + 4 * 4096 + (size_t)(i) * 2048))

/* waits (bounded) until receive frame i is the program's: 0, or -1 */
static int wait_frame(unsigned i)
{
	for (int tries = 0; tries < 50; tries++) {
		if (__atomic_load_n(&RX_FRAME(i)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)
			return 0;
		struct pollfd pf = { ring, POLLIN, 0 };
		poll(&pf, 1, 100);
	}
	return -1;
}

/* the rings, and 3 frames received and read: the kernel's position is frame 3 */
static void setup_ring(void)
{
	int v = TPACKET_V2;
	if ((ring = socket(AF_PACKET, SOCK_RAW, htons(ETH_RING))) < 0)
		die("socket packet (rings)");
	seti(ring, SOL_PACKET, PACKET_VERSION, v, "PACKET_VERSION");
	set(ring, SOL_PACKET, PACKET_RX_RING, &ring_req, sizeof ring_req, "PACKET_RX_RING");
	set(ring, SOL_PACKET, PACKET_TX_RING, &ring_req, sizeof ring_req, "PACKET_TX_RING");
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_RING), .sll_ifindex = (int)if_nametoindex("lo") };
	if (bind(ring, (void *)&ll, sizeof ll) < 0)
		die("bind packet (rings) to lo");
	if ((rmap = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ring, 0)) == MAP_FAILED)
		die("mmap rings");
	for (unsigned i = 0; i < 3; i++) {
		if (send_lo(ETH_RING, "before") < 0 || wait_frame(i) < 0)
			case_setup_fail("frame %u never reached the ring", i);
		__atomic_store_n(&RX_FRAME(i)->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	}
}

/* after the restart: the rings are where they were, a frame sent through the send ring comes
 * back (lo) into receive frame 3, where the program waits */
static void check_ring(void)
{
	char line[512], want[64];
	int found = 0;
	snprintf(want, sizeof want, "%lx-%lx ", (unsigned long)rmap, (unsigned long)rmap + 8 * 4096);
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f))
		found |= !strncmp(line, want, strlen(want)) && strstr(line, "socket:[");
	if (f)
		fclose(f);
	if (!found)
		return case_fail("rings: no mapping of the socket at %s", want);
	for (unsigned i = 0; i < RING_FRAMES; i++)
		if (RX_FRAME(i)->tp_status != TP_STATUS_KERNEL)
			return case_fail("rings: receive frame %u is not the kernel's after the restart", i);
	static const char payload[] = "through the rings";
	unsigned char *d = (unsigned char *)TX_FRAME(0) + TPACKET_ALIGN(sizeof(struct tpacket2_hdr));
	memset(d, 0, 12); /* lo takes any address */
	d[12] = ETH_RING >> 8, d[13] = ETH_RING & 0xff;
	memcpy(d + 14, payload, sizeof payload);
	TX_FRAME(0)->tp_len = 14 + sizeof payload;
	__atomic_store_n(&TX_FRAME(0)->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
	if (send(ring, NULL, 0, 0) < 0)
		return case_fail("rings: send through the send ring: %s", strerror(errno));
	if (wait_frame(3) < 0)
		return case_fail("rings: nothing reached receive frame 3 (frames: %x %x %x %x)", RX_FRAME(0)->tp_status, RX_FRAME(1)->tp_status, RX_FRAME(2)->tp_status, RX_FRAME(4)->tp_status);
	const unsigned char *got = (const unsigned char *)RX_FRAME(3) + RX_FRAME(3)->tp_mac + 14;
	if (RX_FRAME(3)->tp_snaplen < 14 + sizeof payload || memcmp(got, payload, sizeof payload))
		case_fail("rings: receive frame 3 holds another frame (%u bytes)", RX_FRAME(3)->tp_snaplen);
}

/* --refuse ringv3: a packet socket with a TPACKET_V3 ring, refused at checkpoint; --refuse
 * spkt: a SOCK_PACKET socket (the obsolete packet interface) */
static void refuse(const char *what)
{
	if (!strcmp(what, "spkt")) {
		if (socket(AF_PACKET, SOCK_PACKET, htons(ETH_TEST)) < 0)
			die("socket SOCK_PACKET");
		case_ready();
		case_wait_term();
		case_finish();
	}
	if (strcmp(what, "ringv3"))
		case_setup_fail("unknown --refuse %s", what);
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_TEST)), v = TPACKET_V3;
	struct tpacket_req3 r = { 4096, 4, 2048, 8, 100, 0, 0 };
	if (s < 0)
		die("socket packet");
	seti(s, SOL_PACKET, PACKET_VERSION, v, "PACKET_VERSION");
	set(s, SOL_PACKET, PACKET_RX_RING, &r, sizeof r, "PACKET_RX_RING");
	if (mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0) == MAP_FAILED)
		die("mmap ring");
	case_ready();
	case_wait_term();
	case_finish();
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	if (case_arg(argc, argv, "--refuse"))
		refuse(case_arg(argc, argv, "--refuse"));
	struct timeval tmo = { 5, 0 };
	struct sockaddr_in lo4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	if ((icmp = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)) < 0)
		die("socket raw icmp");
	struct icmp_filter flt = { ~(1u << ICMP_ECHOREPLY) };
	set(icmp, SOL_RAW, ICMP_FILTER, &flt, sizeof flt, "ICMP_FILTER");
	seti(icmp, IPPROTO_IP, IP_TTL, 33, "IP_TTL");
	set(icmp, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo, "SO_RCVTIMEO");
	if (bind(icmp, (void *)&lo4, sizeof lo4) < 0 || connect(icmp, (void *)&lo4, sizeof lo4) < 0)
		die("bind/connect raw icmp");

	if ((hdr = socket(AF_INET, SOCK_RAW, 253)) < 0)
		die("socket raw 253");
	seti(hdr, IPPROTO_IP, IP_HDRINCL, 1, "IP_HDRINCL");
	if ((icmp6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)) < 0)
		die("socket raw icmpv6");
	struct icmp6_filter f6;
	memset(&f6, 0xff, sizeof f6);
	f6.data[129 >> 5] &= ~(1u << (129 & 31)); /* only echo replies */
	set(icmp6, IPPROTO_ICMPV6, ICMPV6_FILTER, &f6, sizeof f6, "ICMPV6_FILTER");
	seti(icmp6, IPPROTO_IPV6, 78 /* IPV6_FREEBIND: only at this level on an IPv6 raw socket */, 1, "IPV6_FREEBIND");

	if ((pkt = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_TEST))) < 0)
		die("socket packet");
	seti(pkt, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
	seti(pkt, SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA");
	set(pkt, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo, "SO_RCVTIMEO");
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_TEST), .sll_ifindex = (int)if_nametoindex("lo") };
	if (bind(pkt, (void *)&ll, sizeof ll) < 0)
		die("bind packet to lo");
	struct packet_mreq mr = { .mr_ifindex = ll.sll_ifindex, .mr_type = PACKET_MR_MULTICAST, .mr_alen = 6 };
	memcpy(mr.mr_address, mcaddr, 6);
	set(pkt, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr, "PACKET_ADD_MEMBERSHIP");
	/* accept whole frames of any length (ret 0x40000): 2 instructions */
	struct sock_filter ins[] = { BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_RET | BPF_K, 0x40000) };
	struct sock_fprog prog = { 2, ins };
	set(pkt, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog, "SO_ATTACH_FILTER");
	int fanout = (getpid() & 0xffff) | PACKET_FANOUT_HASH << 16;
	seti(pkt, SOL_PACKET, PACKET_FANOUT, fanout, "PACKET_FANOUT");

	if ((nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)) < 0)
		die("socket netlink");
	struct sockaddr_nl nla = { .nl_family = AF_NETLINK, .nl_pid = NL_PORT(getpid()), .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR };
	if (bind(nl, (void *)&nla, sizeof nla) < 0)
		die("bind netlink");
	seti(nl, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, 33, "NETLINK_ADD_MEMBERSHIP 33");
	seti(nl, SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");
	seti(nl, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1, "NETLINK_NO_ENOBUFS");
	set(nl, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo, "SO_RCVTIMEO");

	if (!lo_has_mcast())
		case_setup_fail("/proc/net/dev_mcast does not list the membership on lo");
	setup_ring();
	keep_names();
	uint32_t groups[4] = { 0 };
	socklen_t gl = sizeof groups;
	if (getsockopt(nl, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &gl) < 0)
		die("NETLINK_LIST_MEMBERSHIPS");

	case_ready();
	case_wait_term();

	names_same();
	struct icmp_filter f2 = { 0 };
	socklen_t l = sizeof f2;
	if (getsockopt(icmp, SOL_RAW, ICMP_FILTER, &f2, &l) < 0 || f2.data != flt.data)
		case_fail("raw ICMP: ICMP_FILTER is %#x, was %#x", f2.data, flt.data);
	if (geti(icmp, IPPROTO_IP, IP_TTL) != 33 || geti(hdr, IPPROTO_IP, IP_HDRINCL) != 1)
		case_fail("raw sockets: IP_TTL %d (was 33), IP_HDRINCL %d", geti(icmp, IPPROTO_IP, IP_TTL), geti(hdr, IPPROTO_IP, IP_HDRINCL));
	if (geti(icmp, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_ICMP || geti(hdr, SOL_SOCKET, SO_PROTOCOL) != 253)
		case_fail("raw sockets: protocols %d and %d", geti(icmp, SOL_SOCKET, SO_PROTOCOL), geti(hdr, SOL_SOCKET, SO_PROTOCOL));
	struct icmp6_filter g6;
	l = sizeof g6;
	if (getsockopt(icmp6, IPPROTO_ICMPV6, ICMPV6_FILTER, &g6, &l) < 0 || memcmp(&g6, &f6, sizeof f6) || geti(icmp6, IPPROTO_IPV6, 78) != 1)
		case_fail("raw ICMPv6: ICMPV6_FILTER differs after the restart, or IPV6_FREEBIND is %d (was 1)", geti(icmp6, IPPROTO_IPV6, 78));
	if (geti(pkt, SOL_PACKET, PACKET_VERSION) != TPACKET_V2 || geti(pkt, SOL_PACKET, PACKET_AUXDATA) != 1 || geti(pkt, SOL_PACKET, PACKET_FANOUT) != fanout)
		case_fail("packet: PACKET_VERSION %d, PACKET_AUXDATA %d, PACKET_FANOUT %#x", geti(pkt, SOL_PACKET, PACKET_VERSION), geti(pkt, SOL_PACKET, PACKET_AUXDATA), geti(pkt, SOL_PACKET, PACKET_FANOUT));
	struct sock_filter got[8];
	socklen_t fl = 8;
	if (getsockopt(pkt, SOL_SOCKET, SO_GET_FILTER, got, &fl) < 0 || fl != 2 || memcmp(got, ins, sizeof ins))
		case_fail("packet: its socket filter differs after the restart (%u instructions)", fl);
	if (!lo_has_mcast())
		case_fail("packet: its multicast membership on lo is gone (/proc/net/dev_mcast)");
	uint32_t g2[4] = { 0 };
	socklen_t gl2 = sizeof g2;
	if (getsockopt(nl, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g2, &gl2) < 0 || memcmp(g2, groups, sizeof groups))
		case_fail("netlink: groups %#x %#x, were %#x %#x", g2[0], g2[1], groups[0], groups[1]);
	if (geti(nl, SOL_NETLINK, NETLINK_EXT_ACK) != 1 || geti(nl, SOL_NETLINK, NETLINK_NO_ENOBUFS) != 1)
		case_fail("netlink: NETLINK_EXT_ACK %d, NETLINK_NO_ENOBUFS %d", geti(nl, SOL_NETLINK, NETLINK_EXT_ACK), geti(nl, SOL_NETLINK, NETLINK_NO_ENOBUFS));
	if (geti(nl, SOL_SOCKET, SO_PROTOCOL) != NETLINK_ROUTE)
		case_fail("netlink: protocol %d", geti(nl, SOL_SOCKET, SO_PROTOCOL));
	check_ping();
	check_packet();
	check_netlink();
	check_ring();
	case_finish();
	return 0;
}
