/* Checkpoint of TCP and UDP sockets, on a pidfd_getfd copy of the socket (the tree is frozen):
 * family, type, protocol, names, the options of inet.h, TCP_INFO (state, negotiated options,
 * window scales, a listener's accept queue and backlog) and, for a TCP connection, its repair
 * state: TCP_REPAIR on, each queue's sequence (TCP_QUEUE_SEQ) and bytes (MSG_PEEK; the send
 * queue holds what was sent but not acknowledged and what was never sent), MSS, timestamp,
 * TCP_REPAIR_WINDOW; then TCP_REPAIR off again without a window probe (nothing was changed);
 * a UDP socket's shutdown() state (sock_diag).
 * A connection of a tree that is to be killed is locked first (tcp_lock.c). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"
#include "inet.h"
#include "proto.h"
#include "proto_gen.h"

static void sb_addr(struct sbuf *b, const char *key, const struct sockaddr_storage *a, socklen_t len)
{
	char text[INET6_ADDRSTRLEN] = "";
	int port = 0;
	if (a->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const void *)a;
		inet_ntop(AF_INET, &s->sin_addr, text, sizeof text);
		port = ntohs(s->sin_port);
	} else if (a->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const void *)a;
		inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof text);
		port = ntohs(s->sin6_port);
	} else {
		return;
	}
	sb_add(b, ",\"%s\":{\"addr\":\"%s\",\"port\":%d}", key, text, port);
}

/* Peeks len bytes of one queue (TCP_REPAIR_QUEUE set) into a JSON hex string, or, above
 * INET_QUEUE_MAX, into a memfd the helper keeps until it exits: the queue is then a content
 * object, streamed as OBJECT records like any other ("<key>Obj":[fd, bytes, inode]). */
static int peek_queue(struct sbuf *b, int s, int queue, const char *key, uint32_t *seq, int len)
{
	if (len > INET_QUEUE_MAX) {
		socklen_t l = sizeof *seq;
		if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue) < 0 ||
		    getsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &l) < 0)
			return -1;
		char *data = malloc((size_t)len + 65536);
		int mfd = (int)syscall(SYS_memfd_create, "ucr-queue", 1U /* MFD_CLOEXEC */);
		ssize_t got = data && mfd >= 0 ? recv(s, data, (size_t)len + 65536, MSG_PEEK | MSG_DONTWAIT) : -1;
		struct stat st;
		int e = got != len ? (got < 0 ? errno : EAGAIN) : 0;
		for (ssize_t off = 0; !e && off < got;) {
			ssize_t w = write(mfd, data + off, (size_t)(got - off));
			if (w <= 0)
				e = w < 0 ? errno : EIO;
			off += w > 0 ? w : 0;
		}
		free(data);
		if (!e && fstat(mfd, &st) < 0)
			e = errno;
		if (e) {
			if (mfd >= 0)
				close(mfd);
			return errno = e, -1;
		}
		sb_add(b, ",\"%sObj\":[%d,%d,%llu]", key, mfd, len, (unsigned long long)st.st_ino);
		return 0;
	}
	socklen_t l = sizeof *seq;
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof queue) < 0 ||
	    getsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &l) < 0)
		return -1;
	char *data = malloc((size_t)len + 65536);
	if (!data)
		return errno = ENOMEM, -1;
	ssize_t got = len ? recv(s, data, (size_t)len + 65536, MSG_PEEK | MSG_DONTWAIT) : 0;
	if (got != len) {
		free(data);
		return errno = got < 0 ? errno : EAGAIN, -1;
	}
	sb_add(b, ",\"%s\":", key);
	sb_hex(b, data, (size_t)len);
	free(data);
	return 0;
}

/* The datagrams queued at a UDP socket with their senders, peeked one at a time (SO_PEEK_OFF
 * advances past each; put back as it was). */
static int dump_datagrams(struct sbuf *b, int s, const char *obj)
{
	int peek = opt_int(s, SOL_SOCKET, SO_PEEK_OFF), zero = 0, err = 0;
	static char data[65536];
	size_t total = 0;
	if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) < 0)
		return proto_fail("files", obj, errno, "cannot peek into the UDP socket's queue (SO_PEEK_OFF)");
	sb_add(b, ",\"datagrams\":[");
	for (int i = 0; i < 65536; i++) {
		struct sockaddr_storage from;
		struct iovec iov = { data, sizeof data };
		struct msghdr mh = { &from, sizeof from, &iov, 1, NULL, 0, 0 };
		ssize_t got = recvmsg(s, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
		if (got < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				err = errno;
			break;
		}
		if ((size_t)got > sizeof data || (total += (size_t)got) > INET_QUEUE_MAX) {
			sb_add(b, "]");
			sb_add(b, ",\"tooBig\":%zu", total);
			setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek, sizeof peek);
			return 0;
		}
		sb_add(b, "%s{\"data\":", i ? "," : "");
		sb_hex(b, data, (size_t)got);
		sb_addr(b, "from", &from, mh.msg_namelen);
		sb_add(b, "}");
	}
	sb_add(b, "]");
	if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek, sizeof peek) < 0 && !err)
		err = errno;
	return err ? proto_fail("files", obj, err, "cannot peek into the UDP socket's queue") : 0;
}

/* sk_shutdown of a UDP socket (RCV_SHUTDOWN 1, SEND_SHUTDOWN 2: shutdown() sets how + 1),
 * which only sock_diag shows (INET_DIAG_SHUTDOWN): found by its inode among the UDP sockets of
 * its family in the helper's network namespace; -1 when not listed (an unbound socket is not
 * hashed, so not dumped: the caller falls back on poll, which shows the receive side). */
void dump_sock_filter(struct sbuf *b, int s)
{
	socklen_t flen = 0;
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, NULL, &flen) < 0)
		sb_add(b, ",\"filter\":\"ebpf\"");
	else if (flen > 0 && flen <= BPF_MAXINSNS) {
		static struct sock_filter ins[BPF_MAXINSNS];
		if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, ins, &flen) < 0)
			sb_add(b, ",\"filter\":\"ebpf\"");
		else
			sb_add(b, ",\"filter\":"), sb_hex(b, ins, flen * sizeof ins[0]);
	}
}

struct shut_find {
	unsigned long ino;
	int found;
};

static void shut_each(const struct nlmsghdr *h, void *ctx)
{
	struct shut_find *f = ctx;
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m) || m->idiag_inode != f->ino || f->found >= 0)
		return;
	f->found = 0;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
	for (struct rtattr *a = (void *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == INET_DIAG_SHUTDOWN && RTA_PAYLOAD(a) >= 1)
			f->found = *(unsigned char *)RTA_DATA(a) & 3;
}

static int udp_shutdown(int dom, unsigned long ino)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { .h = { sizeof req, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 },
		  .r = { .sdiag_family = (unsigned char)dom, .sdiag_protocol = IPPROTO_UDP, .idiag_states = ~0U } };
	struct shut_find f = { ino, -1 };
	diag_dump(&req, sizeof req, shut_each, &f); /* a failure leaves it not found */
	return f.found;
}

/* The repair state of a connection (see the top of the file). In a state where our FIN is
 * not acknowledged yet (fin-wait1, closing, last-ack) SIOCOUTQ counts the FIN and, while it was
 * never sent, SIOCOUTQNSD too: the queues hold bytes only ("finUnsent": it waits behind them). */
static int dump_repair(struct sbuf *b, int s, const char *obj, int locked, int state, pid_t pid, int fd)
{
	sb_add(b, ",\"locked\":%d", locked);
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, noq = TCP_NO_QUEUE;
	int reuse = opt_int(s, SOL_SOCKET, SO_REUSEADDR);
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) < 0)
		return proto_fail("files", obj, errno, "cannot put the TCP connection into repair mode (TCP_REPAIR needs CAP_NET_ADMIN)");
	int inq = 0, outq = 0, unsent = 0, mss = 0, err = 0;
	uint32_t inseq = 0, outseq = 0, ts = 0;
	struct tcp_repair_window win = { 0 };
	socklen_t l;
	int finq = state == TCP_FIN_WAIT1 || state == TCP_CLOSING || state == TCP_LAST_ACK, finunsent = 0;
	/* the window first: a connection in repair mode still receives (a busy peer's segments, a
	 * window probe), and a window read after the queues may already count bytes they lack
	 * (rcv_wup beyond rcv_nxt: TCP_REPAIR_WINDOW refuses it at restart); read before, it is at
	 * worst a little behind them, which the next window update corrects */
	l = sizeof win;
	if (getsockopt(s, IPPROTO_TCP, TCP_REPAIR_WINDOW, &win, &l) < 0)
		err = errno;
	else if (locked) /* before the queues are read: nothing new is sent after (tcp_lock.c) */
		lock_hold_window(s, pid, fd, &win);
	if (!err && (ioctl(s, SIOCINQ, &inq) < 0 || ioctl(s, SIOCOUTQ, &outq) < 0 || ioctl(s, SIOCOUTQNSD, &unsent) < 0))
		err = errno;
	if (!err && finq && outq > 0) {
		outq--;
		finunsent = unsent > 0;
		unsent -= finunsent;
	}
	if (err)
		;
	else if (peek_queue(b, s, TCP_RECV_QUEUE, "recvQueue", &inseq, inq) < 0 ||
		 peek_queue(b, s, TCP_SEND_QUEUE, "sendQueue", &outseq, outq) < 0)
		err = errno;
	l = sizeof mss;
	if (!err && getsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &mss, &l) < 0)
		err = errno;
	l = sizeof ts;
	if (!err && getsockopt(s, IPPROTO_TCP, TCP_TIMESTAMP, &ts, &l) < 0)
		err = errno;
	setsockopt(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, &noq, sizeof noq);
	setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off);
	if (reuse) /* leaving repair mode resets SO_REUSEADDR */
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
	if (err)
		return proto_fail("files", obj, err, "cannot read the state of the TCP connection");
	sb_add(b, ",\"inSeq\":%u,\"outSeq\":%u,\"unsent\":%d,\"mss\":%d,\"timestamp\":%u%s", inseq, outseq, unsent, mss, ts,
	       finunsent ? ",\"finUnsent\":1" : "");
	sb_add(b, ",\"window\":[%u,%u,%u,%u,%u]", win.snd_wl1, win.snd_wnd, win.max_window, win.rcv_wnd, win.rcv_wup);
	return 0;
}

/* A TCP socket in state CLOSE whose receive side was shut down (POLLRDHUP: its connection was
 * closed or reset, or its connect refused; a never-connected socket has none): what is left to
 * read (peeked) and whether an error (POLLERR: a reset) waits to be read. */
static int dump_disconnected(struct sbuf *b, int s, const char *obj, int revents)
{
	int inq = 0;
	struct pollfd pf = { s, 0, (short)revents };
	if (ioctl(s, SIOCINQ, &inq) < 0)
		inq = 0;
	if (inq > INET_QUEUE_MAX) {
		sb_add(b, ",\"tooBig\":%d", inq);
		return 0;
	}
	char *data = malloc((size_t)inq + 1);
	ssize_t got = data && inq ? recv(s, data, (size_t)inq, MSG_PEEK | MSG_DONTWAIT) : 0;
	if (!data || got != inq) {
		free(data);
		return proto_fail("files", obj, got < 0 ? errno : EAGAIN, "cannot peek into the closed connection's queue");
	}
	sb_add(b, ",\"disconnected\":1,\"pendingError\":%d,\"recvQueue\":", (pf.revents & POLLERR) ? 1 : 0);
	sb_hex(b, data, (size_t)inq);
	free(data);
	return 0;
}

/* a TCP state read in repair mode: a connection, maybe being closed */
static int tcp_conn_state(int st)
{
	return st == TCP_ESTABLISHED || st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2 || st == TCP_CLOSE_WAIT || st == TCP_CLOSING ||
	       st == TCP_LAST_ACK;
}

/* `inetq <pid> <fd> <lock 0|1>`: what a TCP or UDP socket is (other sockets: only domain, type,
 * protocol); lock (the tree is to be killed): a connection is locked before it is read. */
int on_dump_inetq(struct dump_in *in, struct msg_dump_inetq *msg)
{
	(void)in;
	uint64_t pid = msg->pid, fd = msg->fd, lock = msg->lock;
	char obj[64];
	snprintf(obj, sizeof obj, "process %d fd %d", (int)pid, (int)fd);
	int s = grab_fd((pid_t)pid, (int)fd);
	if (s < 0)
		return proto_fail("files", obj, errno, "cannot take a copy of the socket (pidfd_getfd)");
	int dom = opt_int(s, SOL_SOCKET, SO_DOMAIN), type = opt_int(s, SOL_SOCKET, SO_TYPE);
	int proto = opt_int(s, SOL_SOCKET, SO_PROTOCOL);
	struct sbuf b = { 0 };
	sb_add(&b, "{\"ev\":\"inetq\",\"domain\":%d,\"type\":%d,\"proto\":%d", dom, type, proto);
	int tcp = type == SOCK_STREAM && proto == IPPROTO_TCP, udp = type == SOCK_DGRAM && (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE);
	if ((dom == AF_INET || dom == AF_INET6) && udp && proto == IPPROTO_UDPLITE) /* UDPLITE_SEND_CSCOV, UDPLITE_RECV_CSCOV */
		sb_add(&b, ",\"cscov\":[%d,%d]", opt_int(s, IPPROTO_UDPLITE, 10), opt_int(s, IPPROTO_UDPLITE, 11));
	if ((dom == AF_INET || dom == AF_INET6) && (tcp || udp)) {
		struct sockaddr_storage a;
		socklen_t al = sizeof a;
		if (getsockname(s, (struct sockaddr *)&a, &al) == 0)
			sb_addr(&b, "local", &a, al);
		al = sizeof a;
		if (getpeername(s, (struct sockaddr *)&a, &al) == 0)
			sb_addr(&b, "remote", &a, al);
		sb_add(&b, ",\"opts\":[");
		for (int i = 0; i < INET_NOPTS; i++) {
			const struct inet_opt *o = &inet_opts[i];
			int skip = (o->tcp && !tcp) || (o->udp && !udp) || (o->v6 && dom != AF_INET6) || (o->v4 && dom != AF_INET);
			sb_add(&b, "%s%d", i ? "," : "", skip ? 0 : o->tv ? opt_ms(s, o->level, o->name) : opt_int(s, o->level, o->name));
		}
		sb_add(&b, "],\"ifindex\":%d", opt_int(s, SOL_SOCKET, SO_BINDTOIFINDEX));
		char dev[IFNAMSIZ + 1] = "";
		socklen_t dl = IFNAMSIZ;
		if (getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl) == 0 && dev[0]) {
			dev[IFNAMSIZ] = 0; /* a device name: letters, digits and a few signs, no quote */
			sb_add(&b, ",\"device\":"), sb_hex(&b, dev, strlen(dev));
		}
		dump_sock_filter(&b, s);
		if (udp && dump_datagrams(&b, s, obj) < 0) {
			close(s);
			free(b.p);
			return -1;
		}
		if (udp) {
			struct stat st;
			struct pollfd pf = { s, POLLIN | POLLRDHUP, 0 };
			int shut = fstat(s, &st) == 0 ? udp_shutdown(dom, (unsigned long)st.st_ino) : -1;
			if (shut < 0 && poll(&pf, 1, 0) >= 0) /* not listed: what poll shows */
				shut = (pf.revents & POLLHUP) ? 3 : (pf.revents & POLLRDHUP) ? 1 : 0;
			if (shut > 0)
				sb_add(&b, ",\"shutdown\":%d", shut);
		}
		if (tcp) {
			struct tcp_info ti = { 0 };
			socklen_t tl = sizeof ti;
			struct pollfd pf = { s, POLLIN | POLLRDHUP, 0 };
			poll(&pf, 1, 0);
			int r = getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tl), locked = 0;
			/* a connection is locked first, then its state read again: a closing one's last
			 * ACK or FIN cannot change it any more while it is read */
			if (r == 0 && lock && tcp_conn_state(ti.tcpi_state) && (locked = lock_conn(s, (pid_t)pid, (int)fd))) {
				pf.revents = 0;
				poll(&pf, 1, 0);
				tl = sizeof ti;
				r = getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tl);
			}
			if (r < 0) {
				close(s);
				free(b.p);
				return proto_fail("files", obj, errno, "cannot read TCP_INFO");
			}
			sb_add(&b, ",\"state\":%u,\"options\":%u,\"sndWscale\":%u,\"rcvWscale\":%u", ti.tcpi_state,
			       ti.tcpi_options, ti.tcpi_snd_wscale, ti.tcpi_rcv_wscale);
			if (ti.tcpi_state == TCP_LISTEN)
				sb_add(&b, ",\"acceptq\":%u,\"backlog\":%u", ti.tcpi_unacked, ti.tcpi_sacked);
			else if (tcp_conn_state(ti.tcpi_state) && dump_repair(&b, s, obj, locked, ti.tcpi_state, (pid_t)pid, (int)fd) < 0) {
				close(s);
				free(b.p);
				return -1;
			} else if (ti.tcpi_state == TCP_CLOSE && (pf.revents & POLLRDHUP) && dump_disconnected(&b, s, obj, pf.revents) < 0) {
				close(s);
				free(b.p);
				return -1;
			}
		}
	}
	close(s);
	sb_add(&b, "}");
	if (!b.p)
		return proto_fail("files", obj, ENOMEM, "out of memory");
	proto_emit("%s", b.p);
	free(b.p);
	return 0;
}
