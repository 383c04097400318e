/* What a task reaches by path at restart — its working directory, every file it maps and its
 * executable — opened by the helper before any task exists, each with the task's credentials
 * (fscred.c), so the kernel's own permission checks apply: a task never gets a mapping of a
 * file, or a working directory, its credentials could not reach. Every task inherits these fds
 * (one per distinct credentials, path and access mode); it fchdir()s to its directory and keeps
 * only its own others (restore_child.c), its tracer maps with them (restore_map.c) and gives the
 * executable to PR_SET_MM_MAP (restore_task.c), and the task closes them there.
 * Content objects (memfd, shared anonymous memory, unlinked files) were created by the restart
 * itself for the task: a read-only mapping of one gets a read-only reopening of it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto.h"
#include "restore.h"

extern struct plan plan;

/* Paths already opened: (credentials of task, access, path) -> fd. */
struct opened {
	const struct task_plan *t;
	int flags, fd;
	const char *path;
	struct opened *next;
};
#define NBUCKETS 4096
static struct opened *bucket[NBUCKETS];

static int same_creds(const struct task_plan *a, const struct task_plan *b)
{
	return a == b || (!memcmp(a->uid, b->uid, sizeof a->uid) && !memcmp(a->gid, b->gid, sizeof a->gid) &&
			  a->ngroups == b->ngroups && !memcmp(a->groups, b->groups, (size_t)a->ngroups * sizeof a->groups[0]) &&
			  a->have_caps == b->have_caps && a->cap_eff == b->cap_eff && a->cap_prm == b->cap_prm && a->cap_inh == b->cap_inh);
}

static unsigned hash(const char *s, int flags)
{
	uint32_t h = 2166136261u ^ (uint32_t)flags;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % NBUCKETS;
}

/* The entry of (task's credentials, path, flags), made (fd -1: not opened yet) when there is
 * none; *made tells which. NULL: out of memory. */
static struct opened *opened_get(const struct task_plan *t, const char *path, int flags, int *made)
{
	unsigned h = hash(path, flags);
	*made = 0;
	for (struct opened *o = bucket[h]; o; o = o->next)
		if (o->flags == flags && !strcmp(o->path, path) && same_creds(o->t, t))
			return o;
	struct opened *o = malloc(sizeof *o);
	if (o) {
		*o = (struct opened){ t, flags, -1, path, bucket[h] };
		bucket[h] = o;
		*made = 1;
	}
	return o;
}

/* The helper's fd of path opened by task with flags (FS_OPENDIR for O_PATH | O_DIRECTORY). */
static int path_fd(int task, const char *path, int flags, const char *what)
{
	int made;
	struct opened *o = opened_get(&plan.tasks[task], path, flags, &made);
	if (!o)
		return proto_fail("files", path, ENOMEM, "cannot place %s", what);
	if (o->fd >= 0)
		return o->fd;
	int fd = flags == (O_PATH | O_DIRECTORY) ? fs_opendir(task, path) : fs_open(task, path, flags, 0);
	if (fd < 0)
		return proto_fail_sys("open", "files", path, errno, "cannot open %s%s", what, fs_who(task));
	if ((o->fd = restore_high(fd)) < 0)
		return proto_fail("files", path, errno, "cannot place %s", what);
	return o->fd;
}

/* The object reopened read-only (by the helper: the object is the restart's own). */
static int obj_rdonly(struct obj_plan *sp)
{
	if (sp->rdfd >= 0)
		return sp->rdfd;
	char self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", sp->hfd);
	sp->rdfd = restore_high(open(self, O_RDONLY | O_CLOEXEC));
	if (sp->rdfd < 0)
		return proto_fail("files", sp->name ? sp->name : "shared memory", errno, "cannot reopen it read-only");
	return sp->rdfd;
}

static int by_number(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The task's own fds of these, sorted, without duplicates: what it keeps (restore_child.c). */
static int keep_list(struct task_plan *t)
{
	int n = 0;
	t->keep = malloc(((size_t)t->nvmas + 1) * sizeof *t->keep);
	if (!t->keep)
		return proto_fail("files", "task", ENOMEM, "out of memory");
	if (t->exefd >= 0)
		t->keep[n++] = t->exefd;
	for (int k = 0; k < t->nvmas; k++)
		if (t->vmas[k].fd >= 0)
			t->keep[n++] = t->vmas[k].fd;
	qsort(t->keep, (size_t)n, sizeof *t->keep, by_number);
	t->nkeep = 0;
	for (int i = 0; i < n; i++)
		if (!t->nkeep || t->keep[t->nkeep - 1] != t->keep[i])
			t->keep[t->nkeep++] = t->keep[i];
	return 0;
}

/* Does this task reach a mapped file by path (not an object, a ring, shared memory or anonymous
 * memory)? With wr: opened for writing. */
static int by_path(const struct vma_plan *m, int *wr)
{
	*wr = (m->flags & MAP_SHARED) && ((m->prot & PROT_WRITE) || (m->madv & MADV_BIT_MAYWRITE));
	return !m->ring && !m->is_shm && m->obj < 0 && m->path && !(m->flags & MAP_ANONYMOUS);
}

/* How many fds open_task_paths() will take at most: one per distinct (credentials, path, access),
 * the entries path_fd() then opens (1,000 tasks mapping the same twenty files take twenty fds
 * per set of credentials, not 20,000), plus every task's working directory and executable
 * (content objects and their read-only reopenings are counted with the objects). */
int task_paths_need(void)
{
	int n = 0;
	for (int i = 0; i < plan.ntasks; i++) {
		const struct task_plan *t = &plan.tasks[i];
		if (t->kind != TASK_NORMAL)
			continue;
		n += 2; /* working directory, executable */
		for (int k = 0; k < t->nvmas; k++) {
			int wr, made;
			if (!by_path(&t->vmas[k], &wr))
				continue;
			if (!opened_get(t, t->vmas[k].path, wr ? O_RDWR : O_RDONLY, &made))
				return -1;
			n += made;
		}
	}
	return n;
}

int open_task_paths(void)
{
	for (int i = 0; i < plan.ntasks; i++) {
		struct task_plan *t = &plan.tasks[i];
		if (t->kind != TASK_NORMAL)
			continue;
		if (t->cwd && !t->cwd_obj && (t->cwdfd = path_fd(i, t->cwd, O_PATH | O_DIRECTORY, "the working directory")) < 0)
			return -1;
		if (t->exe && (t->exefd = path_fd(i, t->exe, O_RDONLY, "the executable")) < 0)
			return -1;
		for (int k = 0; k < t->nvmas; k++) {
			struct vma_plan *m = &t->vmas[k];
			int wr, path = by_path(m, &wr);
			if (m->ring) /* a packet socket's rings: mapped from the socket (kinds/rawsock) */
				m->fd = plan.files[m->ring - 1].hfd;
			if (path)
				m->fd = path_fd(i, m->path, wr ? O_RDWR : O_RDONLY, "the mapped file");
			else if (m->obj >= 0 && !m->ring && !m->is_shm)
				m->fd = wr ? plan.objs[m->obj].hfd : obj_rdonly(&plan.objs[m->obj]);
			else
				continue;
			if (m->fd < 0)
				return -1;
		}
		if (keep_list(t) < 0)
			return -1;
	}
	return share_keeps(); /* restore_share.c */
}

/* Once every mapping exists (a tracer's first finish step, the helper's resume): this process's
 * copies of the mapped files it opened and of the content objects (not a socket queue's, read at
 * release) are closed, so that their last close, which inotify and fanotify report (a deleted
 * watched file made again, a file of a marked mount), happens before the tasks run and its
 * events are read away with the restart's others (kinds' resume hooks). */
void restore_drop_copies(struct plan *p)
{
	static int done;
	if (done++)
		return;
	for (int h = 0; h < NBUCKETS; h++)
		for (struct opened *o = bucket[h]; o; o = o->next)
			if (o->fd >= 0)
				close(o->fd), o->fd = -1;
	for (int i = 0; i < p->nobjs; i++) {
		struct obj_plan *sp = &p->objs[i];
		if (sp->kind == OBJ_QUEUE)
			continue;
		if (sp->rdfd >= 0)
			close(sp->rdfd), sp->rdfd = -1;
		if (sp->hfd >= 0)
			close(sp->hfd), sp->hfd = -1;
	}
}
