#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

/* The restart's shared objects, set up by the helper before any task exists: every open file
 * and pipe (at high fds every task inherits), the command and report pipes. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <limits.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "cmp.h"
#include "kind.h"
#include "proto.h"
#include "restore.h"

extern struct plan plan;
extern struct restore_ctx ctx;

static int high(int fd)
{
	if (fd < 0)
		return -1;
	int h = fcntl(fd, F_DUPFD_CLOEXEC, ctx.base);
	close(fd);
	return h;
}

int restore_high(int fd)
{
	return high(fd);
}

/* A thread of task pid (as the helper sees it) whose id in its own pid namespace is tid: threads
 * are created by their tracer worker, so the helper learns their ids from /proc (NSpid). */
static pid_t thread_seen(pid_t pid, pid_t tid)
{
	char path[320], line[256];
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	DIR *d = opendir(path);
	pid_t found = 0;
	for (struct dirent *e; d && !found && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%s/status", pid, e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof line, f))
			if (!strncmp(line, "NSpid:", 6)) {
				char *last = strrchr(line, '\t');
				if (last && atoi(last + 1) == tid)
					found = atoi(e->d_name);
				break;
			}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* The pid the helper sees of a task or thread given by its pid in the image (0: none). */
static pid_t restored_pid(pid_t old)
{
	for (int t = 0; t < plan.ntasks; t++) {
		if (plan.tasks[t].old_pid == old)
			return plan.tasks[t].pid;
		for (int k = 0; k < plan.tasks[t].nthreads; k++)
			if (plan.tasks[t].threads[k].tid == old)
				return plan.tasks[t].threads[k].pid ? plan.tasks[t].threads[k].pid : thread_seen(plan.tasks[t].pid, old);
	}
	return 0;
}

/* Signal-driven I/O (and a socket's SIGURG) goes to its owner again, at its restored pid: set
 * on the helper's fd of each object (the tasks hold that very open file), once every task and
 * thread exists; an owner pid 0 is none (only F_SETSIG). O_ASYNC itself is set by a task
 * (restore_task.c), for the files that had it: the signal names the fd that set it. */
int set_fowns(void)
{
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		if (!fp->fown_type || fp->hfd < 0)
			continue;
		struct f_owner_ex o = { .type = fp->fown_type - 1, .pid = fp->fown_pid ? restored_pid(fp->fown_pid) : 0 };
		char obj[32];
		snprintf(obj, sizeof obj, "file %d", fp->id);
		if (!o.pid && fp->fown_pid)
			return proto_fail("resume", fp->path ? fp->path : obj, ESRCH, "its owner %d (F_SETOWN) is not restored", (int)fp->fown_pid);
		if (fcntl(fp->hfd, F_SETSIG, fp->fown_sig) < 0 || (o.pid && fcntl(fp->hfd, F_SETOWN_EX, &o) < 0))
			return proto_fail("resume", fp->path ? fp->path : obj, errno, "cannot give its O_ASYNC owner back");
	}
	return 0;
}

/* flock and OFD locks belong to an open file: taken on the helper's fd of it, they are the
 * tasks' (which inherit that very open file). Non-blocking: a lock someone else took since the
 * checkpoint fails the restart, naming the file. */
static int take_locks(void)
{
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		for (int i = 0; i < fp->nlocks; i++) {
			struct lock_plan *l = &fp->locks[i];
			int r;
			if (!l->ofd) {
				r = flock(fp->hfd, (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB);
			} else {
				struct flock fl = { .l_type = (short)(l->write ? F_WRLCK : F_RDLCK), .l_whence = SEEK_SET,
						    .l_start = (off_t)l->start, .l_len = (off_t)l->len };
				r = fcntl(fp->hfd, F_OFD_SETLK, &fl);
			}
			if (r < 0) {
				char obj[48];
				snprintf(obj, sizeof obj, "file %d", fp->id);
				return proto_fail("files", fp->path ? fp->path : obj, errno,
						  errno == EAGAIN || errno == EWOULDBLOCK
						  ? "cannot take its %s lock again: another process holds a lock on it now"
						  : "cannot take its %s lock again", l->ofd ? "OFD" : "flock");
			}
		}
	}
	return 0;
}

/* The helper's RLIMIT_NOFILE (tasks inherit it until they get their own) must reach past the
 * image's highest fd and the objects opened above it: raise the soft limit, and the hard limit
 * when it is too low and the helper may (CAP_SYS_RESOURCE, up to fs.nr_open). The coordinator
 * checked the same bound first (src/image/limits.ts). */
static int raise_nofile(rlim_t need, int maxfd)
{
	struct rlimit l;
	if (getrlimit(RLIMIT_NOFILE, &l) < 0)
		return proto_fail("files", "RLIMIT_NOFILE", errno, "getrlimit");
	if (l.rlim_cur >= need)
		return 0;
	struct rlimit want = { need, l.rlim_max >= need ? l.rlim_max : need };
	if (setrlimit(RLIMIT_NOFILE, &want) < 0)
		return proto_fail("files", "RLIMIT_NOFILE", errno, "fd %d needs an RLIMIT_NOFILE of %llu, above the restorer's hard limit %llu",
				  maxfd, (unsigned long long)need, (unsigned long long)l.rlim_max);
	return 0;
}

/* Where the set-up's fds start: the lowest number from 64 up with need numbers free of every
 * task's fds (above them all when they are few; in a gap below a program's far-up fd, so the
 * helper needs no RLIMIT_NOFILE beyond the program's own). Tasks drop every fd that is not
 * theirs (restore_child.c). */
static int setup_base(int need)
{
	int n = 0;
	for (int t = 0; t < plan.ntasks; t++)
		n += plan.tasks[t].nfds + plan.tasks[t].nepctls;
	int *tg = malloc((size_t)(n ? n : 1) * sizeof *tg);
	if (!tg)
		return -1;
	n = 0;
	for (int t = 0; t < plan.ntasks; t++) {
		for (int i = 0; i < plan.tasks[t].nfds; i++)
			tg[n++] = plan.tasks[t].fds[i].target;
		for (int i = 0; i < plan.tasks[t].nepctls; i++) /* closed epoll targets, made again there */
			tg[n++] = plan.tasks[t].epctls[i].tfd;
	}
	qsort(tg, (size_t)n, sizeof *tg, cmp_int);
	int base = 64;
	for (int i = 0; i < n && tg[i] < base + need; i++)
		if (tg[i] >= base)
			base = tg[i] + 1;
	free(tg);
	return base;
}

/* Every file object and pipe, opened once at a high fd: tasks inherit them, so fds that were
 * one open file (dup, fork) in the image are one open file again. */
int open_files(void)
{
	int maxfd = 0;
	for (int t = 0; t < plan.ntasks; t++)
		for (int i = 0; i < plan.tasks[t].nfds; i++)
			if (plan.tasks[t].fds[i].target > maxfd)
				maxfd = plan.tasks[t].fds[i].target;
	for (int t = 0; t < plan.ntasks; t++) /* the numbers of closed epoll targets too */
		for (int i = 0; i < plan.tasks[t].nepctls; i++)
			if (plan.tasks[t].epctls[i].tfd > maxfd)
				maxfd = plan.tasks[t].epctls[i].tfd;
	/* every fd the set-up takes: objects (two for a pipe or a pty, and a read-only one for an
	 * object), a command pipe per task, the working directories, executables and mapped files
	 * as restore_paths.c shares them, the report pipe, and room to spare */
	int paths = task_paths_need();
	if (paths < 0)
		return proto_fail("files", "fds", ENOMEM, "out of memory");
	int need = 2 * (plan.nfiles + plan.npipes + plan.nttys) + 3 * plan.nobjs + 2 * plan.ntasks + 2 + 64 + paths;
	ctx.base = setup_base(need);
	if (ctx.base < 0)
		return proto_fail("files", "fds", ENOMEM, "no room for %d fds between the image's fd numbers", need);
	if (raise_nofile((rlim_t)(ctx.base + need > maxfd + 1 ? ctx.base + need : maxfd + 1), maxfd) < 0)
		return -1;
	fs_assign();
	if (KINDS_RUN(ctx.kinds, open, &ctx) < 0)
		return -1;
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		const struct kind_ops *k = kind_of_file(ctx.kinds, fp->kind);
		char obj[32];
		snprintf(obj, sizeof obj, "file %d", fp->id);
		if (!k)
			return proto_fail("files", obj, EINVAL, "a file of unknown kind %d", fp->kind);
		int r = k->open_file ? k->open_file(&ctx, fp) : 0;
		if (r < 0)
			return -1;
		if (r == 0 && fp->hfd < 0) /* 1: each task holding it opens it */
			return proto_fail("files", obj, errno, "cannot place the file");
	}
	if (open_task_paths() < 0 || cgroups_prepare() < 0)
		return -1;
	fs_stop(); /* every object exists: nothing more is done with a task's credentials */
	if (take_locks() < 0 || KINDS_RUN(ctx.kinds, finish, &ctx) < 0)
		return -1;
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

