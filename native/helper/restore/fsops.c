/* The filesystem actions of fscred.c, done by whoever runs them (the helper for its own
 * credentials, or an agent that took a task's), and the helper's calls for them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "fscred.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"

extern struct plan plan;

static socklen_t sun_of(const char *path, struct sockaddr_un *a)
{
	size_t len = strnlen(path, sizeof a->sun_path);
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, path, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* A socket file nobody is bound to any more (connect is refused): 1, else 0. */
static int stale(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	struct sockaddr_un a;
	socklen_t al = sun_of(path, &a);
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = s >= 0 ? connect(s, (struct sockaddr *)&a, al) : 0;
	int e = errno;
	if (s >= 0)
		close(s);
	return r < 0 && e == ECONNREFUSED;
}

/* A bind or connect; a relative name (flags 1) in the directory that follows the address (the
 * working directory is put back). */
static int addr_do(const struct fsreq *r, int fd)
{
	int cwd = -1, dir = -1, ret = -1;
	if (r->flags && ((cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			 (dir = open(r->path + FS_ADDR_MAX, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || fchdir(dir) < 0))
		goto out;
	ret = r->op == FS_BIND ? bind(fd, (const struct sockaddr *)r->path, (socklen_t)r->alen)
			       : connect(fd, (const struct sockaddr *)r->path, (socklen_t)r->alen);
out:;
	int e = errno;
	if (cwd >= 0 && dir >= 0 && fchdir(cwd) < 0)
		ret = -1, e = errno;
	if (cwd >= 0)
		close(cwd);
	if (dir >= 0)
		close(dir);
	errno = e;
	return ret;
}

/* One action, by whoever runs it. */
int fs_do(const struct fsreq *r, int fd, int *out)
{
	*out = -1;
	switch (r->op) {
	case FS_OPEN:
		return *out = open(r->path, r->flags | O_CLOEXEC, (mode_t)r->mode);
	case FS_OPENDIR: /* the task changes to it later with fchdir: search permission checked here */
		*out = open(r->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*out >= 0 && fs_in_agent && fchdir(*out) < 0) {
			int e = errno;
			close(*out);
			*out = -1;
			errno = e;
		}
		return *out;
	case FS_CHECKED: /* no open of the file itself (a FIFO's would wait): its permission */
		*out = open(r->path, O_PATH | O_CLOEXEC);
		if (*out >= 0 && syscall(SYS_faccessat2, *out, "", r->mode, AT_EMPTY_PATH | AT_EACCESS) < 0) {
			int e = errno;
			close(*out);
			*out = -1;
			errno = e;
		}
		return *out;
	case FS_UNLINK:
		return unlink(r->path);
	case FS_STALE:
		return stale(r->path);
	case FS_BIND:
	case FS_CONNECT:
		return addr_do(r, fd);
	case FS_CHOWN:
		return chown(r->path, (uid_t)r->uid, (gid_t)r->gid);
	case FS_CHMOD:
		return chmod(r->path, (mode_t)r->mode);
	case FS_FCHMOD:
		return fchmod(fd, (mode_t)r->mode);
	case FS_WATCH:
		return inotify_add_watch(fd, r->path, (uint32_t)r->mode);
	case FS_MKDIR: /* a removed directory made again, and opened (never through a symlink) */
		if (mkdir(r->path, (mode_t)r->mode) < 0)
			return -1;
		*out = open(r->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (*out < 0) {
			int e = errno;
			rmdir(r->path);
			errno = e;
		}
		return *out;
	case FS_RMDIR:
		return rmdir(r->path);
	case FS_MKFIFO: /* a removed FIFO made again, opened read-write (never waits) and removed again */
		if (mknod(r->path, S_IFIFO | (mode_t)r->mode, 0) < 0)
			return -1;
		*out = open(r->path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
		{
			int e = errno;
			struct stat st;
			if (*out >= 0 && (fstat(*out, &st) < 0 || !S_ISFIFO(st.st_mode) || fchmod(*out, (mode_t)r->mode) < 0)) {
				e = errno ? errno : EINVAL;
				close(*out);
				*out = -1;
			}
			unlink(r->path);
			errno = e;
		}
		return *out;
	case FS_SYMLINK: /* a removed symlink made again (its target after the path's NUL), opened O_PATH, removed again */
		if (symlink(r->path + strlen(r->path) + 1, r->path) < 0)
			return -1;
		*out = open(r->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		{
			int e = errno;
			struct stat st;
			if (*out >= 0 && (fstat(*out, &st) < 0 || !S_ISLNK(st.st_mode))) {
				e = errno ? errno : EINVAL;
				close(*out);
				*out = -1;
			}
			unlink(r->path);
			errno = e;
		}
		return *out;
	case FS_MKNOD: /* a deleted device node made again, opened and deleted again at once */
		if (mknod(r->path, S_IFCHR | (mode_t)r->mode, (dev_t)r->rdev) < 0)
			return -1;
		*out = open(r->path, r->flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		int e = errno;
		char self[64]; /* an O_PATH fd takes no fchown: its /proc link leads to the node */
		snprintf(self, sizeof self, "/proc/self/fd/%d", *out);
		if (*out >= 0 && (chown(self, (uid_t)r->uid, (gid_t)r->gid) < 0 || chmod(self, (mode_t)r->mode) < 0)) {
			e = errno;
			close(*out);
			*out = -1;
		}
		unlink(r->path);
		errno = e;
		return *out;
	case FS_ACCESSFD: /* the task may do r->mode (R_OK...) to the open file fd (a deleted file) */
		return (int)syscall(SYS_faccessat2, fd, "", r->mode, AT_EMPTY_PATH | AT_EACCESS);
	}
	errno = EINVAL;
	return -1;
}

static int with_path(struct fsreq *r, const char *path)
{
	size_t len = strlen(path);
	if (len >= sizeof r->path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(r->path, path, len + 1);
	return 0;
}

int fs_open(int task, const char *path, int flags, int mode)
{
	static struct fsreq r;
	int fd;
	r = (struct fsreq){ .op = FS_OPEN, .flags = flags, .mode = mode };
	if (with_path(&r, path) < 0)
		return -1;
	fs_call(task, &r, -1, &fd);
	/* A file the task opened while it could (a log opened as root, then setuid: nginx, the
	 * mlock_setuid case) that its credentials now refuse: root's own image restarted by root
	 * (trusted: it had everything) reopens it with the helper's credentials. Never a file the
	 * restart creates: that one must be the task's. */
	if (fd < 0 && (errno == EACCES || errno == EPERM) && plan.trusted && !(flags & O_CREAT)) {
		int e = errno;
		if (fs_do(&r, -1, &fd) < 0 || fd < 0) {
			fd = -1;
			errno = e;
		}
	}
	return fd;
}

int fs_checked(int task, const char *path, int access)
{
	static struct fsreq r;
	int fd;
	r = (struct fsreq){ .op = FS_CHECKED, .mode = access };
	if (with_path(&r, path) < 0)
		return -1;
	fs_call(task, &r, -1, &fd);
	return fd;
}

int fs_opendir(int task, const char *path)
{
	static struct fsreq r;
	int fd;
	r = (struct fsreq){ .op = FS_OPENDIR };
	if (with_path(&r, path) < 0)
		return -1;
	fs_call(task, &r, -1, &fd);
	return fd;
}

static int path_op(int task, int op, const char *path, int fd, int mode, int uid, int gid)
{
	static struct fsreq r;
	r = (struct fsreq){ .op = op, .mode = mode, .uid = uid, .gid = gid };
	if (with_path(&r, path) < 0)
		return -1;
	return fs_call(task, &r, fd, NULL);
}

int fs_unlink(int task, const char *path)
{
	return path_op(task, FS_UNLINK, path, -1, 0, 0, 0);
}

int fs_rmdir(int task, const char *path)
{
	return path_op(task, FS_RMDIR, path, -1, 0, 0, 0);
}

int fs_mkdir(int task, const char *path, int mode)
{
	static struct fsreq r;
	int fd;
	r = (struct fsreq){ .op = FS_MKDIR, .mode = mode };
	if (with_path(&r, path) < 0)
		return -1;
	fs_call(task, &r, -1, &fd);
	return fd;
}

int fs_stale(int task, const char *path)
{
	return path_op(task, FS_STALE, path, -1, 0, 0, 0);
}

int fs_chown(int task, const char *path, uid_t uid, gid_t gid)
{
	return path_op(task, FS_CHOWN, path, -1, 0, (int)uid, (int)gid);
}

int fs_chmod(int task, const char *path, mode_t mode)
{
	return path_op(task, FS_CHMOD, path, -1, (int)fs_mode(mode), 0, 0);
}

int fs_fchmod(int task, int fd, mode_t mode)
{
	return path_op(task, FS_FCHMOD, "", fd, (int)fs_mode(mode), 0, 0);
}

int fs_mknod_open(int task, const char *path, mode_t mode, unsigned long long rdev, uid_t uid, gid_t gid, int flags)
{
	static struct fsreq r;
	int fd;
	r = (struct fsreq){ .op = FS_MKNOD, .mode = (int)fs_mode(mode), .rdev = rdev, .uid = (int)uid, .gid = (int)gid, .flags = flags };
	if (with_path(&r, path) < 0)
		return -1;
	fs_call(task, &r, -1, &fd);
	return fd;
}

int fs_mkfifo_open(int task, const char *path, mode_t mode)
{
	static struct fsreq r;
	int fd;
	r = (struct fsreq){ .op = FS_MKFIFO, .mode = (int)fs_mode(mode) };
	if (with_path(&r, path) < 0)
		return -1;
	fs_call(task, &r, -1, &fd);
	return fd;
}

int fs_symlink_open(int task, const char *path, const char *target)
{
	static struct fsreq r;
	int fd;
	size_t n = strlen(path), t = strlen(target);
	if (n + t + 2 > sizeof r.path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	r = (struct fsreq){ .op = FS_SYMLINK };
	memcpy(r.path, path, n + 1);
	memcpy(r.path + n + 1, target, t + 1);
	fs_call(task, &r, -1, &fd);
	return fd;
}

int fs_access_fd(int task, int fd, int access)
{
	return path_op(task, FS_ACCESSFD, "", fd, access, 0, 0);
}

int fs_watch(int task, int ifd, const char *path, uint32_t mask)
{
	return path_op(task, FS_WATCH, path, ifd, (int)mask, 0, 0);
}

static int addr_op(int task, int op, int fd, const char *dir, const void *addr, socklen_t len)
{
	static struct fsreq r;
	r = (struct fsreq){ .op = op, .alen = (unsigned)len, .flags = dir != NULL };
	if (len > FS_ADDR_MAX || (dir && strlen(dir) >= sizeof r.path - FS_ADDR_MAX)) {
		errno = len > FS_ADDR_MAX ? EINVAL : ENAMETOOLONG;
		return -1;
	}
	memcpy(r.path, addr, len);
	if (dir)
		strcpy(r.path + FS_ADDR_MAX, dir);
	return fs_call(task, &r, fd, NULL);
}

int fs_bind(int task, int fd, const void *addr, socklen_t len)
{
	return addr_op(task, FS_BIND, fd, NULL, addr, len);
}

int fs_connect(int task, int fd, const void *addr, socklen_t len)
{
	return addr_op(task, FS_CONNECT, fd, NULL, addr, len);
}

int fs_bind_in(int task, int fd, const char *dir, const void *addr, socklen_t len)
{
	return addr_op(task, FS_BIND, fd, dir, addr, len);
}

int fs_connect_in(int task, int fd, const char *dir, const void *addr, socklen_t len)
{
	return addr_op(task, FS_CONNECT, fd, dir, addr, len);
}

mode_t fs_mode(mode_t mode)
{
	return plan.trusted ? mode & 07777 : mode & 01777;
}

const char *fs_who(int task)
{
	static char buf[64];
	if (task < 0 || task >= plan.ntasks)
		return "";
	snprintf(buf, sizeof buf, " as uid %u (process %d)", plan.tasks[task].uid[3], plan.tasks[task].old_pid);
	return buf;
}

const char *deleted_path(struct restore_ctx *c, int task, int ofile, char *buf, size_t len)
{
	int f = plan_find_file(c->plan, ofile);
	if (f < 0 || c->plan->files[f].kind != FILE_REOPEN || c->plan->objs[c->plan->files[f].obj].hfd < 0) {
		proto_fail("files", "watch", EINVAL, "bad plan line (file %d is no unlinked file)", ofile);
		return NULL;
	}
	struct obj_plan *o = &c->plan->objs[c->plan->files[f].obj];
	if (fs_access_fd(task, o->hfd, R_OK) < 0) {
		proto_fail("files", o->name, errno, "cannot watch the deleted file%s", fs_who(task));
		return NULL;
	}
	snprintf(buf, len, "/proc/self/fd/%d", o->hfd);
	return buf;
}
