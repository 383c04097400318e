/* pidfds of a process of the image (src/kernel/fds/pidfd.ts). The process must exist first, so
 * like a file of /proc a pidfd is opened late: each task holding one makes it itself in its
 * finish step (pidfd_open of the target's restored pid, restore_task.c), with the saved flags
 * (O_NONBLOCK, PIDFD_THREAD); the helper holds no fd of it. */
#define _GNU_SOURCE
#include <errno.h>

#include "kind.h"
#include "plan_parse.h"
#include "proto.h"

int on_plan_file_pidfd(struct plan_in *in, struct msg_plan_file_pidfd *m)
{
	struct file_plan *f = plan_new_file(in->p, m->id, "file.pidfd");
	if (!f)
		return -1;
	f->kind = FILE_PIDFD;
	f->proc_pid = (pid_t)m->pid;
	f->flags = (int)m->flags;
	return 0;
}

static int pidfd_open_file(struct restore_ctx *c, struct file_plan *fp)
{
	(void)c, (void)fp;
	return 1; /* made by each task that holds it */
}

static const int pidfd_kinds[] = { FILE_PIDFD, 0 };

const struct kind_ops pidfd_ops = {
	.name = "pidfd",
	.file_kinds = pidfd_kinds,
	.open_file = pidfd_open_file,
};
