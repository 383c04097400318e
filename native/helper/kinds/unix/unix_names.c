/* Names of unix sockets at restart: a path still linked at checkpoint is bound again with its
 * holder's credentials (fscred.c), a relative one in its directory; a path unlinked since (the
 * file removed, or replaced by someone else's) is bound out of sight, in a private mount
 * namespace with a tmpfs over its directory, so getsockname() gives the same name while the path
 * (and whatever is there now) is left alone; the tree's sockets connect to such a socket
 * through an O_PATH fd of its socket file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "restore.h"
#include "unix.h"

socklen_t unix_addr(const char *name, size_t len, struct sockaddr_un *a)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* The path of a filesystem name (NUL-terminated), or NULL for an abstract one. */
const char *unix_name_path(const char *name, size_t len, char out[109])
{
	if (!len || !name[0])
		return NULL;
	memcpy(out, name, len);
	out[len] = 0;
	return out;
}

static int relative(const struct unix_plan *u)
{
	return u->namelen && u->name[0] && u->name[0] != '/';
}

const char *unix_path(const struct unix_plan *u, char *out)
{
	if (!u->namelen || !u->name[0])
		return NULL;
	int n = (int)strnlen(u->name, u->namelen);
	if (relative(u) && u->dir)
		snprintf(out, PATH_MAX, "%s/%.*s", u->dir, n, u->name);
	else
		snprintf(out, PATH_MAX, "%.*s", n, u->name);
	return out;
}

/* In the mount namespace of the child: a tmpfs over the nearest existing ancestor of dir, and
 * the rest of dir made in it. */
static int shadow_dir(char *dir)
{
	char anc[PATH_MAX];
	struct stat st;
	snprintf(anc, sizeof anc, "%s", dir);
	while (stat(anc, &st) < 0 || !S_ISDIR(st.st_mode)) {
		char *s = strrchr(anc, '/');
		if (!s)
			return -1;
		s[s == anc] = 0; /* "/" stays */
	}
	if (mount("tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=64k") < 0)
		return -1;
	for (size_t i = strlen(anc) + (strcmp(anc, "/") != 0), n = strlen(dir); i <= n; i++)
		if (dir[i] == '/' || !dir[i]) {
			char c = dir[i];
			dir[i] = 0;
			if (mkdir(dir, 0700) < 0 && errno != EEXIST)
				return -1;
			dir[i] = c;
		}
	return 0;
}

/* The child: binds fd out of sight, sends back an O_PATH fd of the socket file; its errno. */
static int shadow_child(int fd, const struct unix_plan *u, const char *path, int back)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *s = strrchr(dir, '/');
	if (!s || path[0] != '/')
		return EINVAL;
	s[s == dir] = 0;
	struct sockaddr_un a;
	socklen_t al = unix_addr(u->name, u->namelen, &a);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || shadow_dir(dir) < 0 ||
	    (relative(u) && chdir(u->dir) < 0) || bind(fd, (struct sockaddr *)&a, al) < 0)
		return errno;
	int o = open(path, O_PATH | O_CLOEXEC);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { "o", 1 };
	struct msghdr mh = { NULL, 0, &iov, 1, cb.buf, sizeof cb.buf, 0 };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET, cm->cmsg_type = SCM_RIGHTS, cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &o, sizeof o);
	return o < 0 || sendmsg(back, &mh, 0) != 1 ? errno : 0;
}

static int shadow_bind(int fd, struct unix_plan *u, const char *path)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	pid_t c = fork();
	if (c == 0)
		_exit(shadow_child(fd, u, path, sp[1]));
	close(sp[1]);
	int st = 0, err = c < 0 ? errno : 0;
	while (c > 0 && waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	if (!err)
		err = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
	if (!err) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} cb;
		char b;
		struct iovec iov = { &b, 1 };
		struct msghdr mh = { NULL, 0, &iov, 1, cb.buf, sizeof cb.buf, 0 };
		struct cmsghdr *cm;
		if (recvmsg(sp[0], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1 || !(cm = CMSG_FIRSTHDR(&mh)) || cm->cmsg_type != SCM_RIGHTS)
			err = errno ? errno : EIO;
		else
			memcpy(&u->opath, CMSG_DATA(cm), sizeof(int));
	}
	close(sp[0]);
	errno = err;
	return err ? -1 : 0;
}

int unix_bind(int fd, struct unix_plan *u, const char *obj)
{
	char path[PATH_MAX];
	const char *p = unix_path(u, path);
	struct sockaddr_un a;
	socklen_t al = unix_addr(u->name, u->namelen, &a);
	int task = u->task, r;
	struct stat st;
	if (p && u->unlinked) {
		if (shadow_bind(fd, u, p) == 0)
			return 0;
		if (errno != EPERM)
			return proto_fail("files", obj, errno, "cannot bind the unix socket to %s out of sight (its path was unlinked since the checkpoint)", p);
		/* no mount namespace without CAP_SYS_ADMIN: bound at the path and unlinked again at
		 * the end, only where no file is (or a stale socket file) */
		if (lstat(p, &st) == 0 && fs_stale(task, p) != 1)
			return proto_fail("files", obj, EEXIST, "cannot bind the unix socket to %s: its path was unlinked since the checkpoint and now holds another file (binding out of sight needs CAP_SYS_ADMIN)", p);
	}
	r = relative(u) && u->dir ? fs_bind_in(task, fd, u->dir, &a, al) : fs_bind(task, fd, &a, al);
	if (r < 0 && errno == EADDRINUSE && p) {
		/* a socket file nobody is bound to: ours from the checkpointed run */
		if (fs_stale(task, p) == 1)
			r = fs_unlink(task, p) < 0 ? -1 : relative(u) && u->dir ? fs_bind_in(task, fd, u->dir, &a, al) : fs_bind(task, fd, &a, al);
		else
			errno = EADDRINUSE;
	}
	if (r == 0 && p)
		files_created(p); /* removed again if the restart fails */
	if (r < 0)
		return proto_fail("files", obj, errno, "cannot bind the unix socket to %s%.*s%s%s", p ? p : "@",
				  p ? 0 : (int)u->namelen - 1, p ? "" : u->name + 1,
				  errno == EADDRINUSE ? ": the name is in use (a live socket, or a file that is not a socket)" : "",
				  fs_who(task));
	if (p && u->mode >= 0 && (fs_chown(task, p, (uid_t)u->uid, (gid_t)u->gid) < 0 || fs_chmod(task, p, (mode_t)u->mode) < 0))
		return proto_fail("files", p, errno, "cannot give the socket file its owner and mode%s", fs_who(task));
	return 0;
}

socklen_t unix_dest(const struct unix_plan *u, struct sockaddr_un *a)
{
	char path[PATH_MAX];
	if (u->opath >= 0)
		snprintf(path, sizeof path, "/proc/self/fd/%d", u->opath);
	if (u->opath >= 0 || (relative(u) && u->dir && unix_path(u, path) && strlen(path) < sizeof a->sun_path))
		return unix_addr(path, strlen(path), a);
	return unix_addr(u->name, u->namelen, a);
}

int unix_connect(int task, int fd, const struct unix_plan *to)
{
	struct sockaddr_un a;
	if (to->opath >= 0) {
		socklen_t al = unix_dest(to, &a);
		return connect(fd, (struct sockaddr *)&a, al);
	}
	socklen_t al = unix_addr(to->name, to->namelen, &a);
	return relative(to) && to->dir ? fs_connect_in(task, fd, to->dir, &a, al) : fs_connect(task, fd, &a, al);
}
