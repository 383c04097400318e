/* Checkpoint of a pipe's contents (the bytes queued in it, read without consuming them), and of
 * the signal-driven I/O owner of any open file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helper.h"
#include "proto.h"
#include "proto_gen.h"

/* `pipe <pid> <fd>`: the bytes queued in a pipe, read without consuming them (tee). */
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
	int size = fcntl(src, F_GETPIPE_SZ);
	int tmp[2];
	if (size <= 0 || pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0) {
		close(src);
		return proto_fail("pipe", obj, errno, "cannot make a pipe to peek with");
	}
	fcntl(tmp[1], F_SETPIPE_SZ, size);
	ssize_t got = tee(src, tmp[1], (size_t)size, SPLICE_F_NONBLOCK);
	if (got < 0 && errno == EAGAIN)
		got = 0;
	char *data = got > 0 ? malloc((size_t)got) : NULL;
	long rd = got > 0 && data ? read_full(tmp[0], data, (size_t)got) : 0;
	int err = errno;
	close(src);
	close(tmp[0]);
	close(tmp[1]);
	if (got < 0 || (got > 0 && (!data || rd != got))) {
		free(data);
		return proto_fail("pipe", obj, got < 0 ? err : EIO, "cannot peek into the pipe of process %d", (int)pid);
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
