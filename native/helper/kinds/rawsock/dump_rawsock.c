/* Checkpoint of raw IP, ping, packet and netlink sockets, on a pidfd_getfd copy of the socket
 * (the tree is frozen): family, type, protocol, names (as sockaddr bytes), the options of
 * inet.h that apply, the family's own (rawsock.h), a classic socket filter; a packet socket's
 * bound device by name and, from sock_diag (NETLINK_SOCK_DIAG, AF_PACKET), its memberships and
 * whether it has mmap rings; a netlink socket's groups (NETLINK_LIST_MEMBERSHIPS). Queued
 * packets and messages are not read: they are dropped, like packets lost on the network. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/netlink_diag.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <linux/icmpv6.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"
#include "inet.h"
#include "proto.h"
#include "proto_gen.h"
#include "rawsock.h"

#ifndef ICMPV6_FILTER
#define ICMPV6_FILTER 1
#endif

/* sock_diag of the packet sockets of the helper's network namespace: the one at inode ino;
 * its rings' configuration in rings[0] (receive) and rings[1] (send), block_nr 0: none. */
struct pkt_find {
	struct sbuf *b;
	unsigned long ino;
	struct packet_diag_ring *rings;
	int found;
};

static void pkt_each(const struct nlmsghdr *h, void *ctx)
{
	struct pkt_find *f = ctx;
	const struct packet_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m) || f->found || m->pdiag_ino != f->ino)
		return;
	f->found = 1;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
	for (struct nlattr *a = (void *)(m + 1); len >= (int)sizeof *a && a->nla_len >= sizeof *a && a->nla_len <= len;
	     len -= NLA_ALIGN(a->nla_len), a = (void *)((char *)a + NLA_ALIGN(a->nla_len))) {
		void *d = a + 1;
		int dl = a->nla_len - (int)sizeof *a;
		if ((a->nla_type == PACKET_DIAG_RX_RING || a->nla_type == PACKET_DIAG_TX_RING) && dl >= (int)sizeof f->rings[0]) {
			struct packet_diag_ring *r = &f->rings[a->nla_type == PACKET_DIAG_TX_RING];
			memcpy(r, d, sizeof *r);
			sb_add(f->b, ",\"%s\":[%u,%u,%u,%u,%u,%u,%u]", a->nla_type == PACKET_DIAG_RX_RING ? "rxRing" : "txRing", r->pdr_block_size,
			       r->pdr_block_nr, r->pdr_frame_size, r->pdr_frame_nr, r->pdr_retire_tmo, r->pdr_sizeof_priv, r->pdr_features);
		} else if (a->nla_type == PACKET_DIAG_MCLIST) {
			/* each membership as a struct packet_mreq, once per time it was added */
			sb_add(f->b, ",\"mclist\":\"");
			for (struct packet_diag_mclist *mc = d; (char *)(mc + 1) <= (char *)d + dl; mc++)
				for (unsigned k = 0; k < mc->pdmc_count && k < 256; k++) {
					struct packet_mreq r = { (int)mc->pdmc_index, mc->pdmc_type, mc->pdmc_alen, { 0 } };
					memcpy(r.mr_address, mc->pdmc_addr, mc->pdmc_alen < 8 ? mc->pdmc_alen : 8);
					char *hx = hex_dup(&r, sizeof r);
					sb_add(f->b, "%s", hx ? hx : "");
					free(hx);
				}
			sb_add(f->b, "\"");
		}
	}
}

static void packet_diag(struct sbuf *b, unsigned long ino, struct packet_diag_ring rings[2])
{
	struct {
		struct nlmsghdr h;
		struct packet_diag_req r;
	} req = { { sizeof req, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 },
		  { .sdiag_family = AF_PACKET, .pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_RING_CFG | PACKET_SHOW_FANOUT } };
	struct pkt_find f = { b, ino, rings, 0 };
	if (diag_dump(&req, sizeof req, pkt_each, &f) < 0 && !f.found) {
		sb_add(b, ",\"diag\":%d", errno);
		return;
	}
	if (!f.found)
		sb_add(b, ",\"diag\":%d", ENOENT);
}

struct nl_find {
	unsigned long ino;
	int state;
};

static void nl_each(const struct nlmsghdr *h, void *ctx)
{
	struct nl_find *f = ctx;
	const struct netlink_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len >= NLMSG_LENGTH(sizeof *m) && m->ndiag_ino == f->ino)
		f->state = m->ndiag_state == 1 /* NETLINK_CONNECTED */;
}

static int netlink_connected(int proto, unsigned long ino)
{
	struct {
		struct nlmsghdr h;
		struct netlink_diag_req r;
	} req = { { sizeof req, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 }, { .sdiag_family = AF_NETLINK, .sdiag_protocol = (uint8_t)proto } };
	struct nl_find f = { ino, -1 };
	diag_dump(&req, sizeof req, nl_each, &f); /* a failure leaves it not found */
	return f.state;
}

/* The frame i of a TPACKET_V1/V2 ring (frames fill each block, blocks follow each other). */
static unsigned char *frame_at(unsigned char *ring, const struct packet_diag_ring *r, unsigned i)
{
	unsigned per = r->pdr_block_size / r->pdr_frame_size;
	return ring + (size_t)(i / per) * r->pdr_block_size + (size_t)(i % per) * r->pdr_frame_size;
}

/* Where the kernel stands in a TPACKET_V1/V2 ring, read through the helper's own mapping of the
 * socket's rings: the receive ring's next frame ("rxHead": where the program waits: the first
 * frame of the run it has not read yet, else the frame after the newest one written, by its
 * timestamp; 0 if none was ever written) and the send ring's state ("txUsed": 1 if a frame was
 * ever written, 2 if one waits to be sent). A TPACKET_V3 ring is only reported ("ringV3"). */
static void ring_state(struct sbuf *b, int s, const struct packet_diag_ring r[2], int version)
{
	if (version == TPACKET_V3) {
		sb_add(b, ",\"ringV3\":1");
		return;
	}
	size_t rx = (size_t)r[0].pdr_block_size * r[0].pdr_block_nr, tx = (size_t)r[1].pdr_block_size * r[1].pdr_block_nr;
	unsigned char *m = mmap(NULL, rx + tx, PROT_READ, MAP_SHARED, s, 0);
	if (m == MAP_FAILED) {
		sb_add(b, ",\"ringErr\":%d", errno);
		return;
	}
	if (r[0].pdr_frame_nr && r[0].pdr_frame_size) {
		unsigned n = r[0].pdr_frame_nr, head = 0, user = n, newest = n;
		unsigned long long best = 0;
		for (unsigned i = 0; i < n; i++) {
			const unsigned char *f = frame_at(m, &r[0], i);
			unsigned long status;
			unsigned long long t;
			if (version == TPACKET_V1) {
				const struct tpacket_hdr *h = (const void *)f;
				status = h->tp_status, t = (unsigned long long)h->tp_sec * 1000000000ULL + h->tp_usec * 1000ULL;
			} else {
				const struct tpacket2_hdr *h = (const void *)f;
				status = h->tp_status, t = (unsigned long long)h->tp_sec * 1000000000ULL + h->tp_nsec;
			}
			/* the first frame of the unread run: unread, with the one before it read */
			if ((status & TP_STATUS_USER) && user == n) {
				const unsigned char *pf = frame_at(m, &r[0], (i + n - 1) % n);
				unsigned long ps = version == TPACKET_V1 ? ((const struct tpacket_hdr *)pf)->tp_status : ((const struct tpacket2_hdr *)pf)->tp_status;
				if (!(ps & TP_STATUS_USER) || n == 1)
					user = i;
			}
			if (t && t >= best)
				best = t, newest = i;
		}
		if (user == n) /* every frame unread: the oldest one, after the newest */
			user = newest < n ? (newest + 1) % n : n;
		head = user < n ? user : newest < n ? (newest + 1) % n : 0;
		sb_add(b, ",\"rxHead\":%u", head);
	}
	if (r[1].pdr_frame_nr && r[1].pdr_frame_size) {
		int used = 0;
		for (unsigned i = 0; i < r[1].pdr_frame_nr; i++) {
			const unsigned char *f = frame_at(m + rx, &r[1], i);
			unsigned long status = version == TPACKET_V1 ? ((const struct tpacket_hdr *)f)->tp_status : ((const struct tpacket2_hdr *)f)->tp_status;
			if (status & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING))
				used = 2;
			for (size_t k = 0; !used && k < 32; k++)
				used = f[k] != 0;
		}
		sb_add(b, ",\"txUsed\":%d", used);
	}
	munmap(m, rx + tx);
}

/* A raw socket's connected address: getpeername does not give it (no port), /proc/net/raw[6]
 * does (rem_address of the line with the socket's inode). */
static int raw_peer(int s, int dom, struct sockaddr_storage *a, socklen_t *al)
{
	struct stat st;
	char line[512];
	FILE *f = fstat(s, &st) == 0 ? fopen(dom == AF_INET ? "/proc/net/raw" : "/proc/net/raw6", "re") : NULL;
	int found = -1;
	while (f && found < 0 && fgets(line, sizeof line, f)) {
		char rem[40];
		unsigned long ino;
		unsigned st_;
		/* sl local:port rem:port st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%*x %39[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*d %lu", rem, &st_, &ino) != 3 || ino != st.st_ino)
			continue;
		memset(a, 0, sizeof *a);
		found = 1;
		if (dom == AF_INET) {
			struct sockaddr_in *i = (void *)a;
			i->sin_family = AF_INET;
			i->sin_addr.s_addr = (uint32_t)strtoul(rem, NULL, 16); /* the kernel prints the word as it is in memory */
			*al = sizeof *i;
			found = i->sin_addr.s_addr ? 0 : 1;
		} else if (strlen(rem) == 32) {
			struct sockaddr_in6 *i = (void *)a;
			i->sin6_family = AF_INET6;
			for (int w = 0; w < 4; w++) {
				char word[9];
				memcpy(word, rem + 8 * w, 8), word[8] = 0;
				uint32_t v = (uint32_t)strtoul(word, NULL, 16);
				memcpy(&i->sin6_addr.s6_addr[4 * w], &v, 4);
			}
			*al = sizeof *i;
			static const unsigned char zero[16];
			found = memcmp(&i->sin6_addr, zero, 16) ? 0 : 1;
		}
	}
	if (f)
		fclose(f);
	return found == 0 ? 0 : -1;
}

/* `rawsockq <pid> <fd>`: a raw IP, ping, packet or netlink socket -> rawsockq */
int on_dump_rawsockq(struct dump_in *in, struct msg_dump_rawsockq *msg)
{
	(void)in;
	char obj[64];
	snprintf(obj, sizeof obj, "process %d fd %d", (int)msg->pid, (int)msg->fd);
	int s = grab_fd((pid_t)msg->pid, (int)msg->fd);
	if (s < 0)
		return proto_fail("files", obj, errno, "cannot take a copy of the socket (pidfd_getfd)");
	int dom = opt_int(s, SOL_SOCKET, SO_DOMAIN), type = opt_int(s, SOL_SOCKET, SO_TYPE), proto = opt_int(s, SOL_SOCKET, SO_PROTOCOL);
	struct sbuf b = { 0 };
	struct sockaddr_storage a;
	socklen_t al = sizeof a;
	sb_add(&b, "{\"ev\":\"rawsockq\",\"domain\":%d,\"type\":%d,\"proto\":%d", dom, type, proto);
	if (getsockname(s, (struct sockaddr *)&a, &al) == 0 && al <= sizeof a)
		sb_add(&b, ",\"local\":"), sb_hex(&b, &a, al);
	al = sizeof a;
	struct stat sst;
	if (dom == AF_NETLINK && (fstat(s, &sst) < 0 || netlink_connected(proto, (unsigned long)sst.st_ino) != 1))
		; /* not connected (getpeername gives destination 0 anyway) */
	else if (getpeername(s, (struct sockaddr *)&a, &al) == 0 && al <= sizeof a)
		sb_add(&b, ",\"remote\":"), sb_hex(&b, &a, al);
	else if ((dom == AF_INET || dom == AF_INET6) && type == SOCK_RAW && raw_peer(s, dom, &a, &al) == 0)
		sb_add(&b, ",\"remote\":"), sb_hex(&b, &a, al);
	sb_add(&b, ",\"opts\":[");
	for (int i = 0; i < INET_NOPTS; i++) {
		const struct inet_opt *o = &inet_opts[i];
		int on = rawsock_opt_applies(dom, o->level, o->tcp, o->udp, o->v4, o->v6), name, level = rawsock_opt_level(dom, o->level, o->name, &name);
		sb_add(&b, "%s%d", i ? "," : "", !on ? INET_OPT_UNSET : o->tv ? opt_ms(s, level, name) : opt_int(s, level, name));
	}
	int nk;
	const struct rawsock_kopt *k = rawsock_kopts(dom, &nk);
	sb_add(&b, "],\"kopts\":[");
	for (int i = 0; i < nk; i++) {
		unsigned v = 0;
		socklen_t l = sizeof v;
		int r = getsockopt(s, k[i].level, k[i].name, &v, &l);
		sb_add(&b, "%s%lld", i ? "," : "", r < 0 ? (long long)INET_OPT_UNSET : k[i].name == IPV6_CHECKSUM && k[i].level == IPPROTO_IPV6 ? (long long)(int)v : (long long)v);
	}
	int dev = opt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX);
	char devname[IF_NAMESIZE] = "";
	sb_add(&b, "],\"ifindex\":%d", dev);
	if (dom != AF_PACKET && dev > 0 && if_indextoname((unsigned)dev, devname)) /* SO_BINDTODEVICE, by name */
		sb_add(&b, ",\"ifname\":\"%s\"", devname);
	if (dom == AF_INET6 && type == SOCK_RAW && proto == IPPROTO_ICMPV6) {
		struct icmp6_filter f;
		socklen_t l = sizeof f;
		if (getsockopt(s, IPPROTO_ICMPV6, ICMPV6_FILTER, &f, &l) == 0)
			sb_add(&b, ",\"blob\":"), sb_hex(&b, &f, l);
	}
	if (dom == AF_PACKET) {
		struct sockaddr_ll ll;
		socklen_t l = sizeof ll;
		char name[IF_NAMESIZE] = "";
		if (getsockname(s, (struct sockaddr *)&ll, &l) == 0 && ll.sll_ifindex > 0) {
			if (if_indextoname((unsigned)ll.sll_ifindex, name))
				sb_add(&b, ",\"ifname\":\"%s\"", name);
		}
		struct stat st;
		struct packet_diag_ring rings[2];
		memset(rings, 0, sizeof rings);
		if (fstat(s, &st) == 0)
			packet_diag(&b, (unsigned long)st.st_ino, rings);
		if (rings[0].pdr_block_nr || rings[1].pdr_block_nr)
			ring_state(&b, s, rings, opt_int(s, SOL_PACKET, PACKET_VERSION));
	}
	if (dom == AF_NETLINK) {
		static uint32_t g[RAWSOCK_GROUPS_MAX / 32];
		socklen_t l = sizeof g;
		memset(g, 0, sizeof g);
		sb_add(&b, ",\"groups\":[");
		if (getsockopt(s, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g, &l) == 0) {
			int first = 1;
			for (unsigned i = 0; i < (l < sizeof g ? l : sizeof g) * 8; i++)
				if (g[i / 32] >> (i % 32) & 1)
					sb_add(&b, "%s%u", first ? "" : ",", i + 1), first = 0;
		}
		sb_add(&b, "]");
		if (l > sizeof g)
			sb_add(&b, ",\"tooManyGroups\":%u", (unsigned)l * 8);
	}
	dump_sock_filter(&b, s);
	close(s);
	sb_add(&b, "}");
	if (!b.p)
		return proto_fail("files", obj, ENOMEM, "out of memory");
	proto_emit("%s", b.p);
	free(b.p);
	return 0;
}
