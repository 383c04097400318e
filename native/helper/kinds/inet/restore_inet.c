/* TCP and UDP sockets, recreated by the helper before any task exists (plan line in plan.h).
 * Unconnected sockets and listeners: socket, options, bind (a listener with SO_REUSEADDR while
 * it binds, so connections of the old run in TIME_WAIT do not block it), listen, and a UDP
 * socket's connect. A TCP connection, in repair mode (TCP_REPAIR): each queue's sequence,
 * bind and connect (no packet is sent; repair mode binds over the listener's port), the
 * negotiated options, the timestamp, the receive queue and the part of the send queue that
 * had been sent, the window; it stays in repair mode until inet_release(), right before the
 * tasks resume, which turns repair off (a window probe), sends the bytes that had never been
 * sent and a FIN that waited behind them; a closing connection's FINs are replayed in repair
 * mode once every connection exists (tcp_fin.c). A connection whose outside peer is
 * not kept (--tcp=close) comes back reset: connected to a temporary peer that writes the queue
 * and resets it, so the program reads the queued bytes, then gets ECONNRESET. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"
#include "inet.h"
#include "proto.h"
#include "restore.h"
#include "restore_inet.h"


/* When the image streams in from a checkpoint --kill that is still finishing (spool), the killed
 * tree may still hold its ports for a moment: try again for up to --pid-wait. */
static int still_dying(struct restore_ctx *c, int i)
{
	if (!c->plan->spool || i * 10 >= c->plan->pid_wait_ms)
		return 0;
	usleep(10000);
	return 1;
}

int bind_local(struct restore_ctx *c, int s, const struct inet_plan *p, const char *what)
{
	struct sockaddr_storage a;
	char nm[64];
	socklen_t al = mkaddr(p, p->local, p->lport, &a);
	if (p->family == 6 && set_int(s, IPPROTO_IPV6, IPV6_V6ONLY, p->opts[6]) < 0)
		return proto_fail("files", what, errno, "cannot set IPV6_V6ONLY");
	if (bind_device(s, p, what) < 0)
		return -1;
	int r;
	for (int i = 0; (r = bind(s, (struct sockaddr *)&a, al)) < 0 && errno == EADDRINUSE && still_dying(c, i); i++)
		;
	/* an address this host does not have, bound with IP_FREEBIND that was turned off since
	 * (or bound on another host): bound with it for the moment, then put back as it was */
	if (r < 0 && errno == EADDRNOTAVAIL && set_int(s, IPPROTO_IP, IP_FREEBIND, 1) == 0) {
		r = bind(s, (struct sockaddr *)&a, al);
		int e = errno;
		if (set_int(s, IPPROTO_IP, IP_FREEBIND, p->opts[IO_FREEBIND] == 1) < 0 && r == 0)
			return proto_fail("files", what, errno, "cannot set IP_FREEBIND");
		errno = e;
	}
	if (r < 0)
		return proto_fail("files", name_of(p, p->local, p->lport, nm), errno, "cannot bind the %s%s", what,
				  errno == EADDRINUSE ? ": the address is in use" : "");
	return 0;
}

static int requeue; /* UDP datagrams are queued again: UDP sockets bind with SO_REUSEADDR meanwhile */

/* Another plain socket of the image, of p's protocol, bound to p's port with SO_REUSEPORT. */
static int reuseport_shared(struct restore_ctx *c, const struct inet_plan *p)
{
	for (int i = 0; i < c->plan->nfiles; i++) {
		const struct inet_plan *q = c->plan->files[i].in;
		if (c->plan->files[i].kind == FILE_INET && q != p && q->mode == INET_PLAIN && q->proto == p->proto && q->lport == p->lport &&
		    q->opts[IO_REUSEPORT] == 1)
			return 1;
	}
	return 0;
}

/* Not a connection: maybe bound, listening, or a connected UDP socket. */
static int make_plain(struct restore_ctx *c, struct inet_plan *p, const char *what)
{
	int s = socket(p->family == 4 ? AF_INET : AF_INET6, (p->proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, p->lite ? IPPROTO_UDPLITE : p->proto);
	if (s < 0)
		return proto_fail("files", what, errno, "cannot create the socket");
	if (p->lite && ((p->cscov[0] && set_int(s, IPPROTO_UDPLITE, 10, p->cscov[0]) < 0) || (p->cscov[1] && set_int(s, IPPROTO_UDPLITE, 11, p->cscov[1]) < 0))) {
		close(s);
		return proto_fail("files", what, errno, "cannot set the UDP-Lite checksum coverage");
	}
	int listening = p->state == INET_LISTEN;
	if ((listening && set_int(s, SOL_SOCKET, SO_REUSEADDR, 1) < 0) ||
	    (!listening && (p->opts[IO_REUSEADDR] || (requeue && p->proto == IPPROTO_UDP)) && set_int(s, SOL_SOCKET, SO_REUSEADDR, 1) < 0) || set_opts(s, p) < 0) {
		close(s);
		return proto_fail("files", what, errno, "cannot set the socket's options");
	}
	/* sockets of the image sharing a port with SO_REUSEPORT: each binds (and listens) with it,
	 * whether or not it was turned off since, then gets its own value back */
	int shared = p->lport && reuseport_shared(c, p);
	if (shared && set_int(s, SOL_SOCKET, SO_REUSEPORT, 1) < 0) {
		close(s);
		return proto_fail("files", what, errno, "cannot set SO_REUSEPORT");
	}
	if ((p->local[0] || p->lport) ? bind_local(c, s, p, what) < 0 : bind_device(s, p, what) < 0)
		return close(s), -1;
	if (listening && (listen(s, p->backlog) < 0 || set_int(s, SOL_SOCKET, SO_REUSEADDR, p->opts[IO_REUSEADDR]) < 0)) {
		close(s);
		return proto_fail("files", what, errno, "cannot listen");
	}
	if (shared && set_int(s, SOL_SOCKET, SO_REUSEPORT, p->opts[IO_REUSEPORT] == 1) < 0) {
		close(s);
		return proto_fail("files", what, errno, "cannot set SO_REUSEPORT");
	}
	if (p->state == INET_UDP_CONNECTED) {
		struct sockaddr_storage a;
		char nm[64];
		socklen_t al = mkaddr(p, p->remote, p->rport, &a);
		if (connect(s, (struct sockaddr *)&a, al) < 0) {
			close(s);
			return proto_fail("files", name_of(p, p->remote, p->rport, nm), errno, "cannot connect the UDP socket");
		}
	}
	return s;
}

/* A connection that waited in the accept queue of a listener of the image: connected again from
 * its address (the listener exists: pass 0), so it waits there again. */
static int make_connect(struct restore_ctx *c, struct inet_plan *p, const char *what)
{
	int s = socket(p->family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	struct sockaddr_storage a;
	char ln[64], rn[64];
	socklen_t al = mkaddr(p, p->remote, p->rport, &a);
	if (s < 0 || set_opts(s, p) < 0 || set_int(s, SOL_SOCKET, SO_REUSEADDR, 1) < 0) {
		if (s >= 0)
			close(s);
		return proto_fail("files", what, errno, "cannot create the socket");
	}
	if (bind_local(c, s, p, what) < 0)
		return close(s), -1;
	if (connect(s, (struct sockaddr *)&a, al) < 0 || set_int(s, SOL_SOCKET, SO_REUSEADDR, p->opts[IO_REUSEADDR]) < 0) {
		int e = errno;
		close(s);
		return proto_fail("files", what, e, "cannot connect %s -> %s again (it waited to be accepted)", name_of(p, p->local, p->lport, ln),
				  name_of(p, p->remote, p->rport, rn));
	}
	return s;
}

/* The keeper (ucr-tcplock, still the one of the image: same start time) is killed and waited
 * for: its copies were the last holders of the original connections, which close silently
 * (repair mode) and free their 4-tuples. 1 if it was there. */
static int release_keeper(int pid, uint64_t start)
{
	static int done[64], ndone;
	for (int i = 0; i < ndone; i++)
		if (done[i] == pid)
			return 1;
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	char *rp = proc_text(path, buf, sizeof buf) > 0 ? strrchr(buf, ')') : NULL;
	unsigned long long st = 0;
	int fields = 0;
	for (char *q = rp ? rp + 2 : NULL; q && *q && fields < 19; q++)
		if (*q == ' ' && ++fields == 19)
			st = strtoull(q + 1, NULL, 10);
	int ours = pfd >= 0 && rp && strstr(buf, "(ucr-tcplock)") && st == start;
	if (ours && syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0) {
		struct pollfd pf = { pfd, POLLIN, 0 };
		poll(&pf, 1, 5000);
	}
	if (pfd >= 0)
		close(pfd);
	if (ndone < 64)
		done[ndone++] = pid;
	return ours;
}

static int fill_repaired(struct restore_ctx *c, int s, struct inet_plan *p);

static int make_repaired(struct restore_ctx *c, struct inet_plan *p, const char *what)
{
	int s = socket(p->family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s < 0)
		return proto_fail("files", what, errno, "cannot create the socket");
	/* each FIN is replayed later (tcp_fin.c): out of the sequences here */
	uint32_t inseq = p->inseq - (uint32_t)tcp_fin_in(p->state), outseq = p->outseq - (uint32_t)tcp_fin_out(p->state);
	uint32_t rseq = inseq - (uint32_t)p->rqlen, sseq = outseq - (uint32_t)p->sqlen + (uint32_t)p->sq_skip;
	if (set_int(s, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON) < 0 ||
	    set_int(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 || set_int(s, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)rseq) < 0 ||
	    set_int(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 || set_int(s, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)sseq) < 0) {
		close(s);
		return proto_fail("files", what, errno, "cannot start repairing the connection (TCP_REPAIR needs CAP_NET_ADMIN)");
	}
	if (bind_local(c, s, p, what) < 0)
		return close(s), -1;
	/* the repair connect computes the segment size (tcp_connect_init) from the clamp it finds,
	 * the default 536 without this: TCP_REPAIR_OPTIONS below changes the clamp, not the size,
	 * and the connection would send 524-byte segments for good. The image's mss is the clamp
	 * (read in repair mode: 1460 on an Ethernet, 65495 on loopback, where TCP_MAXSEG takes at
	 * most 32767 and the size is half the peer's window anyway); the program's own TCP_MAXSEG
	 * (user_mss) is cleared again after. */
	int mss = p->mss < 88 ? 0 : p->mss > 32767 ? 32767 : p->mss;
	if (mss && set_int(s, IPPROTO_TCP, TCP_MAXSEG, mss) < 0)
		mss = 0;
	struct sockaddr_storage a;
	char ln[64], rn[64];
	socklen_t al = mkaddr(p, p->remote, p->rport, &a);
	int kept = p->keeper && release_keeper(p->keeper, p->keeper_start), r;
	/* the keeper's sockets are closed by the time it is reaped; allow for a slow unhash */
	for (int i = 0; (r = connect(s, (struct sockaddr *)&a, al)) < 0 && errno == EADDRNOTAVAIL && ((kept && i < 200) || still_dying(c, i)); i++)
		if (kept && i < 200)
			usleep(10000);
	if (r < 0) {
		int e = errno;
		close(s);
		return proto_fail("files", what, e, "cannot restore the connection %s -> %s%s", name_of(p, p->local, p->lport, ln),
				  name_of(p, p->remote, p->rport, rn),
				  e == EADDRNOTAVAIL || e == EADDRINUSE ? ": it exists already on this host (the checkpointed process still runs, or its close left the connection in TIME_WAIT)" : "");
	}
	if (mss)
		set_int(s, IPPROTO_TCP, TCP_MAXSEG, 0);
	struct tcp_repair_opt o[4];
	int no = 0;
	if (p->tcpopts & TCPI_OPT_WSCALE)
		o[no++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, (uint32_t)p->sndws + ((uint32_t)p->rcvws << 16) };
	if (p->tcpopts & TCPI_OPT_SACK)
		o[no++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	o[no++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, (uint32_t)p->mss };
	if (p->tcpopts & TCPI_OPT_TIMESTAMPS)
		o[no++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, (socklen_t)(no * sizeof o[0])) < 0 ||
	    ((p->tcpopts & TCPI_OPT_TIMESTAMPS) && set_int(s, IPPROTO_TCP, TCP_TIMESTAMP, (int)p->timestamp) < 0)) {
		close(s);
		return proto_fail("files", what, errno, "cannot set the connection's options (MSS, window scale, SACK, timestamps)");
	}
	room(s, SO_RCVBUFFORCE, p->rqlen);
	room(s, SO_SNDBUFFORCE, p->sqlen);
	if (p->rq_obj >= 0 || p->sq_obj >= 0)
		return s; /* queues, window and options at release: the objects fill while pages stream */
	if (fill_repaired(c, s, p) < 0) {
		close(s);
		return proto_fail("files", what, errno, "cannot queue %zu received and %zu sent bytes again", p->rqlen, p->sqlen);
	}
	if (p->unsent == 0 && set_opts(s, p) < 0) { /* else: after the unsent bytes (inet_release) */
		close(s);
		return proto_fail("files", what, errno, "cannot set the socket's options");
	}
	return s;
}

/* len bytes of a queue: from the plan, or (obj >= 0) from offset off of content object obj */
static int send_queue(struct restore_ctx *c, int s, const unsigned char *d, int obj, size_t off, size_t len)
{
	if (obj < 0)
		return send_all(s, d + off, len);
	static unsigned char buf[1 << 20];
	while (len) {
		size_t chunk = len < sizeof buf ? len : sizeof buf;
		ssize_t n = pread(c->plan->objs[obj].hfd, buf, chunk, (off_t)off);
		if (n <= 0)
			return errno = n < 0 ? errno : EIO, -1;
		if (send_all(s, buf, (size_t)n) < 0)
			return -1;
		off += (size_t)n, len -= (size_t)n;
	}
	return 0;
}

/* The receive queue, the sent part of the send queue, then the window (which must not lie
 * beyond what was received). */
static int fill_repaired(struct restore_ctx *c, int s, struct inet_plan *p)
{
	/* a FIN received: the window as it was before it (it starts one earlier, as wide) */
	int fin = tcp_fin_in(p->state);
	struct tcp_repair_window win = { p->window[0], p->window[1], p->window[2], p->window[3] + (uint32_t)fin, p->window[4] - (uint32_t)fin };
	/* snd_wl1 is the sequence of the last segment that updated the send window, which may be
	 * one received out of order, beyond rcv_nxt (its bytes were not in the queue and are not in
	 * the image: the peer sends them again); TCP_REPAIR_WINDOW refuses one beyond rcv_nxt plus
	 * the window (zdtm's socket-tcpbuf, a fraction of runs). At rcv_nxt it only lets the next
	 * segment update the window. The same for rcv_wup, which an image read by an older ucr (the
	 * window after the queues) may have ahead of them. */
	uint32_t rnxt = p->inseq - (uint32_t)fin;
	if ((int32_t)(win.snd_wl1 - rnxt) > 0)
		win.snd_wl1 = rnxt;
	if ((int32_t)(win.rcv_wup - rnxt) > 0)
		win.rcv_wup = rnxt;
	if (set_int(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 || send_queue(c, s, p->rq, p->rq_obj, 0, p->rqlen) < 0 ||
	    set_int(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
	    send_queue(c, s, p->sq, p->sq_obj, p->sq_skip, p->sqlen - (size_t)p->unsent - p->sq_skip) < 0 || set_int(s, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0)
		return -1;
	return setsockopt(s, IPPROTO_TCP, TCP_REPAIR_WINDOW, &win, sizeof win);
}

int open_inet_sockets(struct restore_ctx *c)
{
	char what[64];
	requeue = 0;
	tcp_pairs_agree(c->plan);
	for (int i = 0; i < c->plan->nfiles; i++)
		if (c->plan->files[i].kind == FILE_INET && c->plan->files[i].in->ndgrams)
			requeue = 1;
	/* listeners first: connections then bind over their ports in repair mode */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < c->plan->nfiles; i++) {
			struct file_plan *f = &c->plan->files[i];
			if (f->kind != FILE_INET || (f->in->mode == INET_PLAIN) != (pass == 0))
				continue;
			struct inet_plan *p = f->in;
			snprintf(what, sizeof what, "%s socket (file %d)", p->proto == IPPROTO_TCP ? "TCP" : "UDP", f->id);
			int s = p->mode == INET_PLAIN    ? make_plain(c, p, what)
				: p->mode == INET_REPAIR ? make_repaired(c, p, what)
				: p->mode == INET_CONNECT ? make_connect(c, p, what)
							  : ((void)(p->keeper && release_keeper(p->keeper, p->keeper_start)), make_reset(p, what));
			if (s < 0)
				return -1;
			if (fcntl(s, F_SETFL, f->flags & (O_NONBLOCK | O_APPEND)) < 0 ||
			    (f->hfd = fcntl(s, F_DUPFD_CLOEXEC, c->base)) < 0) {
				close(s);
				return proto_fail("files", what, errno, "cannot place the socket");
			}
			close(s);
		}
	if (requeue && requeue_datagrams(c) < 0)
		return -1;
	/* the program's socket filters, last (one might drop the datagrams queued again) */
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		struct inet_plan *p = f->in;
		if (f->kind != FILE_INET || !p->filterlen)
			continue;
		struct sock_fprog prog = { (unsigned short)(p->filterlen / 8), (struct sock_filter *)p->filter };
		if (setsockopt(f->hfd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
			return proto_fail("files", "socket", errno, "cannot attach the socket filter of file %d again", f->id);
	}
	/* UDP sockets shut down (after their datagrams are queued again): shutdown(how) sets how + 1;
	 * ENOTCONN for one not connected, whose bits the kernel sets all the same */
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		if (f->kind == FILE_INET && f->in->shutdown && shutdown(f->hfd, f->in->shutdown - 1) < 0 && errno != ENOTCONN)
			return proto_fail("files", "socket", errno, "cannot shut the UDP socket of file %d down again", f->id);
	}
	/* closing connections: their FINs, in repair mode, once every connection exists and has
	 * its filter (each step over all of them; a connection whose queues are objects: at
	 * release, after them) */
	for (int step = 0; step < 3; step++)
		for (int i = 0; i < c->plan->nfiles; i++) {
			struct file_plan *f = &c->plan->files[i];
			if (f->kind != FILE_INET || f->in->rq_obj >= 0 || f->in->sq_obj >= 0)
				continue;
			snprintf(what, sizeof what, "TCP socket (file %d)", f->id);
			if (inet_replay_fins(f->hfd, f->in, step, what) < 0)
				return -1;
		}
	return 0;
}

int inet_release(struct restore_ctx *c)
{
	char what[64];
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		if (f->kind != FILE_INET)
			continue;
		struct inet_plan *p = f->in;
		int s = f->hfd;
		snprintf(what, sizeof what, "TCP socket (file %d)", f->id);
		if (p->mode == INET_REPAIR && (p->rq_obj >= 0 || p->sq_obj >= 0)) {
			if (fill_repaired(c, s, p) < 0 || (p->unsent == 0 && set_opts(s, p) < 0))
				return proto_fail("finish", what, errno, "cannot queue %zu received and %zu sent bytes again", p->rqlen, p->sqlen);
			for (int step = 0; step < 3; step++)
				if (inet_replay_fins(s, p, step, what) < 0)
					return -1;
		}
		if (p->mode == INET_REPAIR) {
			if (set_int(s, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF) < 0 ||
			    (p->opts[IO_REUSEADDR] && set_int(s, SOL_SOCKET, SO_REUSEADDR, 1) < 0))
				return proto_fail("finish", what, errno, "cannot take the connection out of repair mode");
			if (p->unsent) {
				room(s, SO_SNDBUFFORCE, (size_t)p->unsent);
				if (send_queue(c, s, p->sq, p->sq_obj, p->sqlen - (size_t)p->unsent, (size_t)p->unsent) < 0 || set_opts(s, p) < 0)
					return proto_fail("finish", what, errno, "cannot send the %d bytes never sent", p->unsent);
			}
			if (inet_fins_release(s, p, what) < 0)
				return -1;
		}
		close(s); /* the tasks hold it: a close of theirs is a close */
		f->hfd = -1;
	}
	return 0;
}
