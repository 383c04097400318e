/* Anonymous kernel objects behind an fd, made again by the helper before any task exists (at
 * high fds every task inherits): epoll instances (their targets are added by each task,
 * restore_child.c), inotify instances with their watches, eventfds, signalfds and timerfds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

#include "kind.h"
#include "proto.h"
#include "restore.h"

/* An inotify instance with its watches at their old watch descriptors: the kernel hands them
 * out cyclically, so a watch added too early is removed and added again until it gets its
 * number; the IN_IGNORED events that leaves are read away. */
static int add_watch(struct restore_ctx *c, struct file_plan *fp, int fd, struct inwatch *iw)
{
	char self[64];
	if (iw->ofile < 0)
		return fs_watch(fp->task, fd, iw->path, iw->mask);
	/* deleted since: through the helper's fd of the file made again (no event is queued) */
	if (!deleted_path(c, fp->task, iw->ofile, self, sizeof self))
		return -2;
	return inotify_add_watch(fd, self, iw->mask);
}

static int make_inotify(struct restore_ctx *c, struct file_plan *fp)
{
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return proto_fail("files", "inotify", errno, "cannot create the inotify instance");
	for (int i = 0; i < fp->nwatches; i++) {
		struct inwatch *iw = &fp->watches[i];
		int wd;
		while ((wd = add_watch(c, fp, fd, iw)) >= 0 && wd < iw->wd)
			inotify_rm_watch(fd, wd);
		if (wd == -2) {
			close(fd);
			return -1;
		}
		if (wd != iw->wd) {
			int e = wd < 0 ? errno : EEXIST;
			close(fd);
			return proto_fail("files", iw->path, e, "cannot watch it again as watch %d (got %d)%s", iw->wd, wd, fs_who(fp->task));
		}
	}
	char buf[4096];
	while (read(fd, buf, sizeof buf) > 0)
		;
	if (fcntl(fd, F_SETFL, fp->flags & ~O_ASYNC) < 0) {
		close(fd);
		return proto_fail("files", "inotify", errno, "cannot set its flags");
	}
	return fd;
}

static int make_signalfd(struct file_plan *fp)
{
	sigset_t m;
	sigemptyset(&m);
	for (int sig = 1; sig <= 64; sig++)
		if (fp->arg[0] >> (sig - 1) & 1)
			sigaddset(&m, sig);
	return signalfd(-1, &m, fp->flags & O_NONBLOCK);
}

/* relative to now; an interval timer read at expiry shows 0 left: a full period */
static int make_timerfd(struct file_plan *fp)
{
	int fd = timerfd_create((int)fp->arg[0], fp->flags & O_NONBLOCK);
	struct itimerspec its = { { (time_t)fp->arg[2], (long)fp->arg[3] }, { (time_t)fp->arg[4], (long)fp->arg[5] } };
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value = its.it_interval;
	uint64_t ticks = fp->arg[1];
	if (fd >= 0 && (timerfd_settime(fd, 0, &its, NULL) < 0 || (ticks && ioctl(fd, TFD_IOC_SET_TICKS, &ticks) < 0))) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int fds_open(struct restore_ctx *c, struct file_plan *fp)
{
	char obj[32];
	snprintf(obj, sizeof obj, "file %d", fp->id);
	int fd;
	switch (fp->kind) {
	case FILE_INOTIFY:
		return (fp->hfd = restore_high(make_inotify(c, fp))) < 0 ? -1 : 0;
	case FILE_EPOLL:
		if ((fd = epoll_create1(EPOLL_CLOEXEC)) < 0)
			return proto_fail("files", obj, errno, "cannot create the epoll instance");
		break;
	case FILE_EVENTFD:
		fd = eventfd((unsigned)fp->arg[0], (fp->arg[1] ? EFD_SEMAPHORE : 0) | (fp->flags & O_NONBLOCK));
		if (fd < 0)
			return proto_fail("files", obj, errno, "cannot create the eventfd");
		break;
	case FILE_SIGNALFD:
		if ((fd = make_signalfd(fp)) < 0)
			return proto_fail("files", obj, errno, "cannot create the signalfd");
		break;
	default: /* FILE_TIMERFD */
		if ((fd = make_timerfd(fp)) < 0)
			return proto_fail("files", obj, errno, "cannot recreate the timerfd");
		break;
	}
	fp->hfd = restore_high(fd);
	return 0;
}

/* Right before the tasks run: the events the restart's own steps queued since the watches were
 * added (a deleted watched file refilled, files opened, mapped) are read away. */
static int fds_resume(struct restore_ctx *c)
{
	char buf[4096];
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *fp = &c->plan->files[i];
		if (fp->kind != FILE_INOTIFY || fp->hfd < 0)
			continue;
		int fl = fcntl(fp->hfd, F_GETFL);
		if (fl < 0 || fcntl(fp->hfd, F_SETFL, fl | O_NONBLOCK) < 0)
			continue;
		while (read(fp->hfd, buf, sizeof buf) > 0)
			;
		fcntl(fp->hfd, F_SETFL, fl);
	}
	return 0;
}

static const int fds_kinds[] = { FILE_EPOLL, FILE_INOTIFY, FILE_EVENTFD, FILE_SIGNALFD, FILE_TIMERFD, 0 };

const struct kind_ops fds_ops = {
	.name = "fds",
	.file_kinds = fds_kinds,
	.open_file = fds_open,
	.resume = fds_resume,
};
