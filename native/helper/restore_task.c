/* The tracer's part of a task's restart: the "kernel restart" of one task, done from outside
 * with injected system calls (see restore.c for the phase list). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <sys/personality.h>
#include <linux/sched.h>
#include <unistd.h>

#include "helper.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

#define TASK_END 0x7ffffffff000ULL

static struct tracee T; /* the task being worked on */

/* Makes p the task that injected calls go to, through the gadget every task inherited. */
static int use_task(struct task_plan *p, uint64_t gadget, const char *phase)
{
	memset(&T, 0, sizeof T);
	T.pid = p->pid;
	T.gadget = gadget;
	T.scratch = gadget + GADGET_CODE_SIZE;
	T.scratch_len = GADGET_SIZE - GADGET_CODE_SIZE;
	if (t_get_regs(T.pid, &T.regs) < 0)
		return proto_fail(phase, "registers", errno, "cannot read the registers of task %d", p->pid);
	return 0;
}

static int call(const char *phase, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		uint64_t a4, uint64_t a5, uint64_t a6, long *ret)
{
	if (t_inject(&T, nr, a1, a2, a3, a4, a5, a6, ret) < 0)
		return proto_fail(phase, what, errno, "cannot drive the task through %s", what);
	if (*ret < 0 && *ret > -4096)
		return proto_fail(phase, what, (int)-*ret, "%s failed in the task", what);
	return 0;
}

/* Opens path inside the task; returns its fd there. */
static int task_open(const char *phase, const char *path, int flags, long *fd)
{
	size_t len = strlen(path) + 1;
	uint64_t a = t_scratch_put(&T, 0, path, len);
	if (!a)
		return proto_fail(phase, path, errno, "path too long for the scratch area");
	if (t_inject(&T, SYS_openat, (uint64_t)AT_FDCWD, a, (uint64_t)flags, 0, 0, 0, fd) < 0)
		return proto_fail(phase, path, errno, "cannot drive the task through open");
	if (*fd < 0)
		return proto_fail(phase, path, (int)-*fd, "cannot open the file");
	return 0;
}

static int map_vma(const struct vma_plan *m)
{
	long fd = -1, ret;
	char obj[64];
	snprintf(obj, sizeof obj, "mapping 0x%llx-0x%llx", (unsigned long long)m->start,
		 (unsigned long long)m->end);
	int prot = m->fill ? (m->prot | PROT_READ | PROT_WRITE) : m->prot;
	if (m->path) {
		int oflags = (m->flags & MAP_SHARED) && (m->prot & PROT_WRITE) ? O_RDWR : O_RDONLY;
		if (task_open("memory", m->path, oflags, &fd) < 0)
			return -1;
	}
	if (t_inject(&T, SYS_mmap, m->start, m->end - m->start, (uint64_t)prot,
		     (uint64_t)(m->flags | MAP_FIXED), (uint64_t)fd, m->path ? m->pgoff : 0, &ret) < 0)
		return proto_fail("memory", obj, errno, "cannot drive the task through mmap");
	if (fd >= 0) {
		long r2;
		t_inject(&T, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &r2);
	}
	if (ret < 0 && ret > -4096)
		return proto_fail("memory", obj, (int)-ret, "mmap failed%s%s", m->path ? " for " : "",
				  m->path ? m->path : "");
	if ((uint64_t)ret != m->start)
		return proto_fail("memory", obj, EFAULT, "mmap placed it elsewhere");
	return 0;
}

int restore_map(struct task_plan *p, uint64_t gadget)
{
	long ret;
	if (use_task(p, gadget, "memory") < 0)
		return -1;

	/* The clone inherited the helper's rseq area: drop it before its memory goes away. */
	struct ucr_rseq_configuration rc = { 0 };
	if (ptrace(UCR_PTRACE_GET_RSEQ_CONFIGURATION, T.pid, (void *)sizeof rc, &rc) > 0 && rc.rseq_abi_pointer)
		if (call("memory", "rseq unregister", SYS_rseq, rc.rseq_abi_pointer, rc.rseq_abi_size,
			 RSEQ_FLAG_UNREGISTER, rc.signature, 0, 0, &ret) < 0)
			return -1;
	if (call("memory", "munmap", SYS_munmap, 0, gadget, 0, 0, 0, 0, &ret) < 0 ||
	    call("memory", "munmap", SYS_munmap, gadget + GADGET_SIZE, TASK_END - gadget - GADGET_SIZE, 0,
		 0, 0, 0, &ret) < 0)
		return -1;
	if (count_vmas(T.pid) != 2) /* the gadget's code and scratch parts */
		return proto_fail("memory", "address space", EBUSY, "mappings survived the unmap");

	/* The [vvar][vvar_vclock][vdso] group goes back at its old place as one unit. */
	if (call("memory", "arch_prctl(ARCH_MAP_VDSO_64)", SYS_arch_prctl, ARCH_MAP_VDSO_64, p->vvar_start,
		 0, 0, 0, 0, &ret) < 0)
		return -1;
	uint64_t vs, ve;
	if (find_special_vma(T.pid, "[vdso]", &vs, &ve) < 0 || vs != p->vdso_start)
		return proto_fail("memory", "[vdso]", EFAULT,
				  "the vdso could not be placed at 0x%llx (kernel differs from the image's?)",
				  (unsigned long long)p->vdso_start);

	for (int i = 0; i < p->nvmas; i++)
		if (map_vma(&p->vmas[i]) < 0)
			return -1;

	return 0;
}

static int restore_mm(struct task_plan *p)
{
	long ret, exefd = -1;
	struct ucr_prctl_mm_map mm = p->mm;
	size_t off = 4096; /* the path goes at offset 0 */
	uint64_t auxv = t_scratch_put(&T, off, p->auxv, p->auxv_len);
	if (!auxv)
		return proto_fail("finish", "auxv", errno, "cannot stage the auxv");
	mm.auxv = auxv;
	mm.auxv_size = (uint32_t)p->auxv_len;
	if (p->exe) {
		if (task_open("finish", p->exe, O_RDONLY, &exefd) < 0)
			return -1;
		mm.exe_fd = (uint32_t)exefd;
	} else {
		mm.exe_fd = (uint32_t)-1;
	}
	uint64_t a = t_scratch_put(&T, off + 2048, &mm, sizeof mm);
	if (!a)
		return proto_fail("finish", "mm", errno, "cannot stage prctl_mm_map");
	int r = call("finish", "prctl(PR_SET_MM_MAP)", SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, a, sizeof mm, 0,
		     0, &ret);
	if (exefd >= 0) {
		long r2;
		t_inject(&T, SYS_close, (uint64_t)exefd, 0, 0, 0, 0, 0, &r2);
	}
	return r;
}

static int restore_signals(struct task_plan *p)
{
	long ret;
	for (int sig = 1; sig <= 64; sig++) {
		if (!p->act[sig].set || sig == SIGKILL || sig == SIGSTOP)
			continue;
		uint64_t ka[4] = { p->act[sig].handler, p->act[sig].flags, p->act[sig].restorer,
				   p->act[sig].mask };
		uint64_t a = t_scratch_put(&T, 0, ka, sizeof ka);
		if (!a || call("finish", "rt_sigaction", SYS_rt_sigaction, (uint64_t)sig, a, 0, 8, 0, 0, &ret) < 0)
			return -1;
	}
	return 0;
}

static int restore_madvise(struct task_plan *p)
{
	static const struct { unsigned bit; int advice; } adv[] = {
		{ MADV_BIT_HUGEPAGE, MADV_HUGEPAGE },   { MADV_BIT_NOHUGEPAGE, MADV_NOHUGEPAGE },
		{ MADV_BIT_DONTFORK, MADV_DONTFORK },   { MADV_BIT_WIPEONFORK, MADV_WIPEONFORK },
		{ MADV_BIT_DONTDUMP, MADV_DONTDUMP },
	};
	long ret;
	for (int i = 0; i < p->nvmas; i++)
		for (size_t k = 0; k < sizeof adv / sizeof adv[0]; k++)
			if ((p->vmas[i].madv & adv[k].bit) &&
			    call("finish", "madvise", SYS_madvise, p->vmas[i].start,
				 p->vmas[i].end - p->vmas[i].start, (uint64_t)adv[k].advice, 0, 0, 0, &ret) < 0)
				return -1;
	return 0;
}

/* glibc caches the thread id in its thread descriptor, at the clear_child_tid address: when
 * the task comes back under another pid, that copy is updated too; the address is restored. */
static int restore_tid(struct task_plan *p)
{
	long ret;
	if (!p->tidaddr)
		return 0;
	if (p->nspid != p->old_pid) {
		int32_t v;
		if (t_read_mem(T.pid, p->tidaddr, &v, sizeof v) == 0 && v == p->old_pid) {
			v = p->nspid;
			if (t_write_mem(T.pid, p->tidaddr, &v, sizeof v) < 0)
				return proto_fail("finish", "tid", errno, "cannot update the cached thread id");
		}
	}
	return call("finish", "set_tid_address", SYS_set_tid_address, p->tidaddr, 0, 0, 0, 0, 0, &ret);
}

/* The image's credentials, last of the injected calls (the steps before need the helper's
 * privilege): groups, gids, uids, fs ids; a uid change clears capabilities as for any process.
 * Dumpable is put back too (a uid change resets it). */
/* The bounding set, while the thread is still privileged (before its ids change). */
static int restore_bounding(struct task_plan *p)
{
	long ret;
	for (int c = 0; c < 64 && p->have_caps; c++)
		if (!(p->cap_bnd >> c & 1)) {
			if (t_inject(&T, SYS_prctl, PR_CAPBSET_DROP, (uint64_t)c, 0, 0, 0, 0, &ret) < 0)
				return proto_fail("finish", "capabilities", errno, "cannot drive the task through prctl");
			if (ret == -EINVAL)
				break; /* past the last capability this kernel knows */
			if (ret < 0)
				return proto_fail("finish", "capabilities", (int)-ret, "cannot drop capability %d from the bounding set", c);
		}
	return 0;
}

/* The other capability sets, after the ids (the permitted set was kept across the uid change
 * with PR_SET_KEEPCAPS): capset, then the ambient set. */
static int restore_caps(struct task_plan *p)
{
	long ret;
	if (!p->have_caps)
		return 0;
	struct { uint32_t version; int pid; } hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct { uint32_t eff, prm, inh; } data[2] = {
		{ (uint32_t)p->cap_eff, (uint32_t)p->cap_prm, (uint32_t)p->cap_inh },
		{ (uint32_t)(p->cap_eff >> 32), (uint32_t)(p->cap_prm >> 32), (uint32_t)(p->cap_inh >> 32) },
	};
	uint64_t h = t_scratch_put(&T, 0, &hdr, sizeof hdr), d = t_scratch_put(&T, 64, data, sizeof data);
	if (!h || !d || call("finish", "capset", SYS_capset, h, d, 0, 0, 0, 0, &ret) < 0)
		return -1;
	for (int c = 0; c < 64; c++)
		if ((p->cap_amb >> c & 1) &&
		    call("finish", "prctl(PR_CAP_AMBIENT_RAISE)", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (uint64_t)c, 0, 0, 0, &ret) < 0)
			return -1;
	return call("finish", "prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0, 0, &ret);
}

static int restore_creds(struct task_plan *p)
{
	long ret;
	if (!p->have_creds)
		return 0;
	if (restore_bounding(p) < 0 ||
	    (p->have_caps && call("finish", "prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0, &ret) < 0))
		return -1;
	uint64_t g = t_scratch_put(&T, 0, p->groups, (size_t)p->ngroups * sizeof p->groups[0]);
	if ((p->ngroups && !g) ||
	    call("finish", "setgroups", SYS_setgroups, (uint64_t)p->ngroups, p->ngroups ? g : 0, 0, 0, 0, 0, &ret) < 0 ||
	    call("finish", "setresgid", SYS_setresgid, p->gid[0], p->gid[1], p->gid[2], 0, 0, 0, &ret) < 0 ||
	    call("finish", "setfsgid", SYS_setfsgid, p->gid[3], 0, 0, 0, 0, 0, &ret) < 0 ||
	    call("finish", "setresuid", SYS_setresuid, p->uid[0], p->uid[1], p->uid[2], 0, 0, 0, &ret) < 0 ||
	    call("finish", "setfsuid", SYS_setfsuid, p->uid[3], 0, 0, 0, 0, 0, &ret) < 0 ||
	    restore_caps(p) < 0 ||
	    call("finish", "prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, (uint64_t)p->dumpable, 0, 0, 0, 0, &ret) < 0)
		return -1;
	return 0;
}

/* The current thread's (T) alternate signal stack and its own pending signals, queued again
 * from inside the task (the kernel accepts any si_code a process sends to itself) while every
 * signal is still blocked; process-wide ones go to the whole task. */
static int restore_sigstate(const struct sigstate *s, pid_t tgid, pid_t tid, const unsigned char *shared, size_t nshared)
{
	long ret;
	if (!(s->alt_flags & SS_DISABLE) && s->alt_size) {
		stack_t ss = { .ss_sp = (void *)(uintptr_t)s->alt_sp, .ss_flags = s->alt_flags & ~SS_ONSTACK, .ss_size = s->alt_size };
		uint64_t a = t_scratch_put(&T, 0, &ss, sizeof ss);
		if (!a || call("finish", "sigaltstack", SYS_sigaltstack, a, 0, 0, 0, 0, 0, &ret) < 0)
			return -1;
	}
	for (int q = 0; q < 2; q++) {
		const unsigned char *list = q ? shared : s->pending;
		size_t count = q ? nshared : s->npending;
		for (size_t i = 0; i < count; i++) {
			const siginfo_t *si = (const siginfo_t *)(list + i * 128);
			uint64_t a = t_scratch_put(&T, 0, si, 128);
			if (!a)
				return proto_fail("finish", "signals", errno, "cannot stage a siginfo");
			int r = q ? call("finish", "rt_sigqueueinfo", SYS_rt_sigqueueinfo, (uint64_t)tgid, (uint64_t)si->si_signo, a, 0, 0, 0, &ret)
				  : call("finish", "rt_tgsigqueueinfo", SYS_rt_tgsigqueueinfo, (uint64_t)tgid, (uint64_t)tid,
					 (uint64_t)si->si_signo, a, 0, 0, &ret);
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

/* POSIX timers at their ids: with PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17+) timer_create takes
 * the id from *created_timer_id; without it ids are handed out in order from 0, which matches
 * only if the image's ids are 0, 1, 2...: anything else is refused. */
static int restore_ptimers(struct task_plan *p)
{
	long ret;
	if (!p->nptimers)
		return 0;
	if (t_inject(&T, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0, 0, &ret) < 0)
		return proto_fail("finish", "timers", errno, "cannot drive the task through prctl");
	int by_id = ret == 0;
	for (int i = 0; i < p->nptimers; i++) {
		struct ptimer_plan *pt = &p->ptimers[i];
		char obj[32];
		snprintf(obj, sizeof obj, "POSIX timer %d", pt->id);
		struct { uint64_t value; int signo, notify, tid, pad[11]; } sev = { pt->sigval, pt->signo, pt->notify, pt->tid, { 0 } };
		int32_t id = pt->id;
		uint64_t s = t_scratch_put(&T, 0, &sev, sizeof sev), ida = t_scratch_put(&T, 128, &id, sizeof id);
		if (!s || !ida || call("finish", obj, SYS_timer_create, (uint64_t)pt->clock, s, ida, 0, 0, 0, &ret) < 0 ||
		    t_read_mem(T.pid, ida, &id, sizeof id) < 0)
			return -1;
		if (id != pt->id)
			return proto_fail("finish", obj, EEXIST, "got timer id %d%s", id,
					  by_id ? "" : " (this kernel cannot choose timer ids: PR_TIMER_CREATE_RESTORE_IDS)");
		struct timespec its[2] = { { pt->its[0], pt->its[1] }, { pt->its[2], pt->its[3] } };
		uint64_t a = t_scratch_put(&T, 256, its, sizeof its);
		if (!a || call("finish", obj, SYS_timer_settime, (uint64_t)id, 0, a, 0, 0, 0, &ret) < 0)
			return -1;
	}
	if (by_id)
		t_inject(&T, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0, &ret);
	return 0;
}

/* Interval timers (the time left as planned by the coordinator: --timers), POSIX timers,
 * child subreaper, personality. */
static int restore_process_state(struct task_plan *p)
{
	long ret;
	for (int w = 0; w < 3; w++) {
		struct itimerval v = { { p->itimer[w][0], p->itimer[w][1] }, { p->itimer[w][2], p->itimer[w][3] } };
		/* An interval timer caught between its expiry and the delivery of its signal reads 0
		 * (the kernel re-arms it on delivery): arm it for a full interval; the signal itself
		 * is among the restored pending ones. */
		if (!v.it_value.tv_sec && !v.it_value.tv_usec)
			v.it_value = v.it_interval;
		if (!v.it_value.tv_sec && !v.it_value.tv_usec)
			continue;
		uint64_t a = t_scratch_put(&T, 0, &v, sizeof v);
		if (!a || call("finish", "setitimer", SYS_setitimer, (uint64_t)w, a, 0, 0, 0, 0, &ret) < 0)
			return -1;
	}
	if (restore_ptimers(p) < 0)
		return -1;
	if (p->subreaper && call("finish", "prctl(PR_SET_CHILD_SUBREAPER)", SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0, &ret) < 0)
		return -1;
	if (p->personality && call("finish", "personality", SYS_personality, (uint64_t)p->personality, 0, 0, 0, 0, 0, &ret) < 0)
		return -1;
	return 0;
}

/* The task's other threads, created by the task itself (injected clone3 with CLONE_THREAD at
 * the wanted tid), each attached before it runs and given its rseq, tid address, xstate,
 * registers and mask. They stay stopped until the whole tree resumes. */
static int restore_threads(struct task_plan *p)
{
	if (!p->nthreads)
		return 0;
	if (ptrace(PTRACE_SETOPTIONS, T.pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE) < 0)
		return proto_fail("finish", "threads", errno, "PTRACE_SETOPTIONS failed");
	struct tracee main_t = T;
	for (int i = 0; i < p->nthreads; i++) {
		struct thread_plan *th = &p->threads[i];
		char obj[32];
		snprintf(obj, sizeof obj, "thread %d", th->tid);
		int32_t tid = th->tid;
		uint64_t tidp = t_scratch_put(&T, 512, &tid, sizeof tid);
		struct clone_args ca = {
			.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
			.set_tid = tidp, .set_tid_size = 1,
		};
		uint64_t cap = t_scratch_put(&T, 0, &ca, sizeof ca);
		long ret;
		pid_t child;
		if (!tidp || !cap || t_inject_clone(&T, cap, sizeof ca, &child, &ret) < 0)
			return proto_fail("finish", obj, errno, "cannot drive the task through clone3");
		if (ret < 0)
			return proto_fail("finish", obj, (int)-ret, "clone3 of the thread failed%s",
					  ret == -EEXIST ? " (tid in use)" : "");
		th->pid = child ? child : (pid_t)ret;
		int st;
		if (t_wait(th->pid, &st) < 0)
			return proto_fail("finish", obj, errno, "the new thread did not stop");
		T.pid = th->pid;
		if (t_get_regs(T.pid, &T.regs) < 0)
			return proto_fail("finish", obj, errno, "cannot read the new thread's registers");
		if ((th->rseq_ptr && call("finish", "rseq", SYS_rseq, th->rseq_ptr, th->rseq_len, 0, th->rseq_sig, 0, 0, &ret) < 0) ||
		    (th->tidaddr && call("finish", "set_tid_address", SYS_set_tid_address, th->tidaddr, 0, 0, 0, 0, 0, &ret) < 0) ||
		    restore_sigstate(&th->sig, p->nspid, th->tid, NULL, 0) < 0)
			return -1;
		T = main_t;
	}
	if (ptrace(PTRACE_SETOPTIONS, T.pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0)
		return proto_fail("finish", "threads", errno, "PTRACE_SETOPTIONS failed");
	return 0;
}

/* Last per-thread state, once no more calls are injected into the threads. */
static int finish_threads(struct task_plan *p)
{
	for (int i = 0; i < p->nthreads; i++) {
		struct thread_plan *th = &p->threads[i];
		if (t_set_xstate(th->pid, th->xstate, th->xstate_len) < 0 || t_set_regs(th->pid, &th->regs) < 0 ||
		    ptrace(PTRACE_SETSIGMASK, th->pid, (void *)8, &th->sigmask) < 0)
			return proto_fail("finish", "thread", errno, "cannot set the state of thread %d", th->tid);
	}
	return 0;
}

int restore_finish(struct task_plan *p, uint64_t gadget)
{
	long ret;
	if (use_task(p, gadget, "finish") < 0)
		return -1;
	for (int i = 0; i < p->nvmas; i++) {
		struct vma_plan *m = &p->vmas[i];
		if (m->fill && (m->prot | PROT_READ | PROT_WRITE) != m->prot &&
		    call("finish", "mprotect", SYS_mprotect, m->start, m->end - m->start, (uint64_t)m->prot, 0,
			 0, 0, &ret) < 0)
			return -1;
	}
	if (restore_madvise(p) < 0 || restore_mm(p) < 0)
		return -1;
	if (p->rseq_ptr && call("finish", "rseq", SYS_rseq, p->rseq_ptr, p->rseq_len, 0, p->rseq_sig, 0, 0,
				&ret) < 0)
		return -1;
	if (restore_signals(p) < 0 || restore_tid(p) < 0 || restore_threads(p) < 0 ||
	    restore_sigstate(&p->sig, p->nspid, p->nspid, p->shpending, p->nshpending) < 0 || restore_process_state(p) < 0)
		return -1;
	/* Limits late, so a low limit cannot break the steps before; but before the credentials
	 * change, while the helper may still set them without CAP_SYS_RESOURCE. */
	for (int r = 0; r < 16; r++) {
		if (!p->rlim[r].set)
			continue;
		struct rlimit64 l = { p->rlim[r].cur, p->rlim[r].max };
		if (prlimit64(T.pid, (enum __rlimit_resource)r, &l, NULL) < 0) {
			char obj[32];
			snprintf(obj, sizeof obj, "rlimit %d", r);
			return proto_fail("finish", obj, errno, "cannot set the resource limit");
		}
	}
	/* credentials (per thread: the raw calls change only the calling thread); changing them
	 * clears the parent-death signal, so that comes after */
	struct tracee main_t = T;
	for (int i = 0; i < p->nthreads; i++) {
		T.pid = p->threads[i].pid;
		if (t_get_regs(T.pid, &T.regs) < 0 || restore_creds(p) < 0)
			return proto_fail("finish", "thread", errno, "cannot set the credentials of thread %d", p->threads[i].tid);
	}
	T = main_t;
	if (restore_creds(p) < 0)
		return -1;
	if (p->nonewprivs) { /* per thread, like the credentials */
		for (int i = 0; i <= p->nthreads; i++) {
			T.pid = i < p->nthreads ? p->threads[i].pid : main_t.pid;
			if (t_get_regs(T.pid, &T.regs) < 0 ||
			    call("finish", "prctl(PR_SET_NO_NEW_PRIVS)", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0, &ret) < 0)
				return -1;
		}
		T = main_t;
	}
	if (call("finish", "prctl(PR_SET_PDEATHSIG)", SYS_prctl, PR_SET_PDEATHSIG, (uint64_t)p->pdeathsig, 0,
		 0, 0, 0, &ret) < 0)
		return -1;
	/* Unmap the gadget from its own `syscall`: stop at syscall exit, never return into it. */
	const uint64_t a[6] = { gadget, GADGET_SIZE, 0, 0, 0, 0 };
	if (t_inject_via_syscall_stops(&T, gadget, SYS_munmap, a, &ret) < 0 || ret != 0)
		return proto_fail("finish", "gadget", errno, "cannot unmap the restore gadget");
	if (finish_threads(p) < 0)
		return -1;
	if (t_set_xstate(T.pid, p->xstate, p->xstate_len) < 0)
		return proto_fail("finish", "xstate", errno,
				  "PTRACE_SETREGSET NT_X86_XSTATE failed (%zu bytes)", p->xstate_len);
	if (t_set_regs(T.pid, &p->regs) < 0)
		return proto_fail("finish", "registers", errno, "PTRACE_SETREGSET NT_PRSTATUS failed");
	if (ptrace(PTRACE_SETSIGMASK, T.pid, (void *)8, &p->sigmask) < 0)
		return proto_fail("finish", "sigmask", errno, "PTRACE_SETSIGMASK failed");
	/* The caller detaches: from a ptrace stop that marks a signal pending, so the kernel's own
	 * syscall-restart logic sees the restored orig_rax/rax (-ERESTART*) as after a real stop. */
	return 0;
}
