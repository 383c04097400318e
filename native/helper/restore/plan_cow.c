/* The plan lines of copy-on-write sharing (format in plan.h): a task's `area`, `move` and `zap`
 * lines, the `srun` runs' window offsets, and the checks once the plan is complete; the sharing
 * itself is restore_cow.c's. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch.h"
#include "plan_parse.h"
#include "proto.h"
#include "proto_gen.h"

int on_plan_area(struct plan_in *in, struct msg_plan_area *m)
{
	TASK(t);
	struct plan *p = in->p;
	NEED(PAGED(m->off) && PAGED(m->len) && m->len && m->off < TASK_END && m->len < TASK_END - m->off && m->flags <= 0x7fffffff &&
	     PAGED(m->vma) && m->vma < TASK_END && !(m->vma && (m->flags & MAP_ANONYMOUS)) && (m->flags & MAP_PRIVATE));
	struct cow_area *a = GROW(t->areas, t->nareas);
	NEED(a != NULL);
	*a = (struct cow_area){ m->off, m->len, (int)m->flags, m->vma, -1 };
	if (m->off + m->len > p->window_len)
		p->window_len = m->off + m->len;
	return 0;
}

int on_plan_move(struct plan_in *in, struct msg_plan_move *m)
{
	TASK(t);
	NEED(PAGED(m->off) && PAGED(m->dst) && PAGED(m->len) && m->len && m->off < TASK_END && m->len < TASK_END - m->off &&
	     m->dst < TASK_END - m->len);
	struct cow_range *r = GROW(t->moves, t->nmoves);
	NEED(r != NULL);
	*r = (struct cow_range){ m->off, m->dst, m->len };
	return 0;
}

int on_plan_zap(struct plan_in *in, struct msg_plan_zap *m)
{
	TASK(t);
	NEED(PAGED(m->start) && PAGED(m->len) && m->len && m->start < TASK_END && m->len < TASK_END - m->start);
	struct cow_range *r = GROW(t->zaps, t->nzaps);
	NEED(r != NULL);
	*r = (struct cow_range){ m->start, 0, m->len };
	return 0;
}

/* guard <start> <len>: a guard region of the task (restore_task.c installs it) */
int on_plan_guard(struct plan_in *in, struct msg_plan_guard *m)
{
	TASK(t);
	NEED(PAGED(m->start) && PAGED(m->len) && m->len && m->start < TASK_END && m->len < TASK_END - m->start);
	NEED(!t->nguards || t->guards[t->nguards - 1].a + t->guards[t->nguards - 1].len <= m->start);
	struct cow_range *r = GROW(t->guards, t->nguards);
	NEED(r != NULL);
	*r = (struct cow_range){ m->start, 0, m->len };
	return 0;
}

/* srun <task> <addr> <npages> <window offset>, just appended to the runs by plan.c: only
 * after objrun and srun lines */
int plan_cow_srun(struct plan *p, uint64_t off)
{
	struct page_run *r = &p->runs[p->nruns - 1];
	NEED(PAGED(r->addr) && PAGED(off) && off < TASK_END && r->npages < (1ULL << 35));
	NEED(p->nruns == 1 || p->runs[p->nruns - 2].obj || p->runs[p->nruns - 2].stage);
	r->stage = off + 1; /* the window is placed later: until then the offset + 1 */
	p->nstaged++;
	p->tasks[r->task].staged_left++;
	return 0;
}

/* A private mapping whose pages fork() shares: anonymous memory (not a stack), or a file's
 * (the pages written since it was mapped); not a content object or a System V segment. */
static int cow_vma(const struct vma_plan *m)
{
	return m->obj < 0 && !m->is_shm && (m->flags & MAP_PRIVATE) && !(m->flags & MAP_GROWSDOWN) && m->fill;
}

/* After the last line: every move names one of the task's private anonymous or file mappings
 * exactly and lies in the window; a file area names one of the task's private file mappings of
 * its length; areas and staged runs lie in the window; staged runs in areas. */
int plan_cow_check(struct plan *p)
{
	for (int i = 0; i < p->ntasks; i++) {
		struct task_plan *t = &p->tasks[i];
		for (int k = 0; k < t->nareas; k++) {
			struct cow_area *a = &t->areas[k];
			if (!a->vma)
				continue;
			for (int j = 0; j < t->nvmas && a->vi < 0; j++)
				if (t->vmas[j].start == a->vma)
					a->vi = j;
			NEED(a->vi >= 0);
			const struct vma_plan *m = &t->vmas[a->vi];
			NEED(m->path && cow_vma(m) && m->end - m->start == a->len);
		}
		for (int k = 0; k < t->nmoves; k++) {
			struct cow_range *mv = &t->moves[k];
			NEED(mv->a + mv->len <= p->window_len);
			int found = 0;
			for (int j = 0; j < t->nvmas && !found; j++) {
				struct vma_plan *m = &t->vmas[j];
				if (m->start == mv->b && m->end - m->start == mv->len) {
					NEED(cow_vma(m) && !m->moved);
					m->moved = 1;
					found = 1;
				}
			}
			NEED(found);
		}
	}
	for (size_t r = 0; r < p->nruns; r++) {
		const struct page_run *run = &p->runs[r];
		if (!run->stage)
			continue;
		NEED(run->stage - 1 + run->npages * PAGE_SZ <= p->window_len);
	}
	return 0;
}
