/* cgroup membership at restart (docs/cgroups.md): a task whose cgroup in a hierarchy is not the
 * restarter's own goes back into it before it runs. The coordinator resolved each such cgroup to
 * a mount of the restarter's and a path below it (`cgroup` plan lines, only for tasks that
 * differ: nothing here on the common path).
 *
 *   cgroups_prepare  (open_files, while file actions still run with a task's credentials) the
 *                    missing directories made with the task's credentials, and its right to
 *                    write the cgroup's cgroup.procs checked with them (an O_PATH fd kept)
 *   cgroups_enter    (once every task exists, stopped, before its memory) the task's pid
 *                    written to that cgroup.procs by the helper, through the checked fd
 *   cgroups_threads  (`cgthread` lines: a thread moved alone; in the task's tracer worker, at
 *                    its finish step, once its threads exist) the thread's tid written to its
 *                    cgroup's cgroup.threads (v2) or tasks (v1), checked the same way
 *   cgroups_undo     (a failed restart, once the tasks are gone) the directories it made
 *                    removed, deepest first, each only while it is still the one made (the
 *                    list and the check: made_files.c) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plan_parse.h"
#include "proto.h"
#include "restore.h"

extern struct plan plan;

struct cg_move {
	int task;
	pid_t tid; /* a thread of the task moved alone (its tid in the image), 0: the process */
	char *dir; /* mount point + "/" + path below it */
	size_t mountlen;
	int fd; /* O_PATH of DIR/cgroup.procs (a thread: cgroup.threads or tasks), checked writable
		 * with the task's credentials */
};
static struct cg_move *moves;
static int nmoves;

static struct made_list made; /* directories made, in the order made: parents first */

/* A path below the mount: relative, no empty, "." or ".." component (the coordinator's
 * validator already refused those; the helper checks again what it acts on). */
static int rel_ok(const char *p)
{
	if (p[0] == '/')
		return 0;
	for (const char *s = p; *s;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n + (e ? 1 : 0);
		if (e && !*s)
			return 0;
	}
	return 1;
}

static int add_move(struct plan_in *in, pid_t tid, const char *mount, const char *rel)
{
	TASK(t);
	NEED(t->kind == TASK_NORMAL && mount[0] == '/' && (!rel || rel_ok(rel)));
	size_t ml = strlen(mount), pl = rel ? strlen(rel) : 0;
	NEED(ml + pl + 2 + sizeof "/cgroup.threads" <= PATH_MAX);
	struct cg_move *mv = GROW(moves, nmoves);
	NEED(mv != NULL);
	mv->task = (int)(t - in->p->tasks);
	mv->tid = tid;
	mv->fd = -1;
	mv->mountlen = ml;
	mv->dir = malloc(ml + pl + 2);
	NEED(mv->dir != NULL);
	snprintf(mv->dir, ml + pl + 2, "%s%s%s", mount, pl ? "/" : "", pl ? rel : "");
	return 0;
}

int on_plan_cgroup(struct plan_in *in, struct msg_plan_cgroup *m)
{
	return add_move(in, 0, m->mount, m->path);
}

int on_plan_cgthread(struct plan_in *in, struct msg_plan_cgthread *m)
{
	return add_move(in, (pid_t)m->tid, m->mount, m->path); /* its tid: checked against the task's threads at its finish */
}

/* text written by the helper through o, an O_PATH fd checked writable with a task's
 * credentials (opened again for writing through /proc/self/fd): 0, or errno */
static int write_through(int o, const char *text)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", o);
	int fd = open(proc, O_WRONLY | O_CLOEXEC);
	int ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	int e = errno;
	if (fd >= 0)
		close(fd);
	return ok ? 0 : e;
}

/* text written to path by the helper, once task may write it (checked with its credentials):
 * 0, or errno */
static int write_checked(int task, const char *path, const char *text)
{
	int o = fs_checked(task, path, W_OK);
	if (o < 0)
		return errno;
	int e = write_through(o, text);
	close(o);
	return e;
}

int cgroups_prepare(void)
{
	for (int i = 0; i < nmoves; i++) {
		struct cg_move *mv = &moves[i];
		const struct task_plan *t = &plan.tasks[mv->task];
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s", mv->dir);
		/* each component below the mount point, made when missing */
		for (char *s = path + mv->mountlen; s && *s;) {
			char *e = strchr(s + 1, '/');
			if (e)
				*e = 0;
			struct stat st;
			if (lstat(path, &st) < 0) {
				int fd = errno == ENOENT ? fs_mkdir(mv->task, path, 0755) : -1;
				if (fd < 0 && errno != EEXIST)
					return proto_fail("create", "cgroup", errno, "process %d: cannot make cgroup directory %s%s",
							  t->old_pid, path, fs_who(mv->task));
				if (fd >= 0) {
					close(fd);
					made_add(&made, path);
				}
				/* v2: below its process's domain a thread's cgroup is threaded (made as a domain) */
				char type[PATH_MAX + 16];
				snprintf(type, sizeof type, "%s/cgroup.type", path);
				int te = fd >= 0 && mv->tid && access(type, F_OK) == 0 ? write_checked(mv->task, type, "threaded") : 0;
				if (te)
					return proto_fail("create", "cgroup", te, "process %d: cannot make cgroup %s threaded, for its thread %d%s",
							  t->old_pid, path, mv->tid, fs_who(mv->task));
			} else if (!S_ISDIR(st.st_mode))
				return proto_fail("create", "cgroup", ENOTDIR, "process %d: cgroup %s is not a directory", t->old_pid, path);
			if (e)
				*e = '/';
			s = e;
		}
		/* a thread: cgroup.threads in v2, tasks in v1 (no cgroup.threads there) */
		snprintf(path, sizeof path, "%s/cgroup.threads", mv->dir);
		if (mv->tid && access(path, F_OK) < 0)
			snprintf(path, sizeof path, "%s/tasks", mv->dir);
		else if (!mv->tid)
			snprintf(path, sizeof path, "%s/cgroup.procs", mv->dir);
		int fd = fs_checked(mv->task, path, W_OK);
		if (fd < 0)
			return proto_fail("create", "cgroup", errno, "process %d: cannot write %s%s", t->old_pid, path, fs_who(mv->task));
		mv->fd = restore_high(fd);
		if (mv->fd < 0)
			return proto_fail("create", "cgroup", errno, "cannot place an fd");
	}
	return 0;
}

/* The kernel's reasons for refusing a move into a cgroup, in words. */
static const char *why(int e)
{
	switch (e) {
	case EBUSY:
		return "the cgroup has controllers enabled for its children (cgroup v2: no processes in an inner cgroup)";
	case EOPNOTSUPP:
		return "the cgroup is threaded, or its type does not take a process (cgroup v2 threaded/domain mismatch)";
	case EACCES:
	case EPERM:
		return "permission denied";
	case ENOSPC:
		return "the cgroup has no CPUs or memory nodes (cpuset), or no room under its limits";
	case EAGAIN:
		return "a pids limit of the cgroup";
	default:
		return strerror(e);
	}
}

/* pid written through the checked file of mv: 0, or errno */
static int enter(const struct cg_move *mv, pid_t pid)
{
	char text[16];
	snprintf(text, sizeof text, "%d", pid);
	return write_through(mv->fd, text);
}

int cgroups_enter(void)
{
	for (int i = 0; i < nmoves; i++) {
		struct cg_move *mv = &moves[i];
		const struct task_plan *t = &plan.tasks[mv->task];
		int e = mv->tid ? 0 : enter(mv, t->pid);
		close(mv->fd); /* the tracer workers keep their copies for the threads */
		if (e)
			return proto_fail("create", "cgroup", e, "cannot move process %d into cgroup %s: %s", t->old_pid, mv->dir, why(e));
	}
	return 0;
}

int cgroups_threads(const struct task_plan *p)
{
	for (int i = 0; i < nmoves; i++) {
		struct cg_move *mv = &moves[i];
		if (!mv->tid || &plan.tasks[mv->task] != p)
			continue;
		const struct thread_plan *th = NULL;
		for (int k = 0; k < p->nthreads && !th; k++)
			if (p->threads[k].tid == mv->tid)
				th = &p->threads[k];
		if (!th)
			return proto_fail("finish", "cgroup", EINVAL, "process %d has no thread %d to move into cgroup %s", p->old_pid, mv->tid, mv->dir);
		int e = enter(mv, th->pid);
		if (e)
			return proto_fail("finish", "cgroup", e, "cannot move thread %d of process %d into cgroup %s: %s", mv->tid, p->old_pid, mv->dir, why(e));
	}
	return 0;
}

void cgroups_undo(int wait_ms)
{
	for (int i = made.n - 1; i >= 0; i--)
		for (int waited = 0; made_still(&made.v[i]); waited += 5) {
			if (rmdir(made.v[i].path) == 0 || errno != EBUSY || waited >= wait_ms)
				break;
			/* a task killed a moment ago has not left it yet */
			struct timespec nap = { 0, 5 * 1000000 };
			nanosleep(&nap, NULL);
		}
	made.n = 0;
}
