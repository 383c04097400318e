/* Checkpoint of a pipe's contents (the bytes queued in it, read without consuming them), and of
 * the signal-driven I/O owner of any open file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "helper.h"
#include "proto.h"
#include "proto_gen.h"

/* The pipe the helper peeks with (tee), kept from one `pipe` command to the next (empty between
 * them) and made as large as the largest pipe peeked so far: a tree's 200 pipes cost one pipe2
 * instead of 200, and one F_SETPIPE_SZ per larger size. */
static int peek[2] = { -1, -1 };
static int peek_size;

static void peek_drop(void)
{
	if (peek[0] >= 0) {
		close(peek[0]);
		close(peek[1]);
	}
	peek[0] = peek[1] = -1;
	peek_size = 0;
}

/* The peeking pipe, holding at least size bytes (as many buffers as the peeked pipe), or -1. */
static int peek_pipe(int size)
{
	if (peek[0] < 0) {
		if (pipe2(peek, O_CLOEXEC | O_NONBLOCK) < 0)
			return -1;
		peek_size = fcntl(peek[1], F_GETPIPE_SZ);
	}
	if (peek_size < size) {
		int s = fcntl(peek[1], F_SETPIPE_SZ, size);
		if (s < size) {
			peek_drop();
			if (s >= 0)
				errno = ENOBUFS;
			return -1;
		}
		peek_size = s;
	}
	return 0;
}

/* `pipe <pid> <fd>`: the bytes queued in a pipe, read without consuming them (tee). All of them
 * or a failure: the peeking pipe is as large as the peeked one, and what tee copied is
 * compared with what the pipe holds (FIONREAD). */
int on_dump_pipe(struct dump_in *in, struct msg_dump_pipe *msg)
{
	(void)in;
	uint64_t pid = msg->pid, fd = msg->fd;
	char path[64], obj[64];
	snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, (int)fd);
	snprintf(obj, sizeof obj, "fd %d", (int)fd);
	int src = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (src < 0)
		return proto_fail_sys("open", "pipe", obj, errno, "cannot open the pipe of process %d", (int)pid);
	int size = fcntl(src, F_GETPIPE_SZ), queued = 0;
	if (size <= 0 || ioctl(src, FIONREAD, &queued) < 0 || peek_pipe(size) < 0) {
		int e = errno;
		close(src);
		return proto_fail("pipe", obj, e, "cannot make a pipe to peek with");
	}
	ssize_t got = queued > 0 ? tee(src, peek[1], (size_t)size, SPLICE_F_NONBLOCK) : 0;
	if (got < 0 && errno == EAGAIN)
		got = 0;
	int err = got < 0 ? errno : got != queued ? ENOBUFS : 0;
	char *data = got > 0 ? malloc((size_t)got) : NULL;
	long rd = got > 0 && data ? read_full(peek[0], data, (size_t)got) : 0;
	if (!err && got > 0 && (!data || rd != got))
		err = data ? errno : ENOMEM;
	close(src);
	if (err) {
		peek_drop(); /* whatever it holds goes with it */
		free(data);
		return proto_fail("pipe", obj, err, "cannot peek into the pipe of process %d", (int)pid);
	}
	char *hex = hex_dup(data ? data : "", (size_t)got);
	EMIT_PIPE(.size = (uint64_t)size, .data = hex ? hex : "");
	free(hex);
	free(data);
	return 0;
}


/* `fown <pid> <fd>`: who gets the signal of an open file with O_ASYNC (F_GETOWN_EX) and which
 * signal (F_GETSIG), read on the very open file (pidfd_getfd):
 * {"ev":"fown","type":T,"pid":P,"sig":S} */
int on_dump_fown(struct dump_in *in, struct msg_dump_fown *msg)
{
	(void)in;
	uint64_t pid = msg->pid, fd = msg->fd;
	char obj[64];
	snprintf(obj, sizeof obj, "fd %d", (int)fd);
	int f = grab_fd((pid_t)pid, (int)fd);
	if (f < 0)
		return proto_fail("fown", obj, errno, "cannot take a copy of the file of process %d (pidfd_getfd)", (int)pid);
	struct f_owner_ex o = { 0, 0 };
	int sig = fcntl(f, F_GETSIG);
	int r = fcntl(f, F_GETOWN_EX, &o);
	int e = errno;
	close(f);
	if (r < 0 || sig < 0)
		return proto_fail("fown", obj, e, "cannot read the owner of the file of process %d", (int)pid);
	EMIT_FOWN(.type = (uint64_t)o.type, .pid = o.pid, .sig = (uint64_t)sig);
	return 0;
}
