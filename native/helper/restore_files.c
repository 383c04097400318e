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

int restore_high(int fd)
{
	return high(fd);
}

/* An open file whose path was unlinked: created again (at its path if that is free, else at a
 * temporary name beside it), opened, and unlinked at once, so only its fds keep it. */
static int create_unlinked(struct obj_plan *sp)
{
	char tmp[PATH_MAX];
	const char *at = sp->name;
	int fd = open(at, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST) {
		const char *slash = strrchr(sp->name, '/');
		snprintf(tmp, sizeof tmp, "%.*s/.ucr-unlinked-%d-%d", (int)(slash - sp->name), sp->name, (int)getpid(), sp->id);
		at = tmp;
		fd = open(at, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (fd < 0)
		return proto_fail("files", sp->name, errno, "cannot create the unlinked file again");
	if (unlink(at) < 0) {
		int e = errno;
		close(fd);
		return proto_fail("files", sp->name, e, "cannot unlink the file again");
	}
	return fd;
}

/* A file of tmpfs the tree mapped shared: still the very file of the checkpoint (same device
 * and inode: its contents are put back as they were), or gone (created again at its path,
 * removed again if the restart fails); another file at its path is never used. */
static int open_tmpfs(struct obj_plan *sp)
{
	/* only ever into a tmpfs, whatever the image says (its directory, symlinks followed) */
	char dir[PATH_MAX];
	struct statfs sf;
	snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(sp->name, '/') - sp->name) + 1, sp->name);
	int r = statfs(dir, &sf);
	if (r < 0 || sf.f_type != TMPFS_MAGIC)
		return proto_fail("files", sp->name, r < 0 ? errno : EXDEV, "its directory is not on a tmpfs");
	int fd = open(sp->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		sp->created = 1;
		return fd;
	}
	if (errno != EEXIST || (fd = open(sp->name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
		return proto_fail("files", sp->name, errno, "cannot create the tmpfs file again");
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_dev != sp->dev || (uint64_t)st.st_ino != sp->ino) {
		close(fd);
		return proto_fail("files", sp->name, EEXIST, "another file has taken its path since the checkpoint");
	}
	if (ftruncate(fd, 0) < 0) { /* its pages are the image's: holes stay holes */
		int e = errno;
		close(fd);
		return proto_fail("files", sp->name, e, "cannot empty it");
	}
	return fd;
}

/* A failed restart removes the tmpfs files it created (only while its path still names them). */
void objs_undo(void)
{
	for (int i = 0; i < plan.nobjs; i++) {
		struct obj_plan *sp = &plan.objs[i];
		struct stat a, b;
		if (sp->kind == OBJ_TMPFS && sp->created && sp->hfd >= 0 && fstat(sp->hfd, &a) == 0 &&
		    lstat(sp->name, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			unlink(sp->name);
	}
}

/* A memfd or unlinked file gets its owner, then its mode (a chown clears set-id bits): before
 * the seals (F_SEAL_EXEC on an executable memfd would imply the write seals). */
static int set_owner_mode(struct obj_plan *sp, int fd)
{
	if (sp->uid != (uid_t)-1 && fchown(fd, sp->uid, sp->gid) < 0)
		return proto_fail("files", sp->name, errno, "cannot give it its owner %u:%u back", (unsigned)sp->uid,
				  (unsigned)sp->gid);
	if (sp->mode >= 0 && fchmod(fd, (mode_t)sp->mode) < 0)
		return proto_fail("files", sp->name, errno, "cannot give it its mode %04o back", sp->mode);
	return 0;
}

/* A memfd, executable or not as its mode says (a kernel with vm.memfd_noexec set would
 * otherwise make it non-executable and sealed so; MFD_EXEC is Linux 6.3). */
static int create_memfd(struct obj_plan *sp)
{
	unsigned flags = 1U | 2U; /* MFD_CLOEXEC | MFD_ALLOW_SEALING */
	int fd = -1;
	if (sp->mode >= 0 && (sp->mode & 0111))
		fd = (int)syscall(SYS_memfd_create, sp->name, flags | 0x10U /* MFD_EXEC */);
	if (fd < 0)
		fd = (int)syscall(SYS_memfd_create, sp->name, flags);
	return fd;
}

/* Shared anonymous memory is recreated as the kernel makes it (a shmem file named "dev/zero",
 * reached through /proc/self/map_files, which needs CAP_SYS_ADMIN; otherwise a memfd of that
 * name stands in); memfds with memfd_create. Sized now, filled by OBJECT records, sealed last. */
static int open_objs(void)
{
	for (int i = 0; i < plan.nobjs; i++) {
		struct obj_plan *sp = &plan.objs[i];
		char obj[48];
		snprintf(obj, sizeof obj, "shared memory object %d", sp->id);
		int fd = -1;
		if (sp->kind == OBJ_ANON) {
			void *m = mmap(NULL, sp->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				return proto_fail("files", obj, errno, "cannot create %llu bytes of shared memory",
						  (unsigned long long)sp->size);
			char path[80];
			snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)m,
				 (unsigned long)m + sp->size);
			fd = open(path, O_RDWR | O_CLOEXEC);
			munmap(m, sp->size);
			if (fd < 0)
				fd = (int)syscall(SYS_memfd_create, "dev/zero", 1U /* MFD_CLOEXEC */);
		} else if (sp->kind == OBJ_MEMFD) {
			fd = create_memfd(sp);
		} else if (sp->kind == OBJ_TMPFS) {
			if ((fd = open_tmpfs(sp)) < 0)
				return -1;
		} else if ((fd = create_unlinked(sp)) < 0) {
			return -1;
		}
		if (fd < 0 || ftruncate(fd, (off_t)sp->size) < 0)
			return proto_fail("files", obj, errno, "cannot create it");
		if (sp->kind != OBJ_ANON && set_owner_mode(sp, fd) < 0) {
			close(fd);
			return -1;
		}
		sp->hfd = high(fd);
		if (sp->hfd < 0)
			return proto_fail("files", obj, errno, "cannot place it");
	}
	return 0;
}

int obj_fd(uint32_t id)
{
	int i = plan_find_obj(&plan, (int)id);
	return i < 0 ? -1 : plan.objs[i].hfd;
}

/* Once the contents are in: the memfds get their seals back. */
int seal_objs(void)
{
	for (int i = 0; i < plan.nobjs; i++) {
		struct obj_plan *sp = &plan.objs[i];
		if (sp->kind == OBJ_MEMFD && sp->seals && fcntl(sp->hfd, F_ADD_SEALS, sp->seals) < 0)
			return proto_fail("pages", sp->name, errno, "cannot seal memfd %s", sp->name);
	}
	return 0;
}

/* A pipe, or a FIFO opened read-write (never blocks, keeps the pipe alive), refilled; then its
 * ends, each an open file of its own with its own status flags: of a pipe, its two fds, and
 * for a further open file of the same end (a program can open /proc/self/fd/N of a pipe) the
 * pipe opened again through /proc/self/fd; of a FIFO, the FIFO opened again that way with
 * each end's access mode (a peer exists, so no open waits). */
static int open_pipe(struct pipe_plan *pp)
{
	int fds[2];
	char obj[32];
	snprintf(obj, sizeof obj, "pipe %d", pp->id);
	if (pp->path) {
		struct stat st;
		fds[0] = fds[1] = open(pp->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fds[0] < 0)
			return proto_fail("files", pp->path, errno, "cannot open the FIFO");
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
		while ((wd = inotify_add_watch(fd, iw->path, iw->mask)) >= 0 && wd < iw->wd)
			inotify_rm_watch(fd, wd);
		if (wd != iw->wd) {
			int e = wd < 0 ? errno : EEXIST;
			close(fd);
			return proto_fail("files", iw->path, e, "cannot watch it again as watch %d (got %d)", iw->wd, wd);
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

/* The pid the helper sees of a task or thread given by its pid in the image (0: none). */
static pid_t restored_pid(pid_t old)
{
	for (int t = 0; t < plan.ntasks; t++) {
		if (plan.tasks[t].old_pid == old)
			return plan.tasks[t].pid;
		for (int k = 0; k < plan.tasks[t].nthreads; k++)
			if (plan.tasks[t].threads[k].tid == old)
				return plan.tasks[t].threads[k].pid;
	}
	return 0;
}

/* Signal-driven I/O goes to its owner again, at its restored pid: set on the helper's fd of
 * each object (the tasks hold that very open file), once every task and thread exists. O_ASYNC
 * itself is set by a task (restore_task.c): the signal names the fd that set it. */
int set_fowns(void)
{
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		if (!fp->fown_type || fp->hfd < 0)
			continue;
		struct f_owner_ex o = { .type = fp->fown_type - 1, .pid = restored_pid(fp->fown_pid) };
		char obj[32];
		snprintf(obj, sizeof obj, "file %d", fp->id);
		if (!o.pid)
			return proto_fail("resume", fp->path ? fp->path : obj, ESRCH, "its O_ASYNC owner %d is not restored", (int)fp->fown_pid);
		if (fcntl(fp->hfd, F_SETSIG, fp->fown_sig) < 0 || fcntl(fp->hfd, F_SETOWN_EX, &o) < 0)
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
			int fd = open(fp->path, flags | O_NOCTTY);
			if (fd < 0)
				return proto_fail("files", fp->path, errno, "cannot open the file");
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
		} else if (fp->kind == FILE_PROC) {
			continue; /* opened by each task that holds it, in its finish step */
		} else if (fp->kind != FILE_UNIX && fp->kind != FILE_INET && fp->hfd < 0) {
			return proto_fail("files", obj, EINVAL, "pipe end of an unknown pipe");
		}
		if (fp->hfd < 0)
			return proto_fail("files", obj, errno, "cannot place the file");
	}
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

