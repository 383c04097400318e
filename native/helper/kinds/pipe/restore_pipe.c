/* Pipes and FIFOs, made again by the helper before any task exists (at high fds every task
 * inherits), refilled with their bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"
#include "kind.h"
#include "proto.h"
#include "restore.h"


/* A pipe, or a FIFO opened read-write (never blocks, keeps the pipe alive), refilled; then its
 * ends, each an open file of its own with its own status flags: of a pipe, its two fds, and
 * for a further open file of the same end (a program can open /proc/self/fd/N of a pipe) the
 * pipe opened again through /proc/self/fd; of a FIFO, the FIFO opened again that way with
 * each end's access mode (a peer exists, so no open waits). A FIFO is found, and the access
 * its ends need is checked, with its holder's credentials (fs_checked); the helper opens that
 * very inode. */
static int open_pipe(struct restore_ctx *c, struct pipe_plan *pp)
{
	int fds[2];
	char obj[32];
	snprintf(obj, sizeof obj, "pipe %d", pp->id);
	if (pp->path) {
		struct stat st;
		int task = -1, need = 0;
		for (int f = 0; f < c->plan->nfiles; f++)
			if (c->plan->files[f].kind == FILE_PIPE && c->plan->files[f].pipe == pp->id) {
				need |= c->plan->files[f].end == 0 ? R_OK : c->plan->files[f].end == 1 ? W_OK : R_OK | W_OK;
				if (task < 0)
					task = c->plan->files[f].task;
			}
		if (pp->ghost) { /* removed since: made again there, or beside it if the path is taken */
			fds[0] = fds[1] = fs_mkfifo_open(task, pp->path, (mode_t)(pp->ghost - 1));
			if (fds[0] < 0 && errno == EEXIST) {
				char tmp[PATH_MAX];
				const char *slash = strrchr(pp->path, '/');
				snprintf(tmp, sizeof tmp, "%.*s/.ucr-fifo-%d-%d", (int)(slash - pp->path), pp->path, (int)getpid(), pp->id);
				fds[0] = fds[1] = fs_mkfifo_open(task, tmp, (mode_t)(pp->ghost - 1));
			}
			if (fds[0] < 0)
				return proto_fail("files", pp->path, errno, "cannot make the removed FIFO again%s", fs_who(task));
		} else {
			int at = fs_checked(task, pp->path, need ? need : R_OK);
			if (at < 0)
				return proto_fail("files", pp->path, errno, "cannot open the FIFO%s", fs_who(task));
			char self[64];
			snprintf(self, sizeof self, "/proc/self/fd/%d", at);
			fds[0] = fds[1] = open(self, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			close(at);
		}
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
	int rd = restore_high(fds[0]), wr = pp->path ? rd : restore_high(fds[1]);
	int taken[2] = { 0, 0 }; /* a pipe's own read / write end is some file's already */
	for (int f = 0; f < c->plan->nfiles; f++) {
		struct file_plan *fp = &c->plan->files[f];
		if (fp->kind != FILE_PIPE || fp->pipe != pp->id)
			continue;
		if (pp->path || taken[fp->end & 1]) {
			static const int acc[3] = { O_RDONLY, O_WRONLY, O_RDWR };
			char self[64];
			snprintf(self, sizeof self, "/proc/self/fd/%d", fp->end ? wr : rd);
			fp->hfd = restore_high(open(self, acc[fp->end] | O_NONBLOCK | O_CLOEXEC));
		} else {
			fp->hfd = fcntl(fp->end ? wr : rd, F_DUPFD_CLOEXEC, c->base);
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

static int open_pipes(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->npipes; i++)
		if (open_pipe(c, &c->plan->pipes[i]) < 0)
			return -1;
	return 0;
}

/* every end was opened with its pipe */
static int pipe_end(struct restore_ctx *c, struct file_plan *fp)
{
	(void)c;
	char obj[32];
	snprintf(obj, sizeof obj, "file %d", fp->id);
	return fp->hfd < 0 ? proto_fail("files", obj, EINVAL, "pipe end of an unknown pipe") : 0;
}

static const int pipe_kinds[] = { FILE_PIPE, 0 };

const struct kind_ops pipe_ops = {
	.name = "pipe",
	.file_kinds = pipe_kinds,
	.open = open_pipes,
	.open_file = pipe_end,
};
