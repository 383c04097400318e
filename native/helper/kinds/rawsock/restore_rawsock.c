/* Restart of raw IP, ping, packet and netlink sockets (src/kernel/fds/rawsock.ts), by the
 * helper before any task exists: socket(family, type, protocol), the options of inet.h and the
 * family's own (rawsock.h), then the names: an IP socket binds its address (a ping socket
 * also its identifier) and connects; a packet socket binds to its device, looked up by name,
 * joins its memberships and its fanout group; a netlink socket binds its port id (one taken
 * by another socket fails the restart, naming it) and joins its groups, then connects; a
 * classic socket filter last. Nothing was queued: packets and messages queued at checkpoint
 * were dropped (docs/kinds-rawsock.md). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inet.h"
#include "kind.h"
#include "plan_parse.h"
#include "proto.h"
#include "rawsock.h"
#include "restore.h"

#ifndef ICMPV6_FILTER
#define ICMPV6_FILTER 1
#endif

/* a sockaddr of the socket's family, as getsockname gave it */
static int addr_of(const unsigned char *b, size_t len, int family, struct sockaddr_storage *a, socklen_t *al)
{
	size_t want = family == AF_INET ? sizeof(struct sockaddr_in) : family == AF_INET6 ? sizeof(struct sockaddr_in6)
		    : family == AF_NETLINK ? sizeof(struct sockaddr_nl) : sizeof(struct sockaddr_ll);
	memset(a, 0, sizeof *a);
	*al = 0;
	if (!len)
		return 0;
	if (len < want - (family == AF_PACKET ? 8 : 0) || len > want || len > sizeof *a)
		return -1;
	memcpy(a, b, len);
	*al = (socklen_t)len;
	return a->ss_family == family ? 0 : -1;
}

int on_plan_file_rawsock(struct plan_in *in, struct msg_plan_file_rawsock *m)
{
	int fam = (int)m->family, ip = fam == AF_INET || fam == AF_INET6, nk;
	rawsock_kopts(fam, &nk);
	/* raw IP: SOCK_RAW; ping: SOCK_DGRAM with ICMP or ICMPv6; netlink protocols below 32 */
	NEED(!ip || m->type == SOCK_RAW || (m->type == SOCK_DGRAM && m->proto == (fam == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6)));
	NEED(fam != AF_NETLINK || m->proto < 32);
	NEED(ip || !m->blob_len);
	NEED(fam == AF_PACKET || !m->mclist_len);
	NEED(fam == AF_NETLINK || !m->groups_count);
	NEED(m->kopts_count == (size_t)nk && m->mclist_len % sizeof(struct packet_mreq) == 0 && m->filter_len % 8 == 0);
	NEED(!m->ifname || strlen(m->ifname) < IF_NAMESIZE);
	struct rawsock_plan *p = calloc(1, sizeof *p);
	NEED(p != NULL);
	struct file_plan *f = plan_new_file(in->p, m->id, "file.rawsock");
	if (!f) {
		free(p);
		return -1;
	}
	f->kind = FILE_RAWSOCK;
	f->rs = p;
	f->flags = (int)m->flags;
	p->family = fam, p->type = (int)m->type, p->proto = (int)m->proto;
	NEED(!addr_of(m->local, m->local_len, fam, &p->local, &p->locallen) && !addr_of(m->remote, m->remote_len, fam, &p->remote, &p->remotelen));
	if (m->ifname)
		strcpy(p->ifname, m->ifname);
	for (int i = 0; i < INET_NOPTS; i++)
		p->opts[i] = (int)m->opts[i];
	p->nkopts = nk;
	for (int i = 0; i < nk; i++)
		p->kopts[i] = m->kopts[i];
	NEED(!m->groups_count || (p->groups = calloc(m->groups_count, sizeof *p->groups)) != NULL);
	for (size_t i = 0; i < m->groups_count; i++)
		p->groups[i] = (uint32_t)m->groups[i];
	p->ngroups = (int)m->groups_count;
	p->nmc = (int)(m->mclist_len / sizeof(struct packet_mreq));
	NEED(!p->nmc || (p->mc = malloc(m->mclist_len)) != NULL);
	if (p->nmc)
		memcpy(p->mc, m->mclist, m->mclist_len);
	for (int i = 0; i < p->nmc; i++)
		NEED(p->mc[i].mr_ifindex > 0 && p->mc[i].mr_alen <= 8);
	memcpy(p->blob, m->blob, m->blob_len);
	p->bloblen = m->blob_len;
	NEED(!m->filter_len || (p->filter = malloc(m->filter_len)) != NULL);
	if (m->filter_len)
		memcpy(p->filter, m->filter, m->filter_len);
	p->filterlen = m->filter_len;
	NEED(!m->rings_count || (m->rings_count == 9 && fam == AF_PACKET && m->kopts[0] != TPACKET_V3));
	if (m->rings_count) {
		p->rx = (struct tpacket_req){ (unsigned)m->rings[0], (unsigned)m->rings[1], (unsigned)m->rings[2], (unsigned)m->rings[3] };
		p->tx = (struct tpacket_req){ (unsigned)m->rings[4], (unsigned)m->rings[5], (unsigned)m->rings[6], (unsigned)m->rings[7] };
		p->rxhead = (unsigned)m->rings[8];
		NEED(p->rx.tp_block_nr || p->tx.tp_block_nr);
		for (int k = 0; k < 2; k++) {
			const struct tpacket_req *q = k ? &p->tx : &p->rx;
			NEED(!q->tp_block_nr || (q->tp_frame_size >= 16 && q->tp_block_size >= q->tp_frame_size && q->tp_frame_nr &&
						 q->tp_frame_nr / q->tp_block_nr == q->tp_block_size / q->tp_frame_size));
		}
		NEED(p->rxhead < (p->rx.tp_frame_nr ? p->rx.tp_frame_nr : 1));
	}
	return 0;
}

/* The inet.h options that apply (rawsock_opt_applies), each only when it differs from what
 * the new socket has; the buffer sizes with the FORCE variants; SO_PRIORITY last. */
static int set_inet_opts(int s, const struct rawsock_plan *p)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < INET_NOPTS; i++) {
			const struct inet_opt *o = &inet_opts[i];
			int v = p->opts[i], oname, level = rawsock_opt_level(p->family, o->level, o->name, &oname);
			if ((i == IO_PRIORITY) != (pass == 1) || v == INET_OPT_UNSET || !rawsock_opt_applies(p->family, o->level, o->tcp, o->udp, o->v4, o->v6))
				continue;
			if (i == IO_LINGER) {
				struct linger lg = { v >= 0, v >= 0 ? v : 0 };
				if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
					return -1;
				continue;
			}
			if (o->tv) {
				struct timeval tv = { v / 1000, (v % 1000) * 1000 };
				if ((v || opt_ms(s, level, oname)) && setsockopt(s, level, oname, &tv, sizeof tv) < 0)
					return -1;
				continue;
			}
			if (opt_int(s, level, oname) == v)
				continue;
			int name = i == IO_SNDBUF ? SO_SNDBUFFORCE : i == IO_RCVBUF ? SO_RCVBUFFORCE : oname;
			if (i == IO_SNDBUF || i == IO_RCVBUF) /* the kernel doubles what is set */
				v /= 2;
			if (setsockopt(s, level, name, &v, sizeof v) < 0)
				return -1;
		}
	return 0;
}

/* The family's own options (rawsock.h), but a packet socket's fanout (after bind). */
static int set_kopts(int s, const struct rawsock_plan *p, const char **which)
{
	int nk;
	const struct rawsock_kopt *k = rawsock_kopts(p->family, &nk);
	for (int i = 0; i < nk && i < p->nkopts; i++) {
		long long v = p->kopts[i];
		unsigned cur = 0;
		socklen_t l = sizeof cur;
		if (v == INET_OPT_UNSET || (p->family == AF_PACKET && i == RAWSOCK_PACKET_FANOUT))
			continue;
		if (getsockopt(s, k[i].level, k[i].name, &cur, &l) == 0 && (k[i].name == IPV6_CHECKSUM && k[i].level == IPPROTO_IPV6 ? (long long)(int)cur : (long long)cur) == v)
			continue;
		int iv = (int)v;
		*which = "an option of the socket's family";
		if (setsockopt(s, k[i].level, k[i].name, &iv, sizeof iv) < 0)
			return -1;
	}
	if (p->bloblen) {
		*which = "ICMPV6_FILTER";
		if (setsockopt(s, IPPROTO_ICMPV6, ICMPV6_FILTER, p->blob, (socklen_t)p->bloblen) < 0)
			return -1;
	}
	return 0;
}

static int any_addr(const struct rawsock_plan *p)
{
	static const unsigned char zero[16];
	if (p->family == AF_INET)
		return ((const struct sockaddr_in *)&p->local)->sin_addr.s_addr == 0;
	return !memcmp(&((const struct sockaddr_in6 *)&p->local)->sin6_addr, zero, 16);
}

/* The names: bind (a packet socket to its device by name, a netlink socket to its port id),
 * memberships, fanout, connect. */
static int set_names(int s, struct rawsock_plan *p, const char *obj)
{
	if (p->family == AF_INET || p->family == AF_INET6) {
		int port = ntohs(((const struct sockaddr_in *)&p->local)->sin_port); /* same offset in both */
		int ping = p->type == SOCK_DGRAM;
		if (p->locallen && (!any_addr(p) || (ping && port)) && bind(s, (struct sockaddr *)&p->local, p->locallen) < 0)
			return proto_fail_sys("bind", "files", obj, errno, "cannot bind the %s socket to its address again", ping ? "ping" : "raw");
	} else if (p->family == AF_PACKET) {
		struct sockaddr_ll *ll = (void *)&p->local;
		if (p->locallen) {
			ll->sll_ifindex = 0;
			if (p->ifname[0] && !(ll->sll_ifindex = (int)if_nametoindex(p->ifname)))
				return proto_fail_sys("if_nametoindex", "files", obj, errno, "network device %s (the packet socket's) is gone", p->ifname);
			if (bind(s, (struct sockaddr *)ll, sizeof *ll) < 0)
				return proto_fail_sys("bind", "files", obj, errno, "cannot bind the packet socket to %s again", p->ifname[0] ? p->ifname : "every device");
		}
		for (int i = 0; i < p->nmc; i++)
			if (setsockopt(s, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &p->mc[i], sizeof p->mc[i]) < 0)
				return proto_fail_sys("setsockopt", "files", obj, errno, "cannot add the packet socket's membership of device %d (type %d) again",
						      p->mc[i].mr_ifindex, p->mc[i].mr_type);
		long long fan = p->kopts[RAWSOCK_PACKET_FANOUT];
		int fv = (int)fan;
		if (fan != INET_OPT_UNSET && fan && setsockopt(s, SOL_PACKET, PACKET_FANOUT, &fv, sizeof fv) < 0)
			return proto_fail_sys("setsockopt", "files", obj, errno, "cannot join fanout group %d again", (int)(fan & 0xffff));
	} else {
		struct sockaddr_nl *nl = (void *)&p->local;
		if (p->locallen && nl->nl_pid) {
			struct sockaddr_nl b = { .nl_family = AF_NETLINK, .nl_pid = nl->nl_pid };
			if (bind(s, (struct sockaddr *)&b, sizeof b) < 0)
				return proto_fail_sys("bind", "files", obj, errno, "netlink port id %u of protocol %d is taken%s", nl->nl_pid, p->proto,
						      errno == EADDRINUSE ? " by another socket: not restored" : "");
		}
		for (int i = 0; i < p->ngroups; i++) {
			int g = (int)p->groups[i];
			if (setsockopt(s, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0)
				return proto_fail_sys("setsockopt", "files", obj, errno, "cannot join netlink group %d of protocol %d again", g, p->proto);
		}
	}
	if (p->remotelen && connect(s, (struct sockaddr *)&p->remote, p->remotelen) < 0)
		return proto_fail_sys("connect", "files", obj, errno, "cannot connect the socket again");
	return 0;
}

static int rawsock_open(struct restore_ctx *c, struct file_plan *fp)
{
	(void)c;
	struct rawsock_plan *p = fp->rs;
	char obj[48];
	const char *which = "the socket's options";
	snprintf(obj, sizeof obj, "file %d", fp->id);
	/* a packet socket gets its protocol when it is bound (set_names): made with 0, it takes no
	 * frame before (its rings stay empty until the kernel's position in them is moved) */
	int proto = p->family == AF_PACKET ? 0 : p->proto;
	int s = socket(p->family, p->type | SOCK_CLOEXEC, proto);
	if (s < 0)
		return proto_fail_sys("socket", "files", obj, errno, "cannot create the %s socket (protocol %d)",
				      p->family == AF_PACKET ? "packet" : p->family == AF_NETLINK ? "netlink" : p->type == SOCK_DGRAM ? "ping" : "raw IP", p->proto);
	if (set_inet_opts(s, p) < 0 || set_kopts(s, p, &which) < 0) {
		int e = errno;
		close(s);
		return proto_fail_sys("setsockopt", "files", obj, e, "cannot set %s again", which);
	}
	if ((p->rx.tp_block_nr || p->tx.tp_block_nr) && rawsock_rings(s, p, obj) < 0) {
		close(s);
		return -1;
	}
	if (p->family != AF_PACKET && p->ifname[0] && setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, p->ifname, (socklen_t)strlen(p->ifname)) < 0) {
		int e = errno;
		close(s);
		return proto_fail_sys("setsockopt", "files", obj, e, "cannot bind the socket to network device %s again (SO_BINDTODEVICE)", p->ifname);
	}
	if (set_names(s, p, obj) < 0) {
		close(s);
		return -1;
	}
	if (p->filterlen) {
		struct sock_fprog prog = { (unsigned short)(p->filterlen / 8), (struct sock_filter *)p->filter };
		if (setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
			int e = errno;
			close(s);
			return proto_fail_sys("setsockopt", "files", obj, e, "cannot attach its socket filter again");
		}
	}
	if (fcntl(s, F_SETFL, fp->flags & ~O_ASYNC) < 0) {
		int e = errno;
		close(s);
		return proto_fail("files", obj, e, "cannot set its flags");
	}
	fp->hfd = restore_high(s);
	return fp->hfd < 0 ? -1 : 0;
}

static const int rawsock_kinds[] = { FILE_RAWSOCK, 0 };

const struct kind_ops rawsock_ops = {
	.name = "rawsock",
	.file_kinds = rawsock_kinds,
	.open_file = rawsock_open,
};
