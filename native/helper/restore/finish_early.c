/* The first calls of a task's finish step (restore_task.c), in as few ptrace stops as the
 * kernel allows (usually one): the userfaultfd of the pages step closed, the final protections
 * and madvise flags of the mappings, the mm fields and executable (PR_SET_MM_MAP), the fds the
 * restorer left it closed, rseq, the signal handlers (SIGTRAP's last of all: finish_trap), the
 * tid address, the personality and, for a task without threads or signals to queue, its
 * alternate signal stack and robust list.
 * Each is the same call, in the same order, from the same task as one by one; the batch stops
 * at the first that fails, which is named as before. Only what needs a result first (mlock of
 * an inaccessible mapping, a shared fd table's closes) runs the calls gathered so far. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "arch.h"
#include "batch.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct restore_ctx ctx;

/* what a call is, in the tag's high bits (the low ones: the mapping or signal it is for) */
enum { E_CLOSE, E_MPROTECT, E_GUARD, E_MADVISE, E_MM, E_CLOSE_RANGE, E_RSEQ, E_SIGACTION, E_TID, E_PERSONALITY, E_ALTSTACK, E_ROBUST };
static const char *const what[] = { "close", "mprotect", "madvise", "madvise", "prctl(PR_SET_MM_MAP)", "close_range",
				    "rseq", "rt_sigaction", "set_tid_address", "personality", "sigaltstack", "set_robust_list" };
#define TAG(kind, i) ((kind) << 16 | (i))

static struct batch b;

/* Runs what is gathered; a failure is reported with its call's name (and object). */
static int flush(void)
{
	if (!b.n)
		return 0;
	int failed = batch_run(&b, &rt) < 0 ? errno : 0;
	int bad = failed ? 0 : batch_failed(&b);
	if (failed || bad >= 0) {
		int kind = b.tags[failed ? 0 : bad] >> 16, obj = b.tags[failed ? 0 : bad] & 0xffff;
		if (failed)
			return proto_fail("finish", what[kind], failed, "cannot drive the task through %s", what[kind]);
		int err = bad < b.done ? (int)-(long)b.calls[bad].ret : EPROTO;
		if (kind == E_MPROTECT || kind == E_GUARD || kind == E_MADVISE || kind == E_SIGACTION)
			return proto_fail("finish", what[kind], err, "%s failed in the task (%d)", what[kind], obj);
		return proto_fail("finish", what[kind], err, "%s failed in the task", what[kind]);
	}
	batch_init(&b, 0);
	return 0;
}

static int add(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, int tag)
{
	if (!batch_room(&b, 0, 1) && flush() < 0)
		return -1;
	batch_add(&b, nr, a1, a2, a3, a4, 0, 0, 0, tag);
	return 0;
}

static int locked_noaccess(const struct vma_plan *m)
{
	return (m->madv & (MADV_BIT_LOCKED | MADV_BIT_LOCKONFAULT)) == MADV_BIT_LOCKED &&
	       !(m->prot & (PROT_READ | PROT_WRITE | PROT_EXEC));
}

/* Final protections of the mappings that were writable while filling, then guard regions
 * (before mlock, which refuses them, and mseal), mlock of inaccessible mappings, madvise flags,
 * mlock and, last, mseal. */
static int prot_madvise(struct task_plan *p)
{
	static const struct { unsigned bit; long nr; int advice; } adv[] = {
		{ MADV_BIT_HUGEPAGE, SYS_madvise, MADV_HUGEPAGE },     { MADV_BIT_NOHUGEPAGE, SYS_madvise, MADV_NOHUGEPAGE },
		{ MADV_BIT_DONTFORK, SYS_madvise, MADV_DONTFORK },     { MADV_BIT_WIPEONFORK, SYS_madvise, MADV_WIPEONFORK },
		{ MADV_BIT_DONTDUMP, SYS_madvise, MADV_DONTDUMP },     { MADV_BIT_SEQUENTIAL, SYS_madvise, MADV_SEQUENTIAL },
		{ MADV_BIT_RANDOM, SYS_madvise, MADV_RANDOM },         { MADV_BIT_MERGEABLE, SYS_madvise, MADV_MERGEABLE },
		{ MADV_BIT_LOCKONFAULT, SYS_mlock2, MLOCK_ONFAULT },   { MADV_BIT_LOCKED, SYS_mlock2, 0 },
		{ MADV_BIT_SEALED, SYS_mseal, 0 },
	};
	for (int i = 0; i < p->nvmas; i++) {
		struct vma_plan *m = &p->vmas[i];
		if (m->fill && (m->prot | PROT_READ | PROT_WRITE) != m->prot &&
		    add(SYS_mprotect, m->start, m->end - m->start, (uint64_t)m->prot, 0, TAG(E_MPROTECT, i)) < 0)
			return -1;
	}
	for (int i = 0; i < p->nguards; i++)
		if (add(SYS_madvise, p->guards[i].a, p->guards[i].len, MADV_GUARD_INSTALL, 0, TAG(E_GUARD, i)) < 0)
			return -1;
	/* mlock of a mapping nobody may access (PROT_NONE: guard pages and reserved areas under
	 * mlockall) marks it locked, then cannot fault its pages in (ENOMEM): one call each, where
	 * that error is the expected result */
	for (int i = 0; i < p->nvmas; i++) {
		const struct vma_plan *m = &p->vmas[i];
		long ret;
		if (!locked_noaccess(m))
			continue;
		if (flush() < 0)
			return -1;
		if (t_inject(&rt, SYS_mlock2, m->start, m->end - m->start, 0, 0, 0, 0, &ret) < 0)
			return proto_fail("finish", "mlock", errno, "cannot drive the task through mlock2");
		if (ret < 0 && ret != -ENOMEM)
			return proto_fail("finish", "mlock", (int)-ret, "mlock2 failed in the task (%d)", i);
	}
	for (int i = 0; i < p->nvmas; i++) {
		unsigned madv = p->vmas[i].madv;
		if (madv & MADV_BIT_LOCKONFAULT || locked_noaccess(&p->vmas[i])) /* mlock2(MLOCK_ONFAULT) is the lock */
			madv &= ~(unsigned)MADV_BIT_LOCKED;
		for (size_t k = 0; k < sizeof adv / sizeof adv[0]; k++)
			if (madv & adv[k].bit &&
			    add(adv[k].nr, p->vmas[i].start, p->vmas[i].end - p->vmas[i].start, (uint64_t)adv[k].advice, 0, TAG(E_MADVISE, i)) < 0)
				return -1;
	}
	return 0;
}

/* The mm fields and the executable (the task's fd of it, opened with its credentials:
 * restore_paths.c); then the task closes every fd the helper left it (mapped files, the
 * executable). auxv and prctl_mm_map are staged at 4096 and 6144 in the scratch area (the
 * signal handlers' structs take its first 2080 bytes). */
static int mm(struct task_plan *p)
{
	struct ucr_prctl_mm_map m = p->mm;
	size_t off = 4096;
	static const unsigned char none;
	uint64_t auxv = t_scratch_put(&rt, off, p->auxv ? p->auxv : &none, p->auxv_len);
	if (!auxv)
		return proto_fail("finish", "auxv", errno, "cannot stage the auxv");
	m.auxv = auxv;
	m.auxv_size = (uint32_t)p->auxv_len;
	m.exe_fd = (uint32_t)p->exefd;
	uint64_t a = t_scratch_put(&rt, off + 2048, &m, sizeof m);
	if (!a)
		return proto_fail("finish", "mm", errno, "cannot stage prctl_mm_map");
	if (add(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, a, sizeof m, TAG(E_MM, 0)) < 0)
		return -1;
	/* the fds of its mapped files and executable (keep: sorted, inside the set-up's range, which
	 * holds none of the task's own fds: they may lie above it); a shared table: restore_share.c */
	if (p->share_files || p->files_lead || !p->nkeep)
		return p->nkeep || p->share_files ? (flush() < 0 ? -1 : share_close_keeps(p)) : 0;
	return add(SYS_close_range, (uint64_t)p->keep[0], (uint64_t)p->keep[p->nkeep - 1], 0, 0, TAG(E_CLOSE_RANGE, 0));
}

/* Every saved handler, each struct in its own scratch slot (one write for all of them); but
 * SIGTRAP's, which the int3 of this batch and of every injected call after it would reset to
 * SIG_DFL (a SIG_IGN always, a handler in a thread that blocks SIGTRAP: the kernel's
 * force_sig_info_to_task): finish_trap sets it, after the last of them. */
static int skip(int sig)
{
	return sig == SIGKILL || sig == SIGSTOP || sig == SIGTRAP;
}

static int signals(struct task_plan *p)
{
	static uint64_t ka[65][4];
	int lo = 0, hi = 0;
	for (int k = 0; k < p->nact; k++) { /* sorted by signal number */
		const struct sigact_plan *a = &p->act[k];
		if (skip(a->sig))
			continue;
		ka[a->sig][0] = a->handler, ka[a->sig][1] = a->flags;
		ka[a->sig][2] = a->restorer, ka[a->sig][3] = a->mask;
		lo = lo ? lo : a->sig;
		hi = a->sig;
	}
	if (!lo)
		return 0;
	uint64_t base = t_scratch_put(&rt, (size_t)lo * sizeof ka[0], ka[lo], (size_t)(hi - lo + 1) * sizeof ka[0]);
	if (!base)
		return proto_fail_sys("rt_sigaction", "finish", "rt_sigaction", errno, "cannot stage signal %d", lo);
	for (int k = 0; k < p->nact; k++) {
		int sig = p->act[k].sig;
		if (!skip(sig) &&
		    add(SYS_rt_sigaction, (uint64_t)sig, base + (uint64_t)(sig - lo) * sizeof ka[0], 0, 8, TAG(E_SIGACTION, sig)) < 0)
			return -1;
	}
	return 0;
}

/* The SIGTRAPs of the image's pending signals in one queue (list of n siginfos), queued again by
 * thread t (t_requeue_trap; its own mask comes last). */
static int trap_queue(struct tracee *t, uint64_t gadget, pid_t tgid, pid_t tid, const unsigned char *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const siginfo_t *si = (const siginfo_t *)(const void *)(list + i * 128);
		if (si->si_signo != SIGTRAP)
			continue;
		long ret;
		if (t_requeue_trap(t, gadget, tgid, tid, si, &ret) < 0)
			return proto_fail_sys("rt_sigqueueinfo", "finish", "signals", errno, "cannot drive the task through rt_sigqueueinfo");
		if (ret < 0)
			return proto_fail("finish", "signals", (int)-ret, "cannot queue the pending SIGTRAP of thread %d again", (int)(tid ? tid : tgid));
	}
	return 0;
}

/* The image's SIGTRAP action and its pending SIGTRAPs, the task's last injected calls but the
 * gadget's munmap, run through the gadget's `syscall` with stops at its entry and exit: no trap
 * follows them (each int3 forces a SIGTRAP: it resets SIG_IGN, and a handler where SIGTRAP is
 * blocked, to SIG_DFL, and takes a pending SIGTRAP). The action through any thread (they share
 * it); nothing for one the image does not list (SIG_DFL, no flags, no mask: the task's since
 * its start, task_loop, and what the traps leave). */
int finish_trap(struct task_plan *p, uint64_t gadget)
{
	const struct sigact_plan *a = plan_sigact(p, SIGTRAP);
	long ret;
	if (a) {
		const uint64_t ka[4] = { a->handler, a->flags, a->restorer, a->mask };
		uint64_t at = t_scratch_put(&rt, 0, ka, sizeof ka);
		const uint64_t args[6] = { SIGTRAP, at, 0, 8, 0, 0 };
		if (!at || t_inject_via_syscall_stops(&rt, gadget, SYS_rt_sigaction, args, &ret) < 0)
			return proto_fail_sys("rt_sigaction", "finish", "rt_sigaction", errno, "cannot drive the task through rt_sigaction");
		if (ret < 0)
			return proto_fail("finish", "rt_sigaction", (int)-ret, "rt_sigaction failed in the task (%d)", SIGTRAP);
	}
	int leader = rt.pid == p->pid; /* its own queue through rt, unless it exited (rt: a thread) */
	if ((leader && trap_queue(&rt, gadget, p->nspid, p->nspid, p->sig.pending, p->sig.npending) < 0) ||
	    trap_queue(&rt, gadget, p->nspid, 0, p->shpending, p->nshpending) < 0)
		return -1;
	for (int k = 0; k < p->nthreads; k++) {
		const struct sigstate *s = &p->threads[k].sig;
		size_t i = 0;
		while (i < s->npending && ((const siginfo_t *)(const void *)(s->pending + i * 128))->si_signo != SIGTRAP)
			i++;
		if (i == s->npending)
			continue; /* none: nothing to read */
		struct tracee t = rt;
		t.pid = p->threads[k].pid;
		if (t.pid != rt.pid && t_get_regs(t.pid, &t.regs) < 0)
			return proto_fail("finish", "thread", errno, "cannot read the registers of thread %d", t.pid);
		if (trap_queue(&t, gadget, p->nspid, p->threads[k].tid, s->pending, s->npending) < 0)
			return -1;
	}
	return 0;
}

/* glibc caches the thread id in its thread descriptor, at the clear_child_tid address: when
 * the task comes back under another pid, that copy is updated too; the address is restored. */
static int tid(struct task_plan *p)
{
	if (!p->tidaddr)
		return 0;
	if (p->nspid != p->old_pid) {
		int32_t v;
		if (t_read_mem(rt.pid, p->tidaddr, &v, sizeof v) == 0 && v == p->old_pid) {
			v = p->nspid;
			if (t_write_mem(rt.pid, p->tidaddr, &v, sizeof v) < 0)
				return proto_fail("finish", "tid", errno, "cannot update the cached thread id");
		}
	}
	return add(SYS_set_tid_address, p->tidaddr, 0, 0, 0, TAG(E_TID, 0));
}

/* restore_sigstate's alternate stack and robust list, when nothing comes between them and the
 * calls above (no thread to create, no timer to create first) and no signal is to be queued:
 * the stack_t at the start of the scratch area, below the first handler's slot (32). */
static int sigstate(struct task_plan *p)
{
	const struct sigstate *s = &p->sig;
	if (p->nthreads || ptimers_early(p) || s->npending || p->nshpending)
		return 0;
	if (!(s->alt_flags & SS_DISABLE) && s->alt_size) {
		stack_t ss = { .ss_sp = (void *)(uintptr_t)s->alt_sp, .ss_flags = s->alt_flags & ~SS_ONSTACK, .ss_size = s->alt_size };
		uint64_t a = t_scratch_put(&rt, 0, &ss, sizeof ss);
		if (!a)
			return proto_fail("finish", "sigaltstack", errno, "cannot drive the task through sigaltstack");
		if (add(SYS_sigaltstack, a, 0, 0, 0, TAG(E_ALTSTACK, 0)) < 0)
			return -1;
	}
	if (s->robust_head && add(SYS_set_robust_list, s->robust_head, s->robust_len, 0, 0, TAG(E_ROBUST, 0)) < 0)
		return -1;
	return 1;
}

int finish_early(struct task_plan *p)
{
	batch_init(&b, 0);
	int idx = (int)(p - ctx.plan->tasks);
	if (ctx.uffd[idx] >= 0) { /* the userfaultfd of the pages step (restore_uffd.c) */
		if (add(SYS_close, (uint64_t)ctx.uffd[idx], 0, 0, 0, TAG(E_CLOSE, 0)) < 0)
			return -1;
		ctx.uffd[idx] = -1;
	}
	if (prot_madvise(p) < 0 || mm(p) < 0)
		return -1;
	if (p->rseq_ptr && add(SYS_rseq, p->rseq_ptr, p->rseq_len, 0, p->rseq_sig, TAG(E_RSEQ, 0)) < 0)
		return -1;
	long pers = attrs_personality_needed(p);
	if (signals(p) < 0 || tid(p) < 0 || (pers >= 0 && add(SYS_personality, (uint64_t)pers, 0, 0, 0, TAG(E_PERSONALITY, 0)) < 0))
		return -1;
	int sig = sigstate(p);
	return sig < 0 || flush() < 0 ? -1 : sig;
}
