/* The lines of a task section of the restore plan about its threads and signals: registers,
 * xstate, threads, alternate stacks, robust lists, pending signals, interval and POSIX timers
 * (format: plan.h; fields: protocol/schema.mjs; the task's other lines: plan_task.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_parse.h"
#include "proto.h"

int on_plan_regs(struct plan_in *in, struct msg_plan_regs *m)
{
	TASK(t);
	_Static_assert(sizeof t->regs == 216, "protocol/schema.mjs REGS");
	memcpy(&t->regs, m->regs, sizeof t->regs);
	t->have_regs = 1;
	return 0;
}

/* an XSAVE area: idle threads and forked tasks often have the same one (plan_intern) */
static unsigned char *copy(const unsigned char *b, size_t len)
{
	return (unsigned char *)plan_intern(b, len);
}

int on_plan_xstate(struct plan_in *in, struct msg_plan_xstate *m)
{
	TASK(t);
	if (m->has_same) {
		/* the area of an earlier task (by its index: t is the last one): the same bytes,
		 * shared (never written nor freed) */
		NEED(m->xstate_len == 0 && m->same + 1 < (uint64_t)in->p->ntasks);
		const struct task_plan *o = &in->p->tasks[m->same];
		NEED(o->xstate != NULL && m->len == o->xstate_len);
		t->xstate = o->xstate;
		t->xstate_len = o->xstate_len;
		t->xstate_used = o->xstate_used;
		return 0;
	}
	size_t len = m->has_len ? (size_t)m->len : m->xstate_len; /* the rest: zeros */
	NEED(m->xstate_len >= 1 && len >= m->xstate_len && (t->xstate = copy(m->xstate, m->xstate_len)) != NULL);
	t->xstate_len = len;
	t->xstate_used = m->xstate_len;
	return 0;
}

/* whole 128-byte siginfos, appended to the list (a long queue spans lines) */
static int siginfos(const unsigned char *b, size_t len, unsigned char **out, size_t *count)
{
	if (len % 128 || *count + len / 128 > MAX_PENDING)
		return -1;
	if (!len)
		return 0;
	unsigned char *more = realloc(*out, *count * 128 + len);
	if (!more)
		return -1;
	*out = more;
	memcpy(*out + *count * 128, b, len);
	*count += len / 128;
	return 0;
}

int on_plan_thread(struct plan_in *in, struct msg_plan_thread *m)
{
	TASK(t);
	struct thread_plan *th = GROW(t->threads, t->nthreads);
	NEED(th != NULL);
	th->tid = (pid_t)m->tid;
	memcpy(&th->regs, m->regs, sizeof th->regs);
	if (m->has_xsame) {
		/* the xstate of an earlier thread line of the task: the same bytes, shared (the plan's
		 * xstates are never written to nor freed) */
		NEED(m->xstate_len == 0 && m->xsame + 1 < (uint64_t)t->nthreads);
		const struct thread_plan *o = &t->threads[m->xsame];
		NEED(m->len == o->xstate_len);
		th->xstate = o->xstate;
		th->xstate_len = o->xstate_len;
		th->xstate_have = o->xstate_have;
	} else {
		/* the rest: zeros, added when it is set (2,000 threads x 11 KB of AMX state in every
		 * process holding the plan otherwise) */
		size_t xlen = m->has_len ? (size_t)m->len : m->xstate_len;
		NEED(m->xstate_len >= 1 && xlen >= m->xstate_len && (th->xstate = copy(m->xstate, m->xstate_len)) != NULL);
		th->xstate_len = xlen;
		th->xstate_have = m->xstate_len;
	}
	th->sigmask = m->sigmask;
	th->rseq_ptr = m->rseq_ptr;
	th->rseq_len = (uint32_t)m->rseq_len;
	th->rseq_sig = m->rseq_sig;
	th->tidaddr = m->tidaddr;
	th->sig.alt_sp = m->alt_sp;
	th->sig.alt_flags = (int)m->alt_flags;
	th->sig.alt_size = m->alt_size;
	NEED(siginfos(m->pending, m->pending_len, &th->sig.pending, &th->sig.npending) == 0);
	memcpy(th->comm, m->comm, m->comm_len);
	return 0;
}

int on_plan_altstack(struct plan_in *in, struct msg_plan_altstack *m)
{
	TASK(t);
	t->sig.alt_sp = m->sp;
	t->sig.alt_flags = (int)m->flags;
	t->sig.alt_size = m->size;
	return 0;
}

int on_plan_robust(struct plan_in *in, struct msg_plan_robust *m)
{
	TASK(t);
	t->sig.robust_head = m->head;
	t->sig.robust_len = m->len;
	return 0;
}

int on_plan_throbust(struct plan_in *in, struct msg_plan_throbust *m)
{
	TASK(t);
	NEED(t->nthreads > 0);
	t->threads[t->nthreads - 1].sig.robust_head = m->head;
	t->threads[t->nthreads - 1].sig.robust_len = m->len;
	return 0;
}

int on_plan_pending(struct plan_in *in, struct msg_plan_pending *m)
{
	TASK(t);
	NEED(siginfos(m->siginfos, m->siginfos_len, &t->sig.pending, &t->sig.npending) == 0);
	return 0;
}

int on_plan_thpending(struct plan_in *in, struct msg_plan_thpending *m)
{
	TASK(t);
	NEED(t->nthreads > 0);
	struct sigstate *s = &t->threads[t->nthreads - 1].sig;
	NEED(siginfos(m->siginfos, m->siginfos_len, &s->pending, &s->npending) == 0);
	return 0;
}

int on_plan_shpending(struct plan_in *in, struct msg_plan_shpending *m)
{
	TASK(t);
	NEED(siginfos(m->siginfos, m->siginfos_len, &t->shpending, &t->nshpending) == 0);
	return 0;
}

int on_plan_itimer(struct plan_in *in, struct msg_plan_itimer *m)
{
	TASK(t);
	const uint64_t v[4] = { m->isec, m->iusec, m->vsec, m->vusec };
	for (int i = 0; i < 4; i++)
		t->itimer[m->which][i] = (long)v[i];
	return 0;
}

int on_plan_ptimer(struct plan_in *in, struct msg_plan_ptimer *m)
{
	TASK(t);
	struct ptimer_plan *pt = GROW(t->ptimers, t->nptimers);
	NEED(pt != NULL);
	*pt = (struct ptimer_plan){ .id = (int)m->id, .clock = (int)m->clock, .notify = (int)m->notify, .signo = (int)m->signo,
				    .sigval = m->sigval, .tid = (int)m->tid,
				    .its = { (long)m->isec, (long)m->insec, (long)m->vsec, (long)m->vnsec },
				    .overrun = m->has_overrun ? (int)m->overrun : 0 };
	return 0;
}
