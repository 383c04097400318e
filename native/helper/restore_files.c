#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

/* The restart's shared objects, set up by the helper before any task exists: the spooled image,
 * every open file and pipe (at high fds every task inherits), the command and report pipes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "proto.h"
#include "restore.h"

extern struct plan plan;
extern struct restore_ctx ctx;

/* Copies the rest of the image stream on fd 3 into a memfd and puts that on fd 3: used when the
 * image arrives through a pipe from a checkpoint that frees the pids only once it is complete. */
int spool_image(void)
{
	int mfd = (int)syscall(SYS_memfd_create, "ucr-image", 1U /* MFD_CLOEXEC */);
	if (mfd < 0)
		return proto_fail("spool", "memfd", errno, "cannot create a memfd for the image");
	enum { BUF = 1 << 20 };
	static char buf[BUF];
	for (;;) {
		long n = read_full(3, buf, BUF);
		if (n < 0)
			return proto_fail("spool", "image", errno, "cannot read the image");
		if (n > 0 && write_full(mfd, buf, (size_t)n) < 0)
			return proto_fail("spool", "memfd", errno, "cannot store the image (out of memory?)");
		if (n < BUF)
			break;
	}
	if (lseek(mfd, 0, SEEK_SET) < 0 || dup2(mfd, 3) < 0)
		return proto_fail("spool", "memfd", errno, "cannot rewind the spooled image");
	close(mfd);
	return 0;
}

static int high(int fd)
{
	if (fd < 0)
		return -1;
	int h = fcntl(fd, F_DUPFD_CLOEXEC, ctx.base);
	close(fd);
	return h;
}

/* Every file object and pipe, opened once at a high fd: tasks inherit them, so fds that were
 * one open file (dup, fork) in the image are one open file again. */
int open_files(void)
{
	int maxfd = 16;
	for (int t = 0; t < plan.ntasks; t++)
		for (int i = 0; i < plan.tasks[t].nfds; i++)
			if (plan.tasks[t].fds[i].target > maxfd)
				maxfd = plan.tasks[t].fds[i].target;
	ctx.base = maxfd + 64;
	for (int i = 0; i < plan.npipes; i++) {
		struct pipe_plan *pp = &plan.pipes[i];
		int fds[2];
		char obj[32];
		snprintf(obj, sizeof obj, "pipe %d", pp->id);
		if (pipe2(fds, O_CLOEXEC) < 0)
			return proto_fail("files", obj, errno, "cannot create a pipe");
		if (fcntl(fds[1], F_SETPIPE_SZ, pp->size) < 0 && pp->len > 65536)
			return proto_fail("files", obj, errno, "cannot size the pipe to %d bytes", pp->size);
		if (pp->len && write_full(fds[1], pp->data, pp->len) < 0)
			return proto_fail("files", obj, errno, "cannot refill the pipe");
		int rd = high(fds[0]), wr = high(fds[1]);
		for (int f = 0; f < plan.nfiles; f++) {
			struct file_plan *fp = &plan.files[f];
			if (fp->kind != FILE_PIPE || fp->pipe != pp->id)
				continue;
			int src = fp->end ? wr : rd;
			fp->hfd = fcntl(src, F_DUPFD_CLOEXEC, ctx.base);
			if (fp->hfd < 0 || fcntl(fp->hfd, F_SETFL, fp->flags) < 0)
				return proto_fail("files", obj, errno, "cannot set up a pipe end");
		}
		close(rd);
		close(wr);
	}
	if (open_unix_sockets() < 0)
		return -1;
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		char obj[32];
		snprintf(obj, sizeof obj, "file %d", fp->id);
		if (fp->kind == FILE_PATH) {
			int flags = fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
			int fd = open(fp->path, flags | O_NOCTTY);
			if (fd < 0)
				return proto_fail("files", fp->path, errno, "cannot open the file");
			if (lseek(fd, (off_t)fp->pos, SEEK_SET) < 0 && errno != ESPIPE)
				return proto_fail("files", fp->path, errno, "cannot seek to %llu",
						  (unsigned long long)fp->pos);
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_INHERIT) {
			fp->hfd = fcntl(fp->srcfd, F_DUPFD_CLOEXEC, ctx.base);
		} else if (fp->kind == FILE_MEMFD) {
			int fd = (int)syscall(SYS_memfd_create, fp->path, 2U /* MFD_ALLOW_SEALING */);
			if (fd < 0 || (fp->len && write_full(fd, fp->data, fp->len) < 0))
				return proto_fail("files", obj, errno, "cannot recreate memfd %s", fp->path);
			if ((fp->flags & O_ACCMODE) != O_RDWR) { /* the same file, opened as it was */
				char self[64];
				snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
				int re = open(self, (fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_CLOEXEC);
				if (re < 0)
					return proto_fail("files", obj, errno, "cannot reopen memfd %s", fp->path);
				close(fd);
				fd = re;
			} else if (fcntl(fd, F_SETFL, fp->flags) < 0) {
				return proto_fail("files", obj, errno, "cannot set the flags of memfd %s", fp->path);
			}
			if (lseek(fd, (off_t)fp->pos, SEEK_SET) < 0 || (fp->arg[0] && fcntl(fd, F_ADD_SEALS, (int)fp->arg[0]) < 0))
				return proto_fail("files", obj, errno, "cannot seal memfd %s", fp->path);
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_EVENTFD) {
			int fd = eventfd((unsigned)fp->arg[0], (fp->arg[1] ? EFD_SEMAPHORE : 0) | (fp->flags & O_NONBLOCK));
			if (fd < 0)
				return proto_fail("files", obj, errno, "cannot create the eventfd");
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_SIGNALFD) {
			sigset_t m;
			sigemptyset(&m);
			for (int sig = 1; sig <= 64; sig++)
				if (fp->arg[0] >> (sig - 1) & 1)
					sigaddset(&m, sig);
			int fd = signalfd(-1, &m, fp->flags & O_NONBLOCK);
			if (fd < 0)
				return proto_fail("files", obj, errno, "cannot create the signalfd");
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_TIMERFD) {
			int fd = timerfd_create((int)fp->arg[0], fp->flags & O_NONBLOCK);
			/* relative to now; an interval timer read at expiry shows 0 left: a full period */
			struct itimerspec its = { { (time_t)fp->arg[2], (long)fp->arg[3] }, { (time_t)fp->arg[4], (long)fp->arg[5] } };
			if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
				its.it_value = its.it_interval;
			uint64_t ticks = fp->arg[1];
			if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0 ||
			    (ticks && ioctl(fd, TFD_IOC_SET_TICKS, &ticks) < 0))
				return proto_fail("files", obj, errno, "cannot recreate the timerfd");
			fp->hfd = high(fd);
		} else if (fp->kind != FILE_UNIX && fp->hfd < 0) {
			return proto_fail("files", obj, EINVAL, "pipe end of an unknown pipe");
		}
		if (fp->hfd < 0)
			return proto_fail("files", obj, errno, "cannot place the file");
	}
	int rp[2];
	if (pipe2(rp, O_CLOEXEC) < 0)
		return proto_fail("files", "report pipe", errno, "cannot create a pipe");
	ctx.report_rd = high(rp[0]);
	ctx.report_wr = high(rp[1]);
	for (int t = 0; t < plan.ntasks; t++) {
		int cp[2];
		if (pipe2(cp, O_CLOEXEC) < 0)
			return proto_fail("files", "command pipe", errno, "cannot create a pipe");
		plan.tasks[t].cmdrd = high(cp[0]);
		plan.tasks[t].cmdfd = high(cp[1]);
		if (plan.tasks[t].cmdrd < 0 || plan.tasks[t].cmdfd < 0 || ctx.report_rd < 0 || ctx.report_wr < 0)
			return proto_fail("files", "command pipe", errno, "cannot place a pipe");
	}
	return 0;
}

