/* Checkpoint of unix domain sockets: the sock_diag table of every unix socket of the network
 * namespace (inode, type, state, peer, name, queue lengths, accept queue, shutdown), and one
 * socket's queued data, read without consuming it (MSG_PEEK with SO_PEEK_OFF advancing, one
 * datagram at a time), its names and options. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "helper.h"
#include "inet.h"
#include "proto.h"
#include "proto_gen.h"

#define QUEUE_MAX (4 << 20) /* as memfds: the data travels in the metadata */

/* One sock_diag message of the dump as JSON. */
static void diag_entry(struct sbuf *b, struct unix_diag_msg *m, int len)
{
	sb_add(b, "%s{\"ino\":%u,\"type\":%u,\"state\":%u", b->len && b->p[b->len - 1] != '[' ? "," : "",
	       m->udiag_ino, m->udiag_type, m->udiag_state);
	struct rtattr *a = (struct rtattr *)(m + 1);
	int rem = len - (int)NLMSG_LENGTH(sizeof *m);
	for (; RTA_OK(a, rem); a = RTA_NEXT(a, rem)) {
		void *d = RTA_DATA(a);
		size_t dl = RTA_PAYLOAD(a);
		switch (a->rta_type) {
		case UNIX_DIAG_NAME:
			sb_add(b, ",\"name\":");
			sb_hex(b, d, dl);
			break;
		case UNIX_DIAG_VFS:
			if (dl >= sizeof(struct unix_diag_vfs))
				sb_add(b, ",\"vfsIno\":%u,\"vfsDev\":%u", ((struct unix_diag_vfs *)d)->udiag_vfs_ino,
				       ((struct unix_diag_vfs *)d)->udiag_vfs_dev);
			break;
		case UNIX_DIAG_PEER:
			if (dl >= 4)
				sb_add(b, ",\"peer\":%u", *(uint32_t *)d);
			break;
		case UNIX_DIAG_ICONS:
			sb_add(b, ",\"icons\":[");
			for (size_t i = 0; i + 4 <= dl; i += 4)
				sb_add(b, "%s%u", i ? "," : "", *(uint32_t *)((char *)d + i));
			sb_add(b, "]");
			break;
		case UNIX_DIAG_RQLEN:
			if (dl >= sizeof(struct unix_diag_rqlen))
				sb_add(b, ",\"rq\":%u,\"wq\":%u", ((struct unix_diag_rqlen *)d)->udiag_rqueue,
				       ((struct unix_diag_rqlen *)d)->udiag_wqueue);
			break;
		case UNIX_DIAG_SHUTDOWN:
			if (dl >= 1)
				sb_add(b, ",\"shutdown\":%u", *(uint8_t *)d);
			break;
		}
	}
	sb_add(b, "}");
}

static void unix_each(const struct nlmsghdr *h, void *ctx)
{
	if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
		diag_entry(ctx, NLMSG_DATA(h), (int)h->nlmsg_len);
}

/* `unixdiag`: every unix socket of the helper's network namespace. */
int on_dump_unixdiag(struct dump_in *in, struct msg_dump_unixdiag *msg)
{
	(void)in;
	(void)msg;
	struct {
		struct nlmsghdr nh;
		struct unix_diag_req r;
	} req = { { sizeof req, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0 },
		  { .sdiag_family = AF_UNIX, .udiag_states = ~0U,
		    .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS |
				  UDIAG_SHOW_RQLEN } }; /* UNIX_DIAG_SHUTDOWN is always sent */
	struct sbuf b = { 0 };
	sb_add(&b, "[");
	if (diag_dump(&req, sizeof req, unix_each, &b) < 0) {
		int err = errno;
		free(b.p);
		return proto_fail_sys("sock_diag", "unix", "sock_diag", err, "cannot list the unix sockets");
	}
	sb_add(&b, "]");
	if (!b.p)
		return proto_fail("unix", "sock_diag", ENOMEM, "out of memory");
	EMIT_UNIXDIAG(.socks = b.p);
	free(b.p);
	return 0;
}

/* Descriptors in flight that a peek installed in the helper: kept open until the checkpoint
 * ends, so the coordinator captures each one as an open file of the helper (its pid, the fd). */
static int *kept;
static size_t nkept, capkept;

static int keep_fd(int fd)
{
	if (nkept == capkept) {
		size_t n = capkept ? 2 * capkept : 64;
		int *k = realloc(kept, n * sizeof *k);
		if (!k)
			return -1;
		kept = k, capkept = n;
	}
	kept[nkept++] = fd;
	return 0;
}

void unix_dump_end(int killed)
{
	(void)killed;
	for (size_t i = 0; i < nkept; i++)
		close(kept[i]);
	free(kept);
	kept = NULL, nkept = capkept = 0;
}

/* The descriptors a peek installed (SCM_RIGHTS: *n of them into fds, or closed when fds is
 * NULL); whether credentials came with it. */
static void rights_of(struct msghdr *mh, int *fds, int *n, int *creds)
{
	*n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < nfd; i++) {
				int fd = ((int *)CMSG_DATA(c))[i];
				if (fds && *n < 253)
					fds[(*n)++] = fd;
				else
					close(fd);
			}
		} else if (c->cmsg_type == SCM_CREDENTIALS) {
			*creds = 1;
		}
	}
}

#define RIGHTS_CBUF (CMSG_SPACE(253 * sizeof(int)) + CMSG_SPACE(64))

/* One queued message (or stream chunk) as JSON: sender, data, descriptors in flight. */
static void msg_entry(struct sbuf *b, int first, const void *from, size_t fromlen, const char *data, size_t len, const int *fds, int nfds)
{
	sb_add(b, "%s{\"from\":", first ? "" : ",");
	sb_hex(b, from, fromlen);
	sb_add(b, ",\"data\":");
	sb_hex(b, data, len);
	if (nfds) {
		sb_add(b, ",\"fds\":[");
		for (int i = 0; i < nfds; i++)
			sb_add(b, "%s%d", i ? "," : "", fds[i]);
		sb_add(b, "]");
	}
	sb_add(b, "}");
}

/* `unixq <pid> <fd> <queued bytes>`: the socket's queued data (stream: one chunk, cut after each
 * buffer that carries descriptors; otherwise one entry per message with its sender's name), the
 * descriptors in flight with each (installed in the helper by the peek, kept: their fds), its
 * own and its peer's names, and the options kept on restart. Nothing is consumed: the peek
 * offset is put back as it was. */
int on_dump_unixq(struct dump_in *in, struct msg_dump_unixq *msg)
{
	(void)in;
	uint64_t pid = msg->pid, fd = msg->fd, rq = msg->rq;
	char obj[64];
	snprintf(obj, sizeof obj, "process %d fd %d", (int)pid, (int)fd);
	int s = grab_fd((pid_t)pid, (int)fd);
	if (s < 0)
		return proto_fail("unix", obj, errno, "cannot take a copy of the socket (pidfd_getfd)");
	int type = 0, passcred = 0, sndbuf = 0, rcvbuf = 0, peek = -1;
	socklen_t l = sizeof(int);
	getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l);
	l = sizeof(int);
	getsockopt(s, SOL_SOCKET, SO_PASSCRED, &passcred, &l);
	l = sizeof(int);
	getsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, &l);
	l = sizeof(int);
	getsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &l);
	l = sizeof(int);
	getsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek, &l);
	struct sockaddr_un self = { 0 }, peer = { 0 };
	socklen_t sl = sizeof self, pl = sizeof peer;
	if (getsockname(s, (struct sockaddr *)&self, &sl) < 0)
		sl = 0;
	if (getpeername(s, (struct sockaddr *)&peer, &pl) < 0)
		pl = 0;
	struct sbuf b = { 0 };
	sb_add(&b, "{\"ev\":\"unixq\",\"type\":%d,\"passcred\":%d,\"sndbuf\":%d,\"rcvbuf\":%d,\"peekOff\":%d,\"peername\":",
	       type, passcred, sndbuf, rcvbuf, peek);
	sb_hex(&b, peer.sun_path, pl > sizeof(sa_family_t) ? pl - sizeof(sa_family_t) : 0);
	sb_add(&b, ",\"opts\":[");
	for (int i = 0; i < INET_NOPTS; i++)
		sb_add(&b, "%s%d", i ? "," : "", !inet_opt_unix(i) ? 0 : inet_opts[i].tv ? opt_ms(s, SOL_SOCKET, inet_opts[i].name) : opt_int(s, SOL_SOCKET, inet_opts[i].name));
	sb_add(&b, "],\"msgs\":[");
	int rights = 0, creds = 0, err = 0;
	size_t total = 0;
	char *data = malloc(QUEUE_MAX + 1);
	int zero = 0;
	if (!data || setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) < 0) {
		err = data ? errno : ENOMEM;
	} else {
		/* Stream and seqpacket: exactly the queued bytes sock_diag counted, so the peek never
		 * reaches the end of the queue, where a pending error (ECONNRESET) would be taken. */
		int counted = type != SOCK_DGRAM, nmsg = 0;
		size_t chunk = 0; /* stream: where the bytes not yet listed start */
		for (int i = 0; total <= QUEUE_MAX && (!counted || total < rq); i++) {
			struct sockaddr_un from = { 0 };
			char cbuf[RIGHTS_CBUF];
			int fds[253], nfds = 0;
			struct iovec iov = { data + total, QUEUE_MAX + 1 - total };
			struct msghdr mh = { &from, sizeof from, &iov, 1, cbuf, sizeof cbuf, 0 };
			ssize_t got = recvmsg(s, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
			if (got < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNRESET)
					err = errno;
				break;
			}
			rights_of(&mh, fds, &nfds, &creds);
			for (int k = 0; k < nfds; k++)
				if (keep_fd(fds[k]) < 0) {
					for (int j = k; j < nfds; j++)
						close(fds[j]);
					nfds = k;
					err = ENOMEM;
				}
			if (mh.msg_flags & MSG_CTRUNC)
				rights = 1; /* more than the kernel hands out at once: not all of them seen */
			if (type == SOCK_STREAM) {
				if (got == 0)
					break; /* EOF: the peer shut down writing and nothing is left */
				if (nfds) { /* a peek glues the bytes before a buffer with descriptors to it, and stops after it */
					msg_entry(&b, !nmsg++, NULL, 0, data + chunk, total + (size_t)got - chunk, fds, nfds);
					chunk = total + (size_t)got;
				}
				total += (size_t)got;
				continue;
			}
			if (got == 0 && i > 4096) /* a stream of empty messages would never end */
				break;
			msg_entry(&b, !nmsg++, from.sun_path, mh.msg_namelen > sizeof(sa_family_t) ? mh.msg_namelen - sizeof(sa_family_t) : 0,
				  data + total, (size_t)got, fds, nfds);
			total += (size_t)got;
		}
		if (type == SOCK_STREAM && total > chunk)
			msg_entry(&b, !nmsg++, NULL, 0, data + chunk, total - chunk, NULL, 0);
		if (counted && total != rq && !err)
			err = EAGAIN;
		if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek, sizeof peek) < 0 && !err)
			err = errno;
	}
	free(data);
	close(s);
	if (err) {
		free(b.p);
		return proto_fail("unix", obj, err, "cannot peek into the socket's queue");
	}
	sb_add(&b, "],\"bytes\":%zu,\"rights\":%d,\"creds\":%d,\"name\":", total, rights, creds);
	sb_hex(&b, self.sun_path, sl > sizeof(sa_family_t) ? sl - sizeof(sa_family_t) : 0);
	sb_add(&b, "}");
	if (!b.p)
		return proto_fail("unix", obj, ENOMEM, "out of memory");
	proto_emit("%s", b.p);
	free(b.p);
	return 0;
}
