/* pidfds (src/kernel/fds/pidfd.ts).
 *
 * Of a process of the image: the process must exist first, so like a file of /proc a pidfd is
 * opened late: each task holding one makes it itself in its finish step (pidfd_open of the
 * target's restored pid, restore_task.c), with the saved flags (O_NONBLOCK, PIDFD_THREAD); the
 * helper holds no fd of it.
 *
 * Of a process that had exited and was reaped (fdinfo Pid: -1): made by the helper before any
 * task exists, one short-lived child per such process (`group`: the pidfds of one process
 * share a pidfs inode, and so do the ones made again): the child exits at once, each of the
 * group's pidfds is opened on the zombie, then the child is reaped. Such a pidfd reads as its
 * process's exit (poll: readable), and signalling through it gives ESRCH. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kind.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"

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

int on_plan_file_deadpidfd(struct plan_in *in, struct msg_plan_file_deadpidfd *m)
{
	struct file_plan *f = plan_new_file(in->p, m->id, "file.deadpidfd");
	if (!f)
		return -1;
	f->kind = FILE_DEADPIDFD;
	f->arg[0] = m->group;
	f->flags = (int)m->flags;
	return 0;
}

/* A child that exits at once (vfork: the helper goes on once it has; not reaped yet). */
static pid_t dead_child(void)
{
	pid_t child = vfork();
	if (child == 0)
		_exit(0);
	return child;
}

/* Every group of pidfds of a dead process: a child that exits at once, the group's pidfds
 * opened on it, the child reaped. */
static int make_dead_pidfds(struct restore_ctx *c)
{
	struct plan *p = c->plan;
	for (int i = 0; i < p->nfiles; i++) {
		struct file_plan *first = &p->files[i];
		if (first->kind != FILE_DEADPIDFD || first->hfd >= 0)
			continue;
		pid_t child = dead_child();
		if (child < 0)
			return proto_fail_sys("vfork", "files", "pidfd", errno, "cannot make a process for a pidfd of a process that has exited");
		int rc = 0;
		for (int k = i; k < p->nfiles && !rc; k++) {
			struct file_plan *fp = &p->files[k];
			if (fp->kind != FILE_DEADPIDFD || fp->arg[0] != first->arg[0])
				continue;
			int fd = (int)syscall(SYS_pidfd_open, child, (unsigned)(fp->flags & O_NONBLOCK));
			if (fd < 0)
				rc = proto_fail_sys("pidfd_open", "files", "pidfd", errno, "cannot open a pidfd of a process that has exited");
			else
				fp->hfd = restore_high(fd);
		}
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int pidfd_open_file(struct restore_ctx *c, struct file_plan *fp)
{
	(void)c;
	if (fp->kind == FILE_DEADPIDFD) /* made with its group */
		return fp->hfd >= 0 ? 0 : proto_fail("files", "pidfd", EBADF, "pidfd of a process that has exited not made");
	return 1; /* made by each task that holds it */
}

static const int pidfd_kinds[] = { FILE_PIDFD, FILE_DEADPIDFD, 0 };

const struct kind_ops pidfd_ops = {
	.name = "pidfd",
	.file_kinds = pidfd_kinds,
	.open = make_dead_pidfds,
	.open_file = pidfd_open_file,
};
