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

/* A pipe, or a FIFO opened read-write (never blocks, keeps the pipe alive), refilled; then its
 * ends, each an open file of its own with its own status flags: of a pipe, its two fds, and
 * for a further open file of the same end (a program can open /proc/self/fd/N of a pipe) the
 * pipe opened again through /proc/self/fd; of a FIFO, the FIFO opened again that way with
 * each end's access mode (a peer exists, so no open waits). A FIFO is found, and the access
 * its ends need is checked, with its holder's credentials (fs_checked); the helper opens that
 * very inode. */
static int open_pipe(struct pipe_plan *pp)
{
	int fds[2];
	char obj[32];
	snprintf(obj, sizeof obj, "pipe %d", pp->id);
	if (pp->path) {
		struct stat st;
		int task = -1, need = 0;
		for (int f = 0; f < plan.nfiles; f++)
			if (plan.files[f].kind == FILE_PIPE && plan.files[f].pipe == pp->id) {
				need |= plan.files[f].end == 0 ? R_OK : plan.files[f].end == 1 ? W_OK : R_OK | W_OK;
				if (task < 0)
					task = plan.files[f].task;
			}
		int at = fs_checked(task, pp->path, need ? need : R_OK);
		if (at < 0)
			return proto_fail_sys("open", "files", pp->path, errno, "cannot open the FIFO%s", fs_who(task));
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", at);
		fds[0] = fds[1] = open(self, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		close(at);
		if (fds[0] < 0)
			return proto_fail_sys("open", "files", pp->path, errno, "cannot open the FIFO");
		if (fstat(fds[0], &st) < 0 || !S_ISFIFO(st.st_mode))
			return proto_fail("files", pp->path, EINVAL, "is no longer a FIFO");
	} else if (pipe2(fds, O_CLOEXEC) < 0) {
		return proto_fail("files", obj, errno, "cannot create a pipe");
	}
	if (fcntl(fds[1], F_SETPIPE_SZ, pp->size) < 0 && pp->len > 65536)
		return proto_fail("files", obj, errno, "cannot size the pipe to %d bytes", pp->size);
	/* a FIFO some process outside the tree kept open is still the same pipe, its bytes still in
	 * it: they are not added again */
	int queued = 0;
	if (pp->path && ioctl(fds[1], FIONREAD, &queued) < 0)
		queued = 0;
	if (pp->len && !queued && write_full(fds[1], pp->data, pp->len) < 0)
		return proto_fail("files", obj, errno, "cannot refill the pipe");
	int rd = high(fds[0]), wr = pp->path ? rd : high(fds[1]);
	int taken[2] = { 0, 0 }; /* a pipe's own read / write end is some file's already */
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		if (fp->kind != FILE_PIPE || fp->pipe != pp->id)
			continue;
		if (pp->path || taken[fp->end & 1]) {
			static const int acc[3] = { O_RDONLY, O_WRONLY, O_RDWR };
			char self[64];
			snprintf(self, sizeof self, "/proc/self/fd/%d", fp->end ? wr : rd);
			fp->hfd = high(open(self, acc[fp->end] | O_NONBLOCK | O_CLOEXEC));
		} else {
			fp->hfd = fcntl(fp->end ? wr : rd, F_DUPFD_CLOEXEC, ctx.base);
			taken[fp->end & 1] = 1;
		}
		if (fp->hfd < 0 || fcntl(fp->hfd, F_SETFL, fp->flags & ~O_ASYNC) < 0)
			return proto_fail("files", obj, errno, "cannot set up a pipe end");
	}
	close(rd);
	if (wr != rd)
		close(wr);
	return 0;
}

/* An inotify instance with its watches at their old watch descriptors: the kernel hands them
 * out cyclically, so a watch added too early is removed and added again until it gets its
 * number; the IN_IGNORED events that leaves are read away. */
static int make_inotify(struct file_plan *fp)
{
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return proto_fail("files", "inotify", errno, "cannot create the inotify instance");
	for (int i = 0; i < fp->nwatches; i++) {
		struct inwatch *iw = &fp->watches[i];
		int wd;
		while ((wd = fs_watch(fp->task, fd, iw->path, iw->mask)) >= 0 && wd < iw->wd)
			inotify_rm_watch(fd, wd);
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

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
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
	 * object), a command pipe per task, each task's working directory, executable and mapped
	 * files (restore_paths.c), the report pipe, and room to spare */
	int need = 2 * (plan.nfiles + plan.npipes + plan.nttys) + 3 * plan.nobjs + 2 * plan.ntasks + 2 + 64;
	for (int t = 0; t < plan.ntasks; t++)
		need += plan.tasks[t].nvmas + 2;
	ctx.base = setup_base(need);
	if (ctx.base < 0)
		return proto_fail("files", "fds", ENOMEM, "no room for %d fds between the image's fd numbers", need);
	if (raise_nofile((rlim_t)(ctx.base + need > maxfd + 1 ? ctx.base + need : maxfd + 1), maxfd) < 0)
		return -1;
	fs_assign();
	if (open_objs() < 0)
		return -1;
	for (int i = 0; i < plan.npipes; i++)
		if (open_pipe(&plan.pipes[i]) < 0)
			return -1;
	if (open_unix_sockets() < 0 || open_inet_sockets() < 0 || open_ttys() < 0)
		return -1;
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		char obj[32];
		snprintf(obj, sizeof obj, "file %d", fp->id);
		if (fp->kind == FILE_PATH) {
			int flags = fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
			int fd = fs_open(fp->task, fp->path, flags | O_NOCTTY, 0);
			if (fd < 0)
				return proto_fail_sys("open", "files", fp->path, errno, "cannot open the file%s", fs_who(fp->task));
			if (lseek(fd, (off_t)fp->pos, SEEK_SET) < 0 && errno != ESPIPE)
				return proto_fail("files", fp->path, errno, "cannot seek to %llu",
						  (unsigned long long)fp->pos);
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_INHERIT) {
			fp->hfd = fcntl(fp->srcfd, F_DUPFD_CLOEXEC, ctx.base);
		} else if (fp->kind == FILE_REOPEN) {
			/* the object, opened again: an open file of its own (offset, access mode) */
			struct obj_plan *sp = &plan.objs[fp->obj];
			char self[64];
			snprintf(self, sizeof self, "/proc/self/fd/%d", sp->hfd);
			int fd = open(self, (fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_CLOEXEC);
			if (fd < 0 || lseek(fd, (off_t)fp->pos, SEEK_SET) < 0)
				return proto_fail("files", obj, errno, "cannot reopen %s", sp->name);
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_EPOLL) {
			int fd = epoll_create1(EPOLL_CLOEXEC);
			if (fd < 0)
				return proto_fail("files", obj, errno, "cannot create the epoll instance");
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_PTMX || fp->kind == FILE_PTS) {
			if (open_tty_file(fp) < 0)
				return -1;
		} else if (fp->kind == FILE_INOTIFY) {
			if ((fp->hfd = high(make_inotify(fp))) < 0)
				return -1;
		} else if (fp->kind == FILE_EVENTFD) {
			int fd = eventfd((unsigned)fp->arg[0], (fp->arg[1] ? EFD_SEMAPHORE : 0) | (fp->flags & O_NONBLOCK));
			if (fd < 0)
				return proto_fail_sys("eventfd", "files", obj, errno, "cannot create the eventfd");
			fp->hfd = high(fd);
		} else if (fp->kind == FILE_SIGNALFD) {
			sigset_t m;
			sigemptyset(&m);
			for (int sig = 1; sig <= 64; sig++)
				if (fp->arg[0] >> (sig - 1) & 1)
					sigaddset(&m, sig);
			int fd = signalfd(-1, &m, fp->flags & O_NONBLOCK);
			if (fd < 0)
				return proto_fail_sys("signalfd", "files", obj, errno, "cannot create the signalfd");
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
		} else if (fp->kind == FILE_PROC) {
			continue; /* opened by each task that holds it, in its finish step */
		} else if (fp->kind != FILE_UNIX && fp->kind != FILE_INET && fp->hfd < 0) {
			return proto_fail("files", obj, EINVAL, "pipe end of an unknown pipe");
		}
		if (fp->hfd < 0)
			return proto_fail("files", obj, errno, "cannot place the file");
	}
	if (open_task_paths() < 0)
		return -1;
	fs_stop(); /* every object exists: nothing more is done with a task's credentials */
	if (take_locks() < 0 || finish_ttys() < 0)
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

