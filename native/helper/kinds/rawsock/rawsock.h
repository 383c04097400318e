/* Raw IP, ping, packet and netlink sockets (src/kernel/fds/rawsock.ts): the options of each
 * family that the plan's kopts carry, in this order, shared by the checkpoint (dump_rawsock.c)
 * and the restart (restore_rawsock.c). The socket-level and IP-level options are inet.h's. */
#ifndef UCR_RAWSOCK_H
#define UCR_RAWSOCK_H
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef SOL_RAW
#define SOL_RAW 255
#endif
#ifndef ICMP_FILTER
#define ICMP_FILTER 1
#endif
#ifndef IP_NODEFRAG
#define IP_NODEFRAG 22
#endif
#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

#define RAWSOCK_KOPTS_MAX 16
#define RAWSOCK_GROUPS_MAX 1024

struct rawsock_kopt {
	int level, name;
};

/* AF_INET: IP_HDRINCL, ICMP_FILTER (raw ICMP only), IP_NODEFRAG */
static const struct rawsock_kopt rawsock_kopts4[] = { { IPPROTO_IP, IP_HDRINCL }, { SOL_RAW, ICMP_FILTER }, { IPPROTO_IP, IP_NODEFRAG } };
/* AF_INET6: IPV6_HDRINCL, IPV6_CHECKSUM (-1: off); ICMPV6_FILTER travels as the blob */
static const struct rawsock_kopt rawsock_kopts6[] = { { IPPROTO_IPV6, IPV6_HDRINCL }, { IPPROTO_IPV6, IPV6_CHECKSUM } };
/* AF_PACKET: PACKET_FANOUT last (it needs the socket bound) */
static const struct rawsock_kopt rawsock_kopts_packet[] = {
	{ SOL_PACKET, PACKET_VERSION }, { SOL_PACKET, PACKET_RESERVE },      { SOL_PACKET, PACKET_AUXDATA },
	{ SOL_PACKET, PACKET_ORIGDEV }, { SOL_PACKET, PACKET_VNET_HDR },     { SOL_PACKET, PACKET_TIMESTAMP },
	{ SOL_PACKET, PACKET_LOSS },    { SOL_PACKET, PACKET_QDISC_BYPASS }, { SOL_PACKET, PACKET_IGNORE_OUTGOING },
	{ SOL_PACKET, PACKET_FANOUT },
};
#define RAWSOCK_PACKET_FANOUT 9
static const struct rawsock_kopt rawsock_kopts_netlink[] = {
	{ SOL_NETLINK, NETLINK_PKTINFO },  { SOL_NETLINK, NETLINK_BROADCAST_ERROR }, { SOL_NETLINK, NETLINK_NO_ENOBUFS },
	{ SOL_NETLINK, NETLINK_LISTEN_ALL_NSID }, { SOL_NETLINK, NETLINK_CAP_ACK }, { SOL_NETLINK, NETLINK_EXT_ACK },
	{ SOL_NETLINK, NETLINK_GET_STRICT_CHK },
};

/* A raw IP, ping, packet or netlink socket to recreate (restore_rawsock.c). */
struct rawsock_plan {
	int family, type, proto;
	struct sockaddr_storage local, remote;
	socklen_t locallen, remotelen;
	char ifname[16]; /* a packet socket's bound device, "": none */
	int opts[64];    /* inet.h order (INET_OPT_UNSET: leave) */
	long long kopts[RAWSOCK_KOPTS_MAX];
	int nkopts;
	uint32_t *groups; /* netlink groups */
	int ngroups;
	struct packet_mreq *mc; /* packet memberships */
	int nmc;
	unsigned char blob[64];
	size_t bloblen;
	unsigned char *filter;
	size_t filterlen;
	struct tpacket_req rx, tx; /* a packet socket's TPACKET_V1/V2 rings (block_nr 0: none) */
	unsigned rxhead;           /* the receive ring's next frame */
};

/* ring_rawsock.c: a packet socket's rings made again, the receive ring's position kept */
int rawsock_rings(int s, const struct rawsock_plan *p, const char *obj);

#define RAWSOCK_N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The kopts table of a family, and its length. */
static inline const struct rawsock_kopt *rawsock_kopts(int family, int *n)
{
	switch (family) {
	case AF_INET:
		return *n = RAWSOCK_N(rawsock_kopts4), rawsock_kopts4;
	case AF_INET6:
		return *n = RAWSOCK_N(rawsock_kopts6), rawsock_kopts6;
	case AF_PACKET:
		return *n = RAWSOCK_N(rawsock_kopts_packet), rawsock_kopts_packet;
	default:
		return *n = RAWSOCK_N(rawsock_kopts_netlink), rawsock_kopts_netlink;
	}
}

/* Which inet.h options a socket of this family carries: IP sockets all but TCP's and UDP's
 * own, packet and netlink sockets the socket level only. */
static inline int rawsock_opt_applies(int family, int level, int tcp, int udp, int v4, int v6)
{
	if (tcp || udp)
		return 0;
	if (family == AF_INET)
		return !v6;
	if (family == AF_INET6)
		return !v4;
	return level == SOL_SOCKET;
}

/* The level of an inet.h option at a socket of family (name: its name there): IP_FREEBIND and
 * IP_TRANSPARENT answer at IPPROTO_IP on TCP and UDP sockets of both families, but an IPv6 raw
 * socket only at IPPROTO_IPV6 (IPV6_FREEBIND 78, IPV6_TRANSPARENT 75: the same flags). */
static inline int rawsock_opt_level(int family, int level, int name, int *out)
{
	*out = name;
	if (family != AF_INET6 || level != IPPROTO_IP)
		return level;
	*out = name == IP_FREEBIND ? 78 : 75;
	return IPPROTO_IPV6;
}
#endif
