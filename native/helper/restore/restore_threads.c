/* A task's other threads at restart (restore_task.c's restore_finish): created by the task
 * itself, then given their own state. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "batch.h"
#include "fault.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

#define TWAVE 64   /* threads set up at once */
#define TSLOT 448  /* scratch bytes per thread of a wave: its table (5 calls) at 0, name at 384, stack_t at 416 */

static int setup_failed(const struct thread_plan *th, const struct batch *b, int bad)
{
	static const char *const what[] = { "rseq", "prctl(PR_SET_NAME)", "personality", "sigaltstack", "set_robust_list" };
	char obj[32];
	snprintf(obj, sizeof obj, "thread %d", th->tid);
	int err = bad < b->done ? (int)-(long)b->calls[bad].ret : EPROTO;
	if (b->tags[bad] >= 3) /* as restore_sigstate's own calls report them */
		return proto_fail("finish", what[b->tags[bad]], err, "%s failed in the task", what[b->tags[bad]]);
	return proto_fail("finish", obj, err, "%s failed in the thread", what[b->tags[bad]]);
}

/* The thread's own calls, in one stop (started here, ended by the caller): rseq area, name,
 * personality (its own, when not the main thread's), alternate stack, robust list. */
static int setup_start(struct task_plan *p, struct thread_plan *th, struct tracee *t, struct batch *b, size_t slot)
{
	char obj[32];
	snprintf(obj, sizeof obj, "thread %d", th->tid);
	batch_init(b, 0);
	uint64_t name = t_scratch_put(t, slot + 384, th->comm, sizeof th->comm);
	if (!name)
		return proto_fail("finish", obj, errno, "cannot stage the thread's name");
	if (th->rseq_ptr)
		batch_add(b, SYS_rseq, th->rseq_ptr, th->rseq_len, 0, th->rseq_sig, 0, 0, 0, 0);
	batch_add(b, SYS_prctl, PR_SET_NAME, name, 0, 0, 0, 0, 0, 1);
	long pers = attrs_thread_personality(p, th->tid);
	if (pers >= 0)
		batch_add(b, SYS_personality, (uint64_t)pers, 0, 0, 0, 0, 0, 0, 2);
	const struct sigstate *s = &th->sig;
	if (!(s->alt_flags & SS_DISABLE) && s->alt_size) {
		stack_t ss = { .ss_sp = (void *)(uintptr_t)s->alt_sp, .ss_flags = s->alt_flags & ~SS_ONSTACK, .ss_size = s->alt_size };
		uint64_t a = t_scratch_put(t, slot + 416, &ss, sizeof ss);
		if (!a)
			return proto_fail("finish", "sigaltstack", errno, "cannot drive the task through %s", "sigaltstack");
		batch_add(b, SYS_sigaltstack, a, 0, 0, 0, 0, 0, 0, 3);
	}
	if (s->robust_head)
		batch_add(b, SYS_set_robust_list, s->robust_head, s->robust_len, 0, 0, 0, 0, 0, 4);
	if (batch_start(b, t, slot) < 0)
		return proto_fail_sys("rseq", "finish", obj, errno, "cannot drive the thread through rseq and prctl");
	return 0;
}

/* Where a thread's clone3 arguments go in the scratch area: its clone_args, then its tid. */
#define CSLOT 96

static void clone_args_of(const struct thread_plan *th, uint64_t tidp, struct clone_args *ca)
{
	*ca = (struct clone_args){
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
			 (th->tidaddr ? CLONE_CHILD_CLEARTID : 0),
		.child_tid = th->tidaddr,
		.set_tid = tidp, .set_tid_size = 1,
	};
}

static int clone_failed(const struct thread_plan *th, long ret)
{
	char obj[32];
	snprintf(obj, sizeof obj, "thread %d", th->tid);
	return proto_fail_sys("clone3", "finish", obj, (int)-ret, "clone3 of the thread failed%s", ret == -EEXIST ? " (tid in use)" : "");
}

/* A new thread (stopped before it runs, as PTRACE_O_TRACECLONE attaches it) waited for; its
 * registers are where its own calls start from. */
static int thread_born(struct thread_plan *th, struct tracee *t, const struct tracee *main_t)
{
	char obj[32];
	snprintf(obj, sizeof obj, "thread %d", th->tid);
	int st;
	if (t_wait(th->pid, &st) < 0)
		return proto_fail("finish", obj, errno, "the new thread did not stop");
	*t = *main_t;
	t->pid = th->pid;
	if (t_get_regs(th->pid, &t->regs) < 0)
		return proto_fail("finish", obj, errno, "cannot read the new thread's registers");
	return 0;
}

/* The wave's n threads (from w0) made by one batch of clone3 calls in the task: one stop per
 * thread (its PTRACE_EVENT_CLONE) instead of a call injected for each. */
static int clone_wave(struct task_plan *p, int w0, int n, struct tracee *t, const struct tracee *main_t)
{
	static unsigned char args[TWAVE * CSLOT];
	static struct batch b;
	pid_t born[TWAVE];
	int nborn = 0;
	memset(args, 0, sizeof args);
	batch_init(&b, 0);
	/* a test's fault: the middle thread of the first wave asks for a tid in use (the main
	 * thread's), as when another process took it after the coordinator found it free */
	int taken = w0 == 0 && fault_at("thread-tid", p->old_pid) ? n / 2 : -1;
	for (int i = 0; i < n; i++) {
		const struct thread_plan *th = &p->threads[w0 + i];
		struct clone_args ca;
		clone_args_of(th, rt.scratch + (uint64_t)i * CSLOT + sizeof ca, &ca);
		int32_t tid = i == taken ? p->nspid : th->tid;
		memcpy(args + (size_t)i * CSLOT, &ca, sizeof ca);
		memcpy(args + (size_t)i * CSLOT + sizeof ca, &tid, sizeof tid);
		batch_add(&b, SYS_clone3, rt.scratch + (uint64_t)i * CSLOT, sizeof ca, 0, 0, 0, 0, 0, i);
	}
	if (!t_scratch_put(&rt, 0, args, (size_t)n * CSLOT) || batch_start(&b, &rt, BATCH_TABLE_OFF) < 0 ||
	    batch_end_clones(&b, &rt, born, n, &nborn) < 0)
		return proto_fail_sys("clone3", "finish", "threads", errno, "cannot drive the task through clone3");
	int bad = batch_failed(&b);
	/* one clone event per thread made, in the order of the calls */
	int made = bad < 0 ? n : bad;
	if (nborn != made)
		return proto_fail("finish", "threads", EPROTO, "clone3 made %d threads, %d reported", made, nborn);
	for (int i = 0; i < made; i++) {
		struct thread_plan *th = &p->threads[w0 + i];
		th->pid = born[i] ? born[i] : (pid_t)b.calls[i].ret;
		if (thread_born(th, &t[i], main_t) < 0)
			return -1;
	}
	if (bad >= 0)
		return bad < b.done ? clone_failed(&p->threads[w0 + bad], (long)b.calls[bad].ret) : proto_fail("finish", "threads", EPROTO, "clone3 of the threads stopped early");
	return 0;
}

/* The task's other threads, created by the task itself (injected clone3 with CLONE_THREAD at
 * the wanted tid, and the thread's clear_child_tid address as CLONE_CHILD_CLEARTID sets it),
 * each attached before it runs; then, TWAVE threads at once (each its own scratch slot: they
 * run their calls in parallel instead of one stop after the other), its rseq area, name,
 * alternate stack and robust list (one stop), then its pending signals; xstate, registers and
 * mask come last (finish_threads). A task with seccomp filters installs them between the
 * clones (seccomp_before_thread): one thread at a time, in the order of old. The threads stay
 * stopped until the whole tree resumes. */
int restore_threads(struct task_plan *p)
{
	if (!p->nthreads)
		return 0;
	if (ptrace(PTRACE_SETOPTIONS, rt.pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE) < 0)
		return proto_fail_sys("PTRACE_SETOPTIONS", "finish", "threads", errno, "PTRACE_SETOPTIONS failed");
	struct tracee main_t = rt;
	static struct batch b[TWAVE];
	static struct tracee t[TWAVE];
	int wave = p->nsc ? 1 : TWAVE;
	for (int w0 = 0; w0 < p->nthreads; w0 += wave) {
		int n = p->nthreads - w0 < wave ? p->nthreads - w0 : wave;
		/* a task with seccomp filters installs them between the clones, one thread at a
		 * time in the order of old: the filters each is born with (restore_seccomp.c) */
		if ((p->nsc && seccomp_before_thread(p, w0) < 0) || clone_wave(p, w0, n, t, &main_t) < 0)
			return -1;
		/* every thread started is waited for, also after a failure */
		int started = 0, rc = 0;
		for (; started < n && rc == 0; started++)
			rc = setup_start(p, &p->threads[w0 + started], &t[started], &b[started], (size_t)started * TSLOT);
		if (rc < 0)
			started--; /* that one did not start */
		for (int i = 0; i < started; i++) {
			struct thread_plan *th = &p->threads[w0 + i];
			if (batch_end(&b[i], &t[i]) < 0 && rc == 0) {
				char obj[32];
				snprintf(obj, sizeof obj, "thread %d", th->tid);
				rc = proto_fail_sys("rseq", "finish", obj, errno, "cannot drive the thread through rseq and prctl");
			}
			int bad = rc == 0 ? batch_failed(&b[i]) : -1;
			if (bad >= 0)
				rc = setup_failed(th, &b[i], bad);
		}
		for (int i = 0; i < n && rc == 0; i++) {
			struct thread_plan *th = &p->threads[w0 + i];
			rt = t[i];
			rc = restore_pending(&th->sig, p->nspid, th->tid, NULL, 0);
		}
		rt = main_t;
		if (rc < 0)
			return -1;
	}
	if (ptrace(PTRACE_SETOPTIONS, rt.pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | (p->sc_main ? PTRACE_O_SUSPEND_SECCOMP : 0)) < 0)
		return proto_fail_sys("PTRACE_SETOPTIONS", "finish", "threads", errno, "PTRACE_SETOPTIONS failed");
	return 0;
}

/* Last per-thread state, once no more calls are injected into the threads. */
int finish_threads(struct task_plan *p)
{
	static unsigned char xs[65536]; /* a thread's xstate with its zeros (plan_thread.c) */
	for (int i = 0; i < p->nthreads; i++) {
		struct thread_plan *th = &p->threads[i];
		memcpy(xs, th->xstate, th->xstate_have);
		memset(xs + th->xstate_have, 0, th->xstate_len - th->xstate_have);
		if (t_set_xstate(th->pid, xs, th->xstate_len) < 0 || t_set_regs(th->pid, &th->regs) < 0 ||
		    ptrace(PTRACE_SETSIGMASK, th->pid, (void *)8, &th->sigmask) < 0)
			return proto_fail("finish", "thread", errno, "cannot set the state of thread %d", th->tid);
	}
	return 0;
}
