/* Restart of a task's state beyond its memory (restore_state.c): signal state, timers, leases
 * (credentials: restore_creds.c; threads: restore_threads.c); used by restore_task.c's
 * restore_finish. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

/* The current thread's (rt) alternate signal stack and its own pending signals, queued again
 * from inside the task (the kernel accepts any si_code a process sends to itself) while every
 * signal is still blocked; process-wide ones go to the whole task. */
int restore_sigstate(const struct sigstate *s, pid_t tgid, pid_t tid, const unsigned char *shared, size_t nshared)
{
	long ret;
	if (!(s->alt_flags & SS_DISABLE) && s->alt_size) {
		stack_t ss = { .ss_sp = (void *)(uintptr_t)s->alt_sp, .ss_flags = s->alt_flags & ~SS_ONSTACK, .ss_size = s->alt_size };
		uint64_t a = t_scratch_put(&rt, 0, &ss, sizeof ss);
		if (!a || rt_call("finish", "sigaltstack", SYSCALL_REQ(SYS_sigaltstack, a), &ret) < 0)
			return -1;
	}
	if (s->robust_head && rt_call("finish", "set_robust_list", SYSCALL_REQ(SYS_set_robust_list, s->robust_head, s->robust_len), &ret) < 0)
		return -1;
	return restore_pending(s, tgid, tid, shared, nshared);
}

/* restore_sigstate's last part: the pending signals */
int restore_pending(const struct sigstate *s, pid_t tgid, pid_t tid, const unsigned char *shared, size_t nshared)
{
	long ret;
	for (int q = 0; q < 2; q++) {
		const unsigned char *list = q ? shared : s->pending;
		size_t count = q ? nshared : s->npending;
		for (size_t i = 0; i < count; i++) {
			const siginfo_t *si = (const siginfo_t *)(list + i * 128);
			if (si->si_signo == SIGTRAP)
				continue; /* the traps to come would take it: queued after the last (finish_trap) */
			uint64_t a = t_scratch_put(&rt, 0, si, 128);
			if (!a)
				return proto_fail("finish", "signals", errno, "cannot stage a siginfo");
			int r = q ? rt_call("finish", "rt_sigqueueinfo", SYSCALL_REQ(SYS_rt_sigqueueinfo, (uint64_t)tgid, (uint64_t)si->si_signo, a), &ret)
				  : rt_call("finish", "rt_tgsigqueueinfo", SYSCALL_REQ(SYS_rt_tgsigqueueinfo, (uint64_t)tgid, (uint64_t)tid, (uint64_t)si->si_signo, a), &ret);
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

/* The overruns of a periodic timer's last delivered signal (timer_getoverrun), which only the
 * kernel sets, when it delivers the signal: counted from how many intervals the timer is late.
 * So the timer is armed (TIMER_ABSTIME) with a first expiry N + 1 intervals minus its time left
 * in the past: it fires at once, and the injected rt_sigtimedwait that takes its signal (every
 * signal is blocked, none of that number queued yet) makes the kernel forward it by N + 1
 * intervals, to its time left from now, and record N overruns. Only for a timer on
 * CLOCK_MONOTONIC or CLOCK_BOOTTIME (an absolute CLOCK_REALTIME timer would follow clock
 * changes) signalling the process or its main thread, with 0 < time left <= interval (as after
 * any delivery). *done: 1 when armed that way. */
static int ptimer_overrun(const struct task_plan *p, const struct ptimer_plan *pt, const char *obj, int *done)
{
	long long iv = pt->its[0] * 1000000000LL + pt->its[1], left = pt->its[2] * 1000000000LL + pt->its[3], late, first;
	*done = 0;
	if (pt->overrun <= 0 || (pt->clock != CLOCK_MONOTONIC && pt->clock != CLOCK_BOOTTIME) || pt->signo < 1 || pt->signo > 64 ||
	    !(pt->notify == SIGEV_SIGNAL || (pt->notify == 4 /* SIGEV_THREAD_ID */ && pt->tid == p->nspid)) || iv <= 0 ||
	    left <= 0 || left > iv || __builtin_mul_overflow(pt->overrun + 1LL, iv, &late))
		return 0;
	long ret;
	struct timespec now;
	uint64_t at = t_scratch_put(&rt, 512, &now, sizeof now);
	if (!at || rt_call("finish", obj, SYSCALL_REQ(SYS_clock_gettime, (uint64_t)pt->clock, at), &ret) < 0 ||
	    t_read_mem(rt.pid, at, &now, sizeof now) < 0)
		return -1;
	first = now.tv_sec * 1000000000LL + now.tv_nsec - late + left;
	if (first <= 0) /* the clock is younger than the overruns */
		return 0;
	struct timespec its[2] = { { iv / 1000000000LL, iv % 1000000000LL }, { first / 1000000000LL, first % 1000000000LL } };
	uint64_t set = 1ULL << (pt->signo - 1);
	struct timespec zero = { 0, 0 };
	int32_t info[32];
	uint64_t a = t_scratch_put(&rt, 256, its, sizeof its), s = t_scratch_put(&rt, 512, &set, sizeof set),
		 z = t_scratch_put(&rt, 576, &zero, sizeof zero), in = t_scratch_put(&rt, 640, info, sizeof info);
	if (!a || !s || !z || !in || rt_call("finish", obj, SYSCALL_REQ(SYS_timer_settime, (uint64_t)pt->id, TIMER_ABSTIME, a), &ret) < 0 ||
	    rt_call("finish", obj, SYSCALL_REQ(SYS_rt_sigtimedwait, s, in, z, 8), &ret) < 0 || t_read_mem(rt.pid, in, info, sizeof info) < 0)
		return -1;
	/* siginfo: si_code at 8, the timer id at 16 (SI_TIMER -2) */
	if (ret != pt->signo || info[2] != -2 || info[4] != pt->id)
		return proto_fail("finish", obj, EPROTO, "took another signal (%ld) than the timer's own while restoring its overruns", ret);
	*done = 1;
	return 0;
}

/* Timers with overruns come back before the pending signals (restore_task.c): the signal that
 * sets their overruns is taken back with rt_sigtimedwait, which must not meet a restored one. */
int ptimers_early(const struct task_plan *p)
{
	for (int i = 0; i < p->nptimers; i++)
		if (p->ptimers[i].overrun > 0)
			return 1;
	return 0;
}

/* POSIX timers at their ids: with PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17+) timer_create takes
 * the id from *created_timer_id; without it ids are handed out in order from 0, which matches
 * only if the image's ids are 0, 1, 2...: anything else is refused. */
int restore_ptimers(struct task_plan *p)
{
	long ret;
	if (!p->nptimers)
		return 0;
	if (t_inject(&rt, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0, 0, &ret) < 0)
		return proto_fail_sys("prctl", "finish", "timers", errno, "cannot drive the task through prctl");
	int by_id = ret == 0;
	for (int i = 0; i < p->nptimers; i++) {
		struct ptimer_plan *pt = &p->ptimers[i];
		char obj[32];
		snprintf(obj, sizeof obj, "POSIX timer %d", pt->id);
		struct { uint64_t value; int signo, notify, tid, pad[11]; } sev = { pt->sigval, pt->signo, pt->notify, pt->tid, { 0 } };
		int32_t id = pt->id;
		uint64_t s = t_scratch_put(&rt, 0, &sev, sizeof sev), ida = t_scratch_put(&rt, 128, &id, sizeof id);
		if (!s || !ida || rt_call("finish", obj, SYSCALL_REQ(SYS_timer_create, (uint64_t)pt->clock, s, ida), &ret) < 0 ||
		    t_read_mem(rt.pid, ida, &id, sizeof id) < 0)
			return -1;
		if (id != pt->id)
			return proto_fail("finish", obj, EEXIST, "got timer id %d%s", id,
					  by_id ? "" : " (this kernel cannot choose timer ids: PR_TIMER_CREATE_RESTORE_IDS)");
		int done;
		if (ptimer_overrun(p, pt, obj, &done) < 0)
			return -1;
		if (done)
			continue;
		struct timespec its[2] = { { pt->its[0], pt->its[1] }, { pt->its[2], pt->its[3] } };
		uint64_t a = t_scratch_put(&rt, 256, its, sizeof its);
		if (!a || rt_call("finish", obj, SYSCALL_REQ(SYS_timer_settime, (uint64_t)id, 0, a), &ret) < 0)
			return -1;
	}
	if (by_id)
		t_inject(&rt, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0, &ret);
	return 0;
}

/* Interval timers (the time left as planned by the coordinator: --timers), POSIX timers,
 * child subreaper (the personality: restore_attrs.c). */
int restore_process_state(struct task_plan *p)
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
		uint64_t a = t_scratch_put(&rt, 0, &v, sizeof v);
		if (!a || rt_call("finish", "setitimer", SYSCALL_REQ(SYS_setitimer, (uint64_t)w, a), &ret) < 0)
			return -1;
	}
	if (!ptimers_early(p) && restore_ptimers(p) < 0)
		return -1;
	if (p->subreaper && rt_call("finish", "prctl(PR_SET_CHILD_SUBREAPER)", SYSCALL_REQ(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1), &ret) < 0)
		return -1;
	/* POSIX locks belong to the process and vanish when it closes any fd of the file: taken
	 * last, after every temporary open/close of the restart (mapped files, the executable). */
	for (int i = 0; i < p->nplocks; i++) {
		struct plock_plan *l = &p->plocks[i];
		if (l->flock) { /* a flock of the open file, taken by the task that took it (its pid shown) */
			if (t_inject(&rt, SYS_flock, (uint64_t)l->fd, (uint64_t)((l->write ? LOCK_EX : LOCK_SH) | LOCK_NB), 0, 0, 0, 0, &ret) < 0)
				return proto_fail_sys("flock", "finish", "flock", errno, "cannot drive the task through flock");
			if (ret < 0) {
				char obj[32];
				snprintf(obj, sizeof obj, "fd %d", l->fd);
				return proto_fail("finish", obj, (int)-ret, ret == -EWOULDBLOCK ? "cannot take its flock again: another process holds a lock on the file now" : "cannot take its flock again");
			}
			continue;
		}
		struct flock fl = { .l_type = (short)(l->write ? F_WRLCK : F_RDLCK), .l_whence = SEEK_SET,
				    .l_start = (off_t)l->start, .l_len = (off_t)l->len };
		uint64_t a = t_scratch_put(&rt, 0, &fl, sizeof fl);
		if (t_inject(&rt, SYS_fcntl, (uint64_t)l->fd, F_SETLK, a, 0, 0, 0, &ret) < 0)
			return proto_fail_sys("fcntl", "finish", "fcntl(F_SETLK)", errno, "cannot drive the task through fcntl");
		if (ret < 0) {
			char obj[32];
			snprintf(obj, sizeof obj, "fd %d", l->fd);
			return proto_fail("finish", obj, (int)-ret, ret == -EAGAIN || ret == -EACCES
					  ? "cannot take its POSIX lock again: another process holds a lock on the file now"
					  : "cannot take its POSIX lock again");
		}
	}
	return 0;
}

/* Leases belong to the open file but name the process that set them as the owner of the lease
 * break's signal (and the fd in its si_fd): the task takes them again itself, with its own
 * credentials (the file's owner, or CAP_LEASE), once its credentials are back. */
int restore_leases(struct task_plan *p)
{
	long ret;
	for (int i = 0; i < p->nleases; i++) {
		struct lease_plan *l = &p->leases[i];
		if (t_inject(&rt, SYS_fcntl, (uint64_t)l->fd, F_SETLEASE, l->write ? F_WRLCK : F_RDLCK, 0, 0, 0, &ret) < 0)
			return proto_fail_sys("fcntl", "finish", "fcntl(F_SETLEASE)", errno, "cannot drive the task through fcntl");
		if (ret < 0) {
			char obj[32];
			snprintf(obj, sizeof obj, "fd %d", l->fd);
			return proto_fail("finish", obj, (int)-ret, ret == -EAGAIN ? "cannot take its %s lease again: the file is open elsewhere now"
										  : "cannot take its %s lease again", l->write ? "write" : "read");
		}
	}
	return 0;
}

