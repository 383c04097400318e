/* Processes sharing an fd table (CLONE_FILES) at restart (docs/restart-sharing.md). A sharer is the clone of a task of its group (plan line `share`) and restores no
 * fds: the group's first task (its leader) puts the table in order after the sharers stopped
 * (restore_tree.c), keeping every fd the sharers still need (the union of their keep lists).
 * Finish runs the leader first and then each sharer in turn (the coordinator's waves): the
 * leader closes the fds the restorer left in the table but the sharers' executables (their
 * PR_SET_MM_MAP still takes them), each sharer then its executable's when no later sharer
 * needs that fd. So every fd of the restorer is gone before the sharers' POSIX locks are taken
 * (a lock belongs to the table: closing any fd of its file would drop it), except an
 * executable's fd closed by a later sharer. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "cmp.h"
#include "proto.h"
#include "restore.h"

extern struct plan plan;

/* The first task of task i's table: its creator's, up the chain (memoized in files_group:
 * share_keeps runs it for every task in turn, linear in all). */
static int files_leader(int i)
{
	int l = i, n = 0; /* n: no chain is longer than the tree */
	while (plan.tasks[l].share_files && plan.tasks[l].creator >= 0 && plan.tasks[l].files_group < 0 && n++ < plan.ntasks)
		l = plan.tasks[l].creator;
	if (plan.tasks[l].share_files && plan.tasks[l].files_group >= 0)
		l = plan.tasks[l].files_group;
	for (int j = i; j != l && plan.tasks[j].share_files && plan.tasks[j].creator >= 0 && plan.tasks[j].files_group < 0;
	     j = plan.tasks[j].creator)
		plan.tasks[j].files_group = l;
	return l;
}

int share_keeps(void)
{
	for (int i = 0; i < plan.ntasks; i++)
		plan.tasks[i].files_group = -1;
	for (int i = 0; i < plan.ntasks; i++) {
		struct task_plan *t = &plan.tasks[i], *l = &plan.tasks[files_leader(i)];
		if (!t->share_files || t->kind != TASK_NORMAL || l == t)
			continue;
		l->files_lead = 1;
		if (!t->nkeep)
			continue;
		int *u = realloc(l->keep, ((size_t)l->nkeep + (size_t)t->nkeep) * sizeof *u);
		if (!u)
			return proto_fail("files", "task", ENOMEM, "out of memory");
		memcpy(u + l->nkeep, t->keep, (size_t)t->nkeep * sizeof *u);
		int n = l->nkeep + t->nkeep;
		qsort(u, (size_t)n, sizeof *u, cmp_int);
		l->nkeep = 0;
		for (int k = 0; k < n; k++)
			if (!l->nkeep || u[l->nkeep - 1] != u[k])
				u[l->nkeep++] = u[k];
		l->keep = u;
	}
	return 0;
}

/* Whether a sharer of the group led by lead that finishes after task `after` (a higher index;
 * the leader: any) still needs fd as its executable (a pass over the tasks per fd it keeps). */
static int exe_needed(int lead, int fd, int after, int any)
{
	for (int j = 0; j < plan.ntasks; j++) {
		const struct task_plan *s = &plan.tasks[j];
		if ((any || j > after) && j != after && s->share_files && s->kind == TASK_NORMAL && s->exefd == fd &&
		    files_leader(j) == lead)
			return 1;
	}
	return 0;
}

int share_close_keeps(struct task_plan *p)
{
	int idx = (int)(p - plan.tasks), lead = files_leader(idx);
	long ret;
	if (p->share_files)
		return p->exefd < 0 || exe_needed(lead, p->exefd, idx, 0) ? 0
		       : rt_call("finish", "close", SYSCALL_REQ(SYS_close, (uint64_t)p->exefd), &ret);
	for (int k = 0; k < p->nkeep; k++)
		if (!exe_needed(lead, p->keep[k], idx, 1) &&
		    rt_call("finish", "close", SYSCALL_REQ(SYS_close, (uint64_t)p->keep[k]), &ret) < 0)
			return -1;
	return 0;
}
