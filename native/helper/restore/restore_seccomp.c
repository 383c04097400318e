/* Seccomp at restart (restore_seccomp.c): the plan's `scfilter` lines (every distinct filter
 * of the tree once, each naming the filter it was installed on) and a task's `seccomp` lines
 * (per thread: strict mode, or its newest filter), then the filters put back in the finish step.
 *
 * The task (every thread) first gets PTRACE_O_SUSPEND_SECCOMP (CAP_SYS_ADMIN): the calls
 * injected after the filters (credentials, the gadget's munmap, a strict task's anything) pass;
 * detaching ends it, so the filters and strict mode act from the task's first own instruction.
 * Filters are installed by the task itself (injected seccomp(2)), oldest first (the kernel runs
 * the newest first), shared by threads as before (a later TSYNC of the program still works):
 * for a trusted image each thread is born (restore_threads) when the main thread has the part of
 * its chain the two share, as the program's threads were; otherwise the part every thread has is
 * installed once by the main thread with SECCOMP_FILTER_FLAG_TSYNC. The rest of each thread's
 * chain by that thread; strict mode last (TSYNC cannot pass a thread in strict mode). A trusted image's are installed
 * before the credentials change (the helper's privilege, like the program that installed them
 * before dropping its own), any other's after the credentials and no_new_privs: the kernel
 * then asks the task itself for no_new_privs or CAP_SYS_ADMIN, as it asked the program. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plan_parse.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct restore_ctx ctx;

#define MAX_INSNS_PER_PATH 32768 /* the kernel's: a chain's instructions, 4 more per filter */
#define MAX_DEPTH (MAX_INSNS_PER_PATH / 5 + 1)

int on_plan_scfilter(struct plan_in *in, struct msg_plan_scfilter *m)
{
	struct plan *p = in->p;
	NEED(m->id == (uint64_t)p->nscf && m->prev < (int64_t)m->id && m->prog_len % sizeof(struct sock_filter) == 0);
	uint16_t len = (uint16_t)(m->prog_len / sizeof(struct sock_filter));
	int cost = len + (m->prev >= 0 ? p->scf[m->prev].cost + 4 : 0);
	NEED(cost <= MAX_INSNS_PER_PATH);
	struct scfilter_plan *f = GROW(p->scf, p->nscf);
	NEED(f != NULL);
	*f = (struct scfilter_plan){ .prev = (int)m->prev, .cost = cost, .flags = (uint32_t)m->flags, .len = len, .insns = malloc(m->prog_len) };
	NEED(f->insns != NULL);
	memcpy(f->insns, m->prog, m->prog_len);
	return 0;
}

int on_plan_seccomp(struct plan_in *in, struct msg_plan_seccomp *m)
{
	TASK(t);
	NEED(m->mode == 1 ? m->filter == -1 : m->filter >= 0 && m->filter < in->p->nscf);
	int known = (pid_t)m->tid == t->old_pid;
	for (int i = 0; i < t->nthreads; i++)
		known |= t->threads[i].tid == (pid_t)m->tid;
	for (int i = 0; i < t->nsc; i++)
		NEED(t->sc[i].tid != (pid_t)m->tid);
	NEED(known);
	struct seccomp_plan *s = GROW(t->sc, t->nsc);
	NEED(s != NULL);
	*s = (struct seccomp_plan){ .tid = (pid_t)m->tid, .mode = (int)m->mode, .filter = (int)m->filter };
	return 0;
}

/* The filters of a thread (its image tid), oldest first; the count. */
static int chain_of(const struct task_plan *p, pid_t tid, int *out)
{
	int id = -1, n = 0;
	for (int i = 0; i < p->nsc; i++)
		if (p->sc[i].tid == tid && p->sc[i].mode == 2)
			id = p->sc[i].filter;
	for (int k = id; k >= 0; k = ctx.plan->scf[k].prev)
		n++;
	for (int k = id, i = n; k >= 0; k = ctx.plan->scf[k].prev)
		out[--i] = k;
	return n;
}

/* The thread as the helper sees it. */
static pid_t seen_pid(const struct task_plan *p, pid_t main_pid, pid_t tid)
{
	if (tid == p->old_pid)
		return main_pid;
	for (int i = 0; i < p->nthreads; i++)
		if (p->threads[i].tid == tid)
			return p->threads[i].pid;
	return 0;
}

static int sc_fail(pid_t tid, int err, const char *what)
{
	char obj[32];
	snprintf(obj, sizeof obj, "thread %d", tid);
	return proto_fail_sys("seccomp", "finish", obj, err, "%s%s", what,
			      err == EACCES ? " with the task's own credentials (no_new_privs is off and it has no CAP_SYS_ADMIN)" : "");
}

/* One filter installed by the thread rt is on. */
static int install(pid_t tid, int id, uint64_t tsync)
{
	const struct scfilter_plan *f = &ctx.plan->scf[id];
	long ret;
	uint64_t at = t_scratch_put(&rt, 64, f->insns, (size_t)f->len * sizeof(struct sock_filter));
	struct sock_fprog prog = { .len = f->len, .filter = (struct sock_filter *)(uintptr_t)at };
	uint64_t pa = at ? t_scratch_put(&rt, 0, &prog, sizeof prog) : 0;
	if (!pa || t_inject(&rt, SYS_seccomp, SECCOMP_SET_MODE_FILTER, f->flags | tsync, pa, 0, 0, 0, &ret) < 0)
		return sc_fail(tid, errno, "cannot drive the task through seccomp");
	if (ret > 0) /* TSYNC: the thread that could not take it */
		return sc_fail((pid_t)ret, ESRCH, "cannot share the process's seccomp filters with it (SECCOMP_FILTER_FLAG_TSYNC)");
	return ret < 0 ? sc_fail(tid, (int)-ret, "cannot install its seccomp filter again") : 0;
}

/* How many filters, from the oldest, chain a (na) and b (nb) have in common. */
static int common(const int *a, int na, const int *b, int nb)
{
	int k = 0;
	while (k < na && k < nb && a[k] == b[k])
		k++;
	return k;
}

static int suspend(pid_t pid, long more)
{
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP | more) < 0)
		return proto_fail_sys("PTRACE_SETOPTIONS", "finish", "seccomp", errno,
				      "restoring seccomp needs PTRACE_O_SUSPEND_SECCOMP (CAP_SYS_ADMIN, and a restorer not under seccomp itself)");
	return 0;
}

/* A trusted image's threads are born under the main thread's filters they share (as a thread
 * created after its creator installed them): each thread's part in common with the main
 * thread's chain, in creation order, must never shrink. Then the filters shared by main and
 * some threads only are shared again too (TSYNC would give them to every thread). */
static int born_under_main(const struct task_plan *p)
{
	static int m[MAX_DEPTH], o[MAX_DEPTH];
	int nm = p->nsc && ctx.plan->trusted && !p->leader_exit ? chain_of(p, p->old_pid, m) : 0, last = 0;
	for (int i = 0; i < p->nthreads && nm; i++) {
		int k = common(m, nm, o, chain_of(p, p->threads[i].tid, o));
		if (k < last)
			return 0;
		last = k;
	}
	return nm > 0;
}

int seccomp_before_thread(struct task_plan *p, int i)
{
	static int m[MAX_DEPTH], o[MAX_DEPTH];
	if (!p->sc_way)
		p->sc_way = born_under_main(p) ? 1 : 2;
	if (p->sc_way != 1)
		return 0;
	int nm = chain_of(p, p->old_pid, m);
	int k = common(m, nm, o, chain_of(p, p->threads[i].tid, o)), rc = 0;
	/* the calls injected from now on pass; the new threads inherit the suspension */
	if (k > p->sc_main && !p->sc_main && suspend(rt.pid, PTRACE_O_TRACECLONE) < 0)
		return -1;
	while (!rc && p->sc_main < k)
		rc = install(p->old_pid, m[p->sc_main++], 0);
	return rc;
}

int seccomp_finish(struct task_plan *p, int after_creds)
{
	static int mine[MAX_DEPTH], other[MAX_DEPTH];
	if (!p->nsc || !!ctx.plan->trusted == !!after_creds)
		return 0;
	struct tracee main_t = rt;
	int rc = 0;
	for (int i = 0; i <= p->nthreads; i++)
		if (suspend(i < p->nthreads ? p->threads[i].pid : main_t.pid, 0) < 0)
			return -1;
	/* born under main's filters (seccomp_before_thread), or: the filters every thread has,
	 * installed once by main with TSYNC (shared) */
	int nm = p->leader_exit ? 0 : chain_of(p, p->old_pid, mine), shared = 0;
	if (p->sc_way != 1) {
		shared = nm;
		for (int i = 0; i < p->nthreads && shared; i++)
			shared = common(mine, shared, other, chain_of(p, p->threads[i].tid, other));
		for (int k = 0; k < shared && !rc; k++)
			rc = install(p->old_pid, mine[k], p->nthreads ? SECCOMP_FILTER_FLAG_TSYNC : 0);
	}
	/* each thread's own, then strict mode */
	for (int pass = 2; pass >= 1 && !rc; pass--)
		for (int i = 0; i < p->nsc && !rc; i++) {
			const struct seccomp_plan *s = &p->sc[i];
			if (s->mode != pass)
				continue;
			rt.pid = seen_pid(p, main_t.pid, s->tid);
			if (!rt.pid || t_get_regs(rt.pid, &rt.regs) < 0) {
				rc = sc_fail(s->tid, rt.pid ? errno : ESRCH, "cannot reach the thread");
				break;
			}
			long ret;
			int n = chain_of(p, s->tid, other);
			int from = p->sc_way != 1 ? shared : s->tid == p->old_pid ? p->sc_main : common(mine, nm, other, n);
			for (int k = from; k < n && !rc; k++)
				rc = install(s->tid, other[k], 0);
			if (!rc && s->mode == 1 && t_inject(&rt, SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, 0, 0, 0, 0, &ret) < 0)
				rc = sc_fail(s->tid, errno, "cannot drive the task through seccomp");
			else if (!rc && s->mode == 1 && ret < 0)
				rc = sc_fail(s->tid, (int)-ret, "cannot enter seccomp strict mode again");
		}
	rt = main_t;
	return rc;
}
