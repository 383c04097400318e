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
 *   cgroups_undo     (a failed restart, once the tasks are gone) the directories it made
 *                    removed, deepest first, each only while it is still the one made */
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
	char *dir; /* mount point + "/" + path below it */
	size_t mountlen;
	int fd; /* O_PATH of DIR/cgroup.procs, checked writable with the task's credentials */
};
static struct cg_move *moves;
static int nmoves;

struct cg_made {
	char *path;
	dev_t dev;
	ino_t ino;
};
static struct cg_made *made;
static int nmade;

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

int on_plan_cgroup(struct plan_in *in, struct msg_plan_cgroup *m)
{
	TASK(t);
	NEED(t->kind == TASK_NORMAL && m->mount[0] == '/' && (!m->path || rel_ok(m->path)));
	size_t ml = strlen(m->mount), pl = m->path ? strlen(m->path) : 0;
	NEED(ml + pl + 2 + sizeof "/cgroup.procs" <= PATH_MAX);
	struct cg_move *mv = GROW(moves, nmoves);
	NEED(mv != NULL);
	mv->task = (int)(t - in->p->tasks);
	mv->fd = -1;
	mv->mountlen = ml;
	mv->dir = malloc(ml + pl + 2);
	NEED(mv->dir != NULL);
	snprintf(mv->dir, ml + pl + 2, "%s%s%s", m->mount, pl ? "/" : "", pl ? m->path : "");
	return 0;
}

static void made_one(const char *path)
{
	struct stat st;
	struct cg_made *more = realloc(made, (size_t)(nmade + 1) * sizeof *made);
	if (!more || lstat(path, &st) < 0)
		return;
	made = more;
	made[nmade] = (struct cg_made){ strdup(path), st.st_dev, st.st_ino };
	if (made[nmade].path)
		nmade++;
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
					made_one(path);
				}
			} else if (!S_ISDIR(st.st_mode))
				return proto_fail("create", "cgroup", ENOTDIR, "process %d: cgroup %s is not a directory", t->old_pid, path);
			if (e)
				*e = '/';
			s = e;
		}
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

int cgroups_enter(void)
{
	for (int i = 0; i < nmoves; i++) {
		struct cg_move *mv = &moves[i];
		const struct task_plan *t = &plan.tasks[mv->task];
		char proc[64], pid[16];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", mv->fd);
		int n = snprintf(pid, sizeof pid, "%d", t->pid);
		int fd = open(proc, O_WRONLY | O_CLOEXEC);
		int ok = fd >= 0 && write(fd, pid, (size_t)n) == n;
		int e = errno;
		if (fd >= 0)
			close(fd);
		close(mv->fd);
		mv->fd = -1;
		if (!ok)
			return proto_fail("create", "cgroup", e, "cannot move process %d into cgroup %s: %s", t->old_pid, mv->dir, why(e));
	}
	return 0;
}

int cgroups_made(void)
{
	return nmade;
}

void cgroups_undo(int wait_ms)
{
	for (int i = nmade - 1; i >= 0; i--) {
		struct stat st;
		for (int waited = 0;; waited += 5) {
			if (lstat(made[i].path, &st) < 0 || st.st_dev != made[i].dev || st.st_ino != made[i].ino)
				break;
			if (rmdir(made[i].path) == 0 || errno != EBUSY || waited >= wait_ms)
				break;
			/* a task killed a moment ago has not left it yet */
			struct timespec nap = { 0, 5 * 1000000 };
			nanosleep(&nap, NULL);
		}
	}
	nmade = 0;
}
