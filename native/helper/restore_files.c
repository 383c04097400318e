#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

/* The restart's shared objects, set up by the helper before any task exists: every open file
 * and pipe (at high fds every task inherits), the command and report pipes. */
#define _GNU_SOURCE
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

/* Files the restart made in the file system (socket files it bound, unlinked files it created
 * again), removed if the restart fails: each only while it is still the file made (same device
 * and inode), so nothing that took the path meanwhile is touched. files_undo() runs from a
 * signal handler too: lstat and unlink only. */
struct made_file {
	char *path;
	dev_t dev;
	ino_t ino;
};
static struct made_file *made;
static int nmade;

void files_created(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	struct made_file *more = realloc(made, (size_t)(nmade + 1) * sizeof *made);
	if (!more)
		return;
	made = more;
	made[nmade] = (struct made_file){ strdup(path), st.st_dev, st.st_ino };
	if (made[nmade].path)
		nmade++;
}

void files_undo(void)
{
	for (int i = 0; i < nmade; i++) {
		struct stat st;
		if (made[i].path && lstat(made[i].path, &st) == 0 && st.st_dev == made[i].dev && st.st_ino == made[i].ino)
			(S_ISDIR(st.st_mode) ? rmdir : unlink)(made[i].path);
	}
	nmade = 0;
}

/* Makes an unlinked file (open O_RDWR) or a removed directory (open O_RDONLY) at path, with its
 * holder's credentials. */
static int make_at(const struct obj_plan *sp, const char *path, int mode)
{
	if (sp->kind != OBJ_DIR)
		return fs_open(sp->task, path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
	return fs_mkdir(sp->task, path, mode);
}

/* An open file whose path was unlinked, or a directory that was removed (a cwd, or held open):
 * created again with its holder's credentials (at its path if that is free, else at a temporary
 * name beside it), opened, and unlinked at once, so only its fds (and cwds) keep it. A removed
 * directory is always empty. It never gets set-ID bits back unless the image is trusted
 * (fs_mode). */
static int create_unlinked(struct obj_plan *sp)
{
	char tmp[PATH_MAX];
	const char *at = sp->name;
	int dir = sp->kind == OBJ_DIR;
	int mode = (int)fs_mode((mode_t)sp->mode) & 0777;
	int fd = make_at(sp, at, mode);
	if (fd < 0 && errno == EEXIST) {
		const char *slash = strrchr(sp->name, '/');
		snprintf(tmp, sizeof tmp, "%.*s/.ucr-unlinked-%d-%d", (int)(slash - sp->name), sp->name, (int)getpid(), sp->id);
		at = tmp;
		fd = make_at(sp, at, mode);
	}
	if (fd < 0)
		return proto_fail("files", sp->name, errno, "%s%s", dir ? "cannot create the removed directory again" : "cannot create the unlinked file again",
				  fs_who(sp->task));
	files_created(at);
	if ((dir ? fs_rmdir(sp->task, at) : fs_unlink(sp->task, at)) < 0) {
		int e = errno;
		close(fd);
		return proto_fail("files", sp->name, e, "%s%s", dir ? "cannot remove the directory again" : "cannot unlink the file again", fs_who(sp->task));
	}
	return fd;
}

/* A file of tmpfs the tree mapped shared: still the very file of the checkpoint (same device
 * and inode: its contents are put back as they were), or gone (created again at its path with
 * its holder's credentials, removed again if the restart fails); another file at its path is
 * never used. Only ever on a tmpfs, whatever the image says. */
static int open_tmpfs(struct obj_plan *sp)
{
	char dir[PATH_MAX];
	struct statfs sf;
	snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(sp->name, '/') - sp->name) + 1, sp->name);
	int r = statfs(dir, &sf);
	if (r < 0 || sf.f_type != TMPFS_MAGIC)
		return proto_fail("files", sp->name, r < 0 ? errno : EXDEV, "its directory is not on a tmpfs");
	int created = 1;
	int fd = fs_open(sp->task, sp->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = 0;
		fd = fs_open(sp->task, sp->name, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0);
	}
	if (fd < 0)
		return proto_fail("files", sp->name, errno, "cannot create the tmpfs file again%s", fs_who(sp->task));
	if (created)
		files_created(sp->name);
	struct stat st;
	if (fstatfs(fd, &sf) < 0 || sf.f_type != TMPFS_MAGIC) {
		close(fd);
		return proto_fail("files", sp->name, EXDEV, "it is not on a tmpfs");
	}
	if (!created && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_dev != sp->dev || (uint64_t)st.st_ino != sp->ino)) {
		close(fd);
		return proto_fail("files", sp->name, EEXIST, "another file has taken its path since the checkpoint");
	}
	if (!created && ftruncate(fd, 0) < 0) { /* its pages are the image's: holes stay holes */
		int e = errno;
		close(fd);
		return proto_fail("files", sp->name, e, "cannot empty it");
	}
	return fd;
}

/* An owner the holder could give itself: its fsuid, and its fsgid or one of its groups (what
 * trust.ts already bounds an image to; checked again here unless the image is trusted). */
static int owner_allowed(const struct obj_plan *sp)
{
	if (plan.trusted)
		return 1;
	if (sp->task < 0 || sp->task >= plan.ntasks)
		return 0;
	const struct task_plan *t = &plan.tasks[sp->task];
	if (sp->uid != t->uid[3])
		return 0;
	if (sp->gid == t->gid[3])
		return 1;
	for (int i = 0; i < t->ngroups; i++)
		if (sp->gid == t->groups[i])
			return 1;
	return 0;
}

/* A memfd, unlinked or tmpfs file or removed directory gets its owner (by the helper: a memfd
 * is its own; bounded by owner_allowed), then its mode with its holder's credentials (a chown
 * clears set-ID bits; fs_mode keeps them only for a trusted image): before the seals
 * (F_SEAL_EXEC on an executable memfd would imply the write seals). */
static int set_owner_mode(struct obj_plan *sp, int fd)
{
	const char *what = sp->name ? sp->name : "object";
	if (sp->uid != (uid_t)-1 && !owner_allowed(sp))
		return proto_fail("files", what, EPERM, "its owner %u:%u is not its holder's%s", (unsigned)sp->uid, (unsigned)sp->gid, fs_who(sp->task));
	if (sp->uid != (uid_t)-1 && fchown(fd, sp->uid, sp->gid) < 0)
		return proto_fail("files", what, errno, "cannot give it its owner %u:%u back", (unsigned)sp->uid,
				  (unsigned)sp->gid);
	if (sp->mode >= 0 && fs_fchmod(sp->task, fd, (mode_t)sp->mode) < 0)
		return proto_fail("files", what, errno, "cannot give it its mode %04o back%s", sp->mode, fs_who(sp->task));
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
		} else if (sp->kind == OBJ_QUEUE) { /* read by restore_inet.c at release */
			fd = (int)syscall(SYS_memfd_create, "ucr-queue", 1U /* MFD_CLOEXEC */);
		} else if (sp->kind == OBJ_TMPFS) {
			if ((fd = open_tmpfs(sp)) < 0)
				return -1;
		} else if ((fd = create_unlinked(sp)) < 0) {
			return -1;
		}
		if (fd < 0 || (sp->kind != OBJ_DIR && ftruncate(fd, (off_t)sp->size) < 0))
			return proto_fail("files", obj, errno, "cannot create it");
		if (sp->kind != OBJ_ANON && sp->kind != OBJ_QUEUE && set_owner_mode(sp, fd) < 0) {
			close(fd);
			return -1;
		}
		sp->hfd = high(fd);
		if (sp->hfd < 0)
			return proto_fail("files", obj, errno, "cannot place it");
	}
	return 0;
}

int obj_known(uint32_t id)
{
	return plan_find_obj(&plan, (int)id) >= 0;
}

/* A record's pages, up to the object's size: an object of any size ends inside its last page. */
int obj_fill(uint32_t id, uint64_t off, const void *buf, size_t len)
{
	int i = plan_find_obj(&plan, (int)id);
	if (i < 0) {
		errno = ENOENT;
		return -1;
	}
	const struct obj_plan *sp = &plan.objs[i];
	if (off >= sp->size)
		return 0;
	if (len > sp->size - off)
		len = (size_t)(sp->size - off);
	return pwrite(sp->hfd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
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
			return proto_fail("files", pp->path, errno, "cannot open the FIFO%s", fs_who(task));
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", at);
		fds[0] = fds[1] = open(self, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		close(at);
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
				return proto_fail("files", fp->path, errno, "cannot open the file%s", fs_who(fp->task));
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

