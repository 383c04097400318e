/*
 * scmrights - file descriptors in flight (SCM_RIGHTS) queued in a unix socket.
 *
 *   scmrights --out FILE [--type stream|dgram|seqpacket]
 *
 * A socket pair of the given type holds, unread, plain messages interleaved with messages that
 * carry descriptors: a pipe's read end (bytes queued in the pipe, its write end kept by the
 * process), a regular file at an offset, an eventfd with a count, both ends of a unix stream
 * pair (bytes and an eventfd queued in one of them: in flight in a socket in flight), a memfd, and a second reference to the pipe's write end
 * (one open file with the process's own fd). Only the queue holds most of them. After SIGTERM
 * the receiver reads every message in order, with its own length, and checks that the
 * descriptors come with exactly the right message and that each works (a stream: the plain
 * bytes before a message with descriptors read together with it, see below).
 */
#include "case.h"

#include <linux/kcmp.h>
#include <libgen.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

static void send_fds(int s, const char *data, const int *fds, int n)
{
	if (case_send_fds(s, data, strlen(data), fds, n) != (ssize_t)strlen(data))
		case_setup_fail("sendmsg %s: %s", data, strerror(errno));
}

/* Reads the next message (its exact length); its descriptors into fds; how many. */
static int recv_fds(int s, const char *want, int *fds, int max)
{
	char buf[64] = { 0 }, cbuf[CMSG_SPACE(8 * sizeof(int))];
	size_t len = strlen(want);
	struct iovec iov = { buf, len };
	struct msghdr mh = { NULL, 0, &iov, 1, cbuf, sizeof cbuf, 0 };
	ssize_t got = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (got != (ssize_t)len || memcmp(buf, want, len)) {
		case_fail("message %s: got %zd bytes '%.*s' (%s)", want, got, got > 0 ? (int)got : 0, buf, got < 0 ? strerror(errno) : "");
		return -1;
	}
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				if (n < max)
					fds[n++] = ((int *)CMSG_DATA(c))[i];
	if (n != max)
		case_fail("message %s: %d descriptor(s), expected %d", want, n, max);
	return n == max ? n : -1;
}

static int read_is(int fd, const char *want, const char *what)
{
	char buf[64] = { 0 };
	ssize_t n = read(fd, buf, strlen(want));
	if (n != (ssize_t)strlen(want) || memcmp(buf, want, strlen(want))) {
		case_fail("%s: read %zd '%.*s', expected '%s' (%s)", what, n, n > 0 ? (int)n : 0, buf, want, n < 0 ? strerror(errno) : "");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	const char *t = case_arg(argc, argv, "--type");
	int type = !t || !strcmp(t, "stream") ? SOCK_STREAM : !strcmp(t, "dgram") ? SOCK_DGRAM : SOCK_SEQPACKET;
	char dir[PATH_MAX], fpath[PATH_MAX + 16];
	strcpy(dir, case_out);
	snprintf(fpath, sizeof fpath, "%s/data.txt", dirname(dir));

	int q[2], p[2], s[2];
	if (socketpair(AF_UNIX, type, 0, q) < 0 || pipe(p) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s) < 0)
		case_setup_fail("socketpair/pipe: %s", strerror(errno));
	if (write(p[1], "pipe-pre", 8) != 8 || fcntl(p[1], F_SETFL, O_NONBLOCK) < 0)
		case_setup_fail("pipe: %s", strerror(errno));
	int f = open(fpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (f < 0 || write(f, "0123456789", 10) != 10 || lseek(f, 4, SEEK_SET) != 4)
		case_setup_fail("%s: %s", fpath, strerror(errno));
	int ev = eventfd(7, 0);
	int mfd = memfd_create("inflight", 0);
	if (ev < 0 || mfd < 0 || write(mfd, "memfd-content", 13) != 13)
		case_setup_fail("eventfd/memfd: %s", strerror(errno));
	int ev2 = eventfd(3, 0);
	if (ev2 < 0 || write(s[1], "hello", 5) != 5)
		case_setup_fail("inner pair: %s", strerror(errno));
	send_fds(s[1], "nest", &ev2, 1); /* in flight in a socket that is itself in flight */
	close(ev2);

	if (case_arg(argc, argv, "--proc")) { /* a file of /proc in flight: refused at checkpoint */
		int pf = open("/proc/self/status", O_RDONLY);
		send_fds(q[1], "proc", &pf, 1);
		close(pf);
		case_ready();
		case_wait_term();
		case_finish();
	}
	send_fds(q[1], "AAAA", NULL, 0);
	send_fds(q[1], "BBBB", &p[0], 1);
	send_fds(q[1], "CC", NULL, 0);
	int three[3] = { f, ev, p[1] };
	send_fds(q[1], "DDDD", three, 3);
	send_fds(q[1], "E", &s[0], 1);
	send_fds(q[1], "FFFFFF", NULL, 0);
	int two[2] = { s[1], mfd };
	send_fds(q[1], "GG", two, 2);
	/* only the queue holds them now (but the pipe's write end) */
	close(p[0]), close(f), close(ev), close(s[0]), close(s[1]), close(mfd);

	case_ready();
	case_wait_term();

	/* A stream has no message boundaries: the kernel shows the bytes sent right before a buffer
	 * with descriptors glued to it (they come back as one buffer); a reader that takes the
	 * glued bytes at once sees what it saw before. */
	int st = type == SOCK_STREAM, x[3];
	if (!st && recv_fds(q[0], "AAAA", x, 0) < 0)
		case_finish();
	if (recv_fds(q[0], st ? "AAAABBBB" : "BBBB", x, 1) == 1) {
		read_is(x[0], "pipe-pre", "the pipe's read end");
		if (write(p[1], "post", 4) != 4)
			case_fail("the pipe's write end: %s", strerror(errno));
		read_is(x[0], "post", "the pipe's read end after a write");
	}
	if (!st)
		recv_fds(q[0], "CC", x, 0);
	if (recv_fds(q[0], st ? "CCDDDD" : "DDDD", x, 3) == 3) {
		if (lseek(x[0], 0, SEEK_CUR) != 4)
			case_fail("the file's offset is %ld, not 4", (long)lseek(x[0], 0, SEEK_CUR));
		read_is(x[0], "45", "the file");
		uint64_t v = 0;
		if (read(x[1], &v, 8) != 8 || v != 7)
			case_fail("the eventfd's count is %llu, not 7", (unsigned long long)v);
		if (syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, x[2], p[1]) != 0)
			case_fail("the pipe's write end in flight is not the process's own open file");
		if (!(fcntl(x[2], F_GETFL) & O_NONBLOCK))
			case_fail("the pipe's write end in flight lost O_NONBLOCK");
	}
	int a = -1, b = -1;
	if (recv_fds(q[0], "E", x, 1) == 1)
		a = x[0];
	if (!st)
		recv_fds(q[0], "FFFFFF", x, 0);
	if (recv_fds(q[0], st ? "FFFFFFGG" : "GG", x, 2) == 2) {
		b = x[0];
		char m[16] = { 0 };
		if (pread(x[1], m, 13, 0) != 13 || memcmp(m, "memfd-content", 13))
			case_fail("the memfd holds '%s'", m);
	}
	if (a >= 0 && b >= 0) {
		/* the inner pair is a stream: its plain bytes come glued to the next message */
		if (recv_fds(a, "hellonest", x, 1) == 1) {
			uint64_t v = 0;
			if (read(x[0], &v, 8) != 8 || v != 3)
				case_fail("the eventfd in flight in a socket in flight counts %llu, not 3", (unsigned long long)v);
		}
		if (write(a, "ping", 4) != 4)
			case_fail("the inner pair: %s", strerror(errno));
		read_is(b, "ping", "the inner pair's other end");
	}
	char more;
	if (recv(q[0], &more, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		case_fail("more was queued than was sent");
	case_finish();
}
