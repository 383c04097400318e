/* Files by path and their kin, opened by the helper before any task exists (at high fds every
 * task inherits): a file opened again by its path with its holder's credentials, an fd the
 * caller passed down (--inherit-fd), a content object opened again as an open file of its own;
 * /proc files are opened by each task that holds one (in its finish step, restore_task.c); a
 * deleted device node made again. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kind.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"


static int open_path(struct file_plan *fp)
{
	int flags = fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
	int fd = fs_open(fp->task, fp->path, flags | O_NOCTTY, 0);
	if (fd < 0)
		return proto_fail("files", fp->path, errno, "cannot open the file%s", fs_who(fp->task));
	if (!(flags & O_PATH) && lseek(fd, (off_t)fp->pos, SEEK_SET) < 0 && errno != ESPIPE)
		return proto_fail("files", fp->path, errno, "cannot seek to %llu", (unsigned long long)fp->pos);
	fp->hfd = restore_high(fd);
	return 0;
}

/* the object, opened again: an open file of its own (offset, access mode) */
static int open_reopen(struct restore_ctx *c, struct file_plan *fp)
{
	struct obj_plan *sp = &c->plan->objs[fp->obj];
	char self[64], obj[32];
	snprintf(obj, sizeof obj, "file %d", fp->id);
	snprintf(self, sizeof self, "/proc/self/fd/%d", sp->hfd);
	int flags = fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
	if ((flags & O_TMPFILE) == O_TMPFILE) /* made with O_TMPFILE (its O_DIRECTORY bit included): a file now */
		flags &= ~O_TMPFILE;
	/* a memfd's first read-write file is memfd_create's own: opened again it would count as a
	 * writer of the inode, and execveat of the memfd would fail with ETXTBSY, which it did not
	 * (zdtm memfd04). The task gets that very file; the helper keeps a reopened one at the same
	 * number for the contents (closed before the tasks run), so the task's flags (O_APPEND) do
	 * not move the helper's writes. */
	int own = sp->kind == OBJ_MEMFD && (flags & O_ACCMODE) == O_RDWR && !sp->own_given;
	int fd = own ? fcntl(sp->hfd, F_DUPFD_CLOEXEC, 0) : open(self, flags | O_CLOEXEC);
	if (own && fd >= 0) {
		sp->own_given = 1;
		int mine = open(self, O_RDWR | O_CLOEXEC);
		if (mine < 0 || dup3(mine, sp->hfd, O_CLOEXEC) < 0 || fcntl(fd, F_SETFL, flags & (O_APPEND | O_NONBLOCK | O_NOATIME | O_DIRECT)) < 0) {
			int e = errno;
			close(fd);
			fd = -1;
			errno = e;
		}
		if (mine >= 0)
			close(mine);
	}
	if (fd < 0 || (!(fp->flags & O_PATH) && lseek(fd, (off_t)fp->pos, SEEK_SET) < 0))
		return proto_fail("files", obj, errno, "cannot reopen %s", sp->name);
	fp->hfd = restore_high(fd);
	return 0;
}

int on_plan_file_devnode(struct plan_in *in, struct msg_plan_file_devnode *m)
{
	NEED(m->path[0] == '/' && strlen(m->path) < PATH_MAX - 32);
	struct file_plan *f = plan_new_file(in->p, m->id, "file.devnode");
	if (!f)
		return -1;
	f->kind = FILE_DEVNODE;
	NEED((f->path = strdup(m->path)) != NULL);
	f->arg[0] = m->rdev, f->arg[1] = m->mode, f->arg[2] = m->uid, f->arg[3] = m->gid;
	f->flags = (int)m->flags;
	return 0;
}

/* A deleted device node: made again at its path (beside it if another file took the name),
 * opened, deleted again, with its holder's credentials (CAP_MKNOD: trust.ts). */
static int open_devnode(struct file_plan *fp)
{
	int flags = fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
	char other[PATH_MAX];
	int fd = fs_mknod_open(fp->task, fp->path, (mode_t)fp->arg[1], fp->arg[0], (uid_t)fp->arg[2], (gid_t)fp->arg[3], flags);
	if (fd < 0 && errno == EEXIST) {
		snprintf(other, sizeof other, "%s.ucr-%d", fp->path, (int)getpid());
		fd = fs_mknod_open(fp->task, other, (mode_t)fp->arg[1], fp->arg[0], (uid_t)fp->arg[2], (gid_t)fp->arg[3], flags);
	}
	if (fd < 0)
		return proto_fail("files", fp->path, errno, "cannot make the deleted device node again%s", fs_who(fp->task));
	fp->hfd = restore_high(fd);
	return fp->hfd < 0 ? -1 : 0;
}

int on_plan_file_symlink(struct plan_in *in, struct msg_plan_file_symlink *m)
{
	NEED(m->path[0] == '/' && strlen(m->path) < PATH_MAX - 32 && m->target[0] && strlen(m->path) + strlen(m->target) + 2 <= PATH_MAX);
	struct file_plan *f = plan_new_file(in->p, m->id, "file.symlink");
	if (!f)
		return -1;
	f->kind = FILE_SYMLINK;
	NEED((f->path = strdup(m->path)) != NULL && (f->target = strdup(m->target)) != NULL);
	f->flags = (int)m->flags;
	return 0;
}

/* An O_PATH fd of a symbolic link removed since: made again at its path (beside it if another
 * file took the name) with its holder's credentials, opened O_PATH|O_NOFOLLOW, removed again. */
static int open_symlink(struct file_plan *fp)
{
	char other[PATH_MAX];
	int fd = fs_symlink_open(fp->task, fp->path, fp->target);
	if (fd < 0 && errno == EEXIST) {
		snprintf(other, sizeof other, "%s.ucr-%d", fp->path, (int)getpid());
		fd = fs_symlink_open(fp->task, other, fp->target);
	}
	if (fd < 0)
		return proto_fail("files", fp->path, errno, "cannot make the removed symbolic link again%s", fs_who(fp->task));
	fp->hfd = restore_high(fd);
	return fp->hfd < 0 ? -1 : 0;
}

static int file_open(struct restore_ctx *c, struct file_plan *fp)
{
	switch (fp->kind) {
	case FILE_PATH:
		return open_path(fp);
	case FILE_INHERIT:
		fp->hfd = fcntl(fp->srcfd, F_DUPFD_CLOEXEC, c->base);
		return 0;
	case FILE_REOPEN:
		return open_reopen(c, fp);
	case FILE_DEVNODE:
		return open_devnode(fp);
	case FILE_SYMLINK:
		return open_symlink(fp);
	default: /* FILE_PROC */
		return 1;
	}
}

static const int file_kinds[] = { FILE_PATH, FILE_INHERIT, FILE_REOPEN, FILE_PROC, FILE_DEVNODE, FILE_SYMLINK, 0 };

const struct kind_ops file_ops = {
	.name = "file",
	.file_kinds = file_kinds,
	.open_file = file_open,
};
