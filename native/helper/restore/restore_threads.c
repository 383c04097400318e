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
		for (int i = w0; i < w0 + n; i++) {
			struct thread_plan *th = &p->threads[i];
			char obj[32];
			snprintf(obj, sizeof obj, "thread %d", th->tid);
			if (seccomp_before_thread(p, i) < 0) /* the filters it is born with (restore_seccomp.c) */
				return -1;
			int32_t tid = th->tid;
			uint64_t tidp = t_scratch_put(&rt, 512, &tid, sizeof tid);
			struct clone_args ca = {
				.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
					 (th->tidaddr ? CLONE_CHILD_CLEARTID : 0),
				.child_tid = th->tidaddr,
				.set_tid = tidp, .set_tid_size = 1,
			};
			uint64_t cap = t_scratch_put(&rt, 0, &ca, sizeof ca);
			long ret;
			pid_t child;
			if (!tidp || !cap || t_inject_clone(&rt, cap, sizeof ca, &child, &ret) < 0)
				return proto_fail_sys("clone3", "finish", obj, errno, "cannot drive the task through clone3");
			if (ret < 0)
				return proto_fail_sys("clone3", "finish", obj, (int)-ret, "clone3 of the thread failed%s",
						      ret == -EEXIST ? " (tid in use)" : "");
			th->pid = child ? child : (pid_t)ret;
			int st;
			if (t_wait(th->pid, &st) < 0)
				return proto_fail("finish", obj, errno, "the new thread did not stop");
			t[i - w0] = main_t;
			t[i - w0].pid = th->pid;
			if (t_get_regs(th->pid, &t[i - w0].regs) < 0)
				return proto_fail("finish", obj, errno, "cannot read the new thread's registers");
		}
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
