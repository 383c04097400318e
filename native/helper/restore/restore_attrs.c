/* Process and thread attributes at restart (restore_attrs.c): personality (per thread),
 * scheduling (per thread: policy, priority, nice, reset-on-fork, deadline parameters,
 * utilization clamps, CPU affinity), oom_score_adj, membarrier registrations, mlockall's MCL_FUTURE,
 * prctl(PR_SET_THP_DISABLE) and the
 * loginuid, the root directory (chroot) (their plan lines `sched`, `attrs`: plan_attrs.c). Each
 * is set only when the new task's value (inherited from the helper) differs.
 *
 * Who sets what: what a process may do to itself without privilege (personality, membarrier,
 * mlockall(MCL_FUTURE), whose later mappings the kernel charges to the task's own limits) is
 * injected before the credentials change; the loginuid too (CAP_AUDIT_CONTROL: the coordinator
 * lets a bounded image have only its owner's uid or none, src/orchestrator/trust.ts). A lower
 * oom_score_adj and a better scheduling (lower nice, real-time, deadline) need privilege: they
 * are set by the task itself once it has its own credentials and limits (RLIMIT_NICE,
 * RLIMIT_RTPRIO), so the kernel's checks are those the program had; only for a fully trusted
 * image, when that is refused, does the helper set them with its own privilege. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "batch.h"
#include "helper.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct restore_ctx ctx;

#define SCHED_FLAG_RESET_ON_FORK_ 1ULL
#define SCHED_FLAG_UTIL_CLAMP_ (0x20ULL | 0x40ULL)
#define SCHED_DEADLINE_ 6
static const uint32_t membarrier_registers[] = { 4, 16, 64, 256 }; /* MEMBARRIER_CMD_REGISTER_* */

/* A number in /proc/PID/<file> (base 10, or 16 for personality); -1 when unreadable. */
static int proc_number(pid_t pid, const char *file, int base, long *out)
{
	char path[64], buf[32];
	snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	*out = strtol(buf, NULL, base);
	return 0;
}

long attrs_personality_needed(const struct task_plan *p)
{
	long cur;
	if (proc_number(p->pid, "personality", 16, &cur) == 0 && cur == p->personality)
		return -1;
	return (long)(uint32_t)p->personality;
}

long attrs_thread_personality(const struct task_plan *p, pid_t tid)
{
	for (int i = 0; i < p->attrs.nsched; i++)
		if (p->attrs.sched[i].tid == tid)
			return p->attrs.sched[i].personality == p->personality ? -1 : p->attrs.sched[i].personality;
	return -1;
}

/* text written into a /proc file of the task through its fd (staged past task_open's path) */
static int task_write(int fd, const char *text, long *ret)
{
	uint64_t a = t_scratch_put(&rt, 1024, text, strlen(text));
	if (!a || t_inject(&rt, SYS_write, (uint64_t)fd, a, strlen(text), 0, 0, 0, ret) < 0)
		return proto_fail("finish", "write", errno, "cannot drive the task through write");
	return 0;
}

int attrs_before_creds(struct task_plan *p)
{
	struct attrs_plan *a = &p->attrs;
	long ret, cur;
	if (!a->have)
		return 0;
	for (size_t i = 0; i < sizeof membarrier_registers / sizeof membarrier_registers[0]; i++)
		if ((a->membarrier & membarrier_registers[i]) &&
		    rt_call("finish", "membarrier", SYSCALL_REQ(SYS_membarrier, membarrier_registers[i]), &ret) < 0)
			return -1;
	/* per mm, inherited from the helper (off): set when the image has it */
	if (a->thp && rt_call("finish", "prctl", SYSCALL_REQ(SYS_prctl, 41 /* PR_SET_THP_DISABLE */, 1, a->thp & 2), &ret) < 0)
		return -1;
	if (a->mlockall && rt_call("finish", "mlockall", SYSCALL_REQ(SYS_mlockall, a->mlockall), &ret) < 0)
		return -1;
	if (proc_number(p->pid, "loginuid", 10, &cur) < 0 || (uint32_t)cur != a->loginuid) {
		char text[16];
		long fd;
		snprintf(text, sizeof text, "%u", a->loginuid);
		if (task_open("finish", "/proc/self/loginuid", O_WRONLY | O_CLOEXEC, &fd) < 0 || task_write((int)fd, text, &ret) < 0 ||
		    t_inject(&rt, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &cur) < 0)
			return -1;
		if (ret < 0)
			return proto_fail("finish", "loginuid", (int)-ret, "cannot set the loginuid to %u", a->loginuid);
	}
	/* opened now, written as the task once it has its own credentials (attrs_after_creds):
	 * a task that is not dumpable could not open it then */
	if (proc_number(p->pid, "oom_score_adj", 10, &cur) < 0 || cur != a->oom_adj) {
		if (task_open("finish", "/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC, &ret) < 0)
			return -1;
		a->oom_fd = (int)ret;
	}
	/* last of the paths the task opens itself before its credentials change (resolved from
	 * its root then); the working directory stays where it is, as chroot leaves it */
	if (a->root) {
		size_t len = strlen(a->root) + 1;
		uint64_t at = t_scratch_put(&rt, 0, a->root, len);
		if (!at)
			return proto_fail("finish", a->root, ENAMETOOLONG, "path too long for the scratch area");
		if (t_inject(&rt, SYS_chroot, at, 0, 0, 0, 0, 0, &ret) < 0)
			return proto_fail("finish", a->root, errno, "cannot drive the task through chroot");
		if (ret < 0)
			return proto_fail("finish", a->root, (int)-ret, "cannot make it the root directory again");
	}
	return 0;
}

/* The helper's own privilege, for a trusted image only: writing oom_score_adj as root also
 * makes it the task's floor, as when an administrator sets it. */
static int oom_by_helper(struct task_plan *p)
{
	char path[64], text[16];
	snprintf(path, sizeof path, "/proc/%d/oom_score_adj", p->pid);
	snprintf(text, sizeof text, "%d", p->attrs.oom_adj);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	int err = errno;
	if (fd >= 0)
		close(fd);
	return ok ? 0 : proto_fail("finish", "oom_score_adj", err, "cannot set it to %d", p->attrs.oom_adj);
}

/* A thread's scheduling as the plan wants it, and whether the thread has it already. */
struct sched_want {
	struct ucr_sched_attr attr;
	pid_t seen, intask; /* the thread as the helper sees it / as the task does */
	const struct sched_plan *s;
};

static int sched_want_of(struct task_plan *p, const struct sched_plan *s, struct sched_want *w)
{
	w->s = s;
	w->seen = 0, w->intask = s->tid;
	if (s->tid == p->old_pid)
		w->seen = p->pid, w->intask = p->nspid;
	for (int i = 0; i < p->nthreads && !w->seen; i++)
		if (p->threads[i].tid == s->tid)
			w->seen = p->threads[i].pid;
	if (!w->seen)
		return proto_fail("finish", "scheduling", ESRCH, "thread %d is not part of the task", s->tid);
	struct ucr_sched_attr want = { .size = sizeof want, .policy = s->policy, .flags = s->flags & SCHED_FLAG_RESET_ON_FORK_,
				       .nice = s->nice, .priority = s->priority },
			      cur = { 0 };
	/* the runtime sched_getattr gives back: a deadline thread's own; a fair thread's time slice
	 * (Linux 6.12 on), its own (the image's `slice`) or the default, which sched_setattr
	 * without one puts back */
	uint64_t runtime = 0;
	if (s->policy == SCHED_DEADLINE_) {
		want.flags = s->flags;
		want.runtime = s->runtime, want.deadline = s->deadline, want.period = s->period;
		runtime = want.runtime;
	} else if (s->policy == 0 || s->policy == 3 || s->policy == 5) {
		if (s->policy != 5)
			want.runtime = s->runtime;
		runtime = want.runtime ? want.runtime : fair_default_slice();
	}
	int clamp = s->util_min != 0 || s->util_max != 1024;
	if (clamp)
		want.flags |= SCHED_FLAG_UTIL_CLAMP_, want.util_min = s->util_min, want.util_max = s->util_max;
	w->attr = want;
	/* 1: as it is already */
	return syscall(SYS_sched_getattr, w->seen, &cur, sizeof cur, 0) == 0 && cur.policy == want.policy &&
	       (cur.flags & SCHED_FLAG_RESET_ON_FORK_) == (want.flags & SCHED_FLAG_RESET_ON_FORK_) && cur.nice == want.nice &&
	       cur.priority == want.priority && cur.runtime == runtime && cur.deadline == want.deadline &&
	       cur.period == want.period && (!clamp || (cur.util_min == want.util_min && cur.util_max == want.util_max));
}

/* What a thread's setpriority or sched_setattr in the task answered (err < 0): for a fully
 * trusted image, a refusal is retried with the helper's privilege. */
static int sched_refused(const struct sched_want *w, long err)
{
	const struct sched_plan *s = w->s;
	if ((err == -EPERM || err == -EACCES) && ctx.plan->trusted && setpriority(PRIO_PROCESS, (id_t)w->seen, s->nice) == 0 &&
	    syscall(SYS_sched_setattr, w->seen, &w->attr, 0) == 0)
		return 0;
	char obj[32];
	snprintf(obj, sizeof obj, "thread %d", s->tid);
	return proto_fail("finish", obj, (int)-err, "cannot set its scheduling (policy %u, priority %u, nice %d)%s", s->policy, s->priority,
			  s->nice, ctx.plan->trusted ? "" : " with the task's own credentials and limits");
}

#define SCHED_BATCH (BATCH_MAX / 2)

/* Every thread's scheduling that differs from what it has now, set by the task: nice first
 * (sched_setattr keeps a real-time thread's nice as it is), then sched_setattr, each pair in
 * order, up to SCHED_BATCH threads in one stop (the batch stops at the first call that fails,
 * so a sched_setattr runs only after a setpriority that worked, as one by one; after a
 * refusal the next batch starts with the next thread). */
static int sched_all(struct task_plan *p)
{
	struct attrs_plan *a = &p->attrs;
	static struct sched_want w[SCHED_BATCH];
	static struct batch b;
	int next = 0;
	while (next < a->nsched) {
		int n = 0;
		for (; next < a->nsched && n < SCHED_BATCH; next++) {
			int same = sched_want_of(p, &a->sched[next], &w[n]);
			if (same < 0)
				return -1;
			if (!same)
				n++;
		}
		if (!n)
			break;
		static struct ucr_sched_attr attrs[SCHED_BATCH]; /* in the task, one after the other */
		for (int k = 0; k < n; k++)
			attrs[k] = w[k].attr;
		uint64_t at = t_scratch_put(&rt, 0, attrs, (size_t)n * sizeof attrs[0]);
		if (!at)
			return proto_fail("finish", "scheduling", errno, "cannot drive the task through sched_setattr");
		for (int done = 0; done < n;) {
			batch_init(&b, 0);
			for (int k = done; k < n; k++) {
				batch_add(&b, SYS_setpriority, PRIO_PROCESS, (uint64_t)w[k].intask, (uint64_t)(int64_t)w[k].s->nice, 0, 0, 0, 0, k);
				batch_add(&b, SYS_sched_setattr, (uint64_t)w[k].intask, at + (uint64_t)k * sizeof attrs[0], 0, 0, 0, 0, 0, k);
			}
			if (batch_run(&b, &rt) < 0 || b.done < 1)
				return proto_fail("finish", "scheduling", errno, "cannot drive the task through sched_setattr");
			int bad = batch_failed(&b);
			if (bad < 0)
				break;
			if (bad >= b.done) /* stopped without a failed call */
				return proto_fail("finish", "scheduling", EPROTO, "the task stopped before its sched_setattr");
			int k = b.tags[bad];
			if (sched_refused(&w[k], (long)b.calls[bad].ret) < 0)
				return -1;
			done = k + 1;
		}
	}
	return 0;
}

/* One thread's CPU affinity, set by the task itself (any process may bind its own threads; the
 * kernel keeps the CPUs its cpuset allows, EINVAL when none: the coordinator already dropped the
 * CPUs not online here). */
static int affinity_one(struct task_plan *p, const struct sched_plan *s)
{
	if (!s->cpus)
		return 0;
	pid_t intask = s->tid == p->old_pid ? p->nspid : s->tid, seen = s->tid == p->old_pid ? p->pid : 0;
	for (int i = 0; i < p->nthreads && !seen; i++)
		if (p->threads[i].tid == s->tid)
			seen = p->threads[i].pid;
	/* what it has already (the helper's, inherited): nothing to inject */
	unsigned char cur[512] = { 0 };
	long got = seen && s->ncpus <= sizeof cur ? syscall(SYS_sched_getaffinity, seen, sizeof cur, cur) : -1;
	if (got > 0) {
		int same = 1;
		for (size_t i = 0; i < sizeof cur && same; i++)
			same = cur[i] == (i < s->ncpus ? ((const unsigned char *)s->cpus)[i] : 0);
		if (same)
			return 0;
	}
	long r = 0;
	uint64_t at = t_scratch_put(&rt, 0, s->cpus, s->ncpus);
	if (!at || t_inject(&rt, SYS_sched_setaffinity, (uint64_t)intask, s->ncpus, at, 0, 0, 0, &r) < 0)
		return proto_fail("finish", "affinity", errno, "cannot drive the task through sched_setaffinity");
	if (r < 0) {
		char obj[32];
		snprintf(obj, sizeof obj, "thread %d", s->tid);
		return proto_fail("finish", obj, (int)-r, "cannot set its CPU affinity (sched_setaffinity)");
	}
	return 0;
}

int attrs_after_creds(struct task_plan *p)
{
	struct attrs_plan *a = &p->attrs;
	long ret, closed;
	if (a->have && a->oom_fd >= 0) {
		char text[16];
		snprintf(text, sizeof text, "%d", a->oom_adj);
		if (task_write(a->oom_fd, text, &ret) < 0 || t_inject(&rt, SYS_close, (uint64_t)a->oom_fd, 0, 0, 0, 0, 0, &closed) < 0)
			return -1;
		a->oom_fd = -1;
		if (ret < 0 && (ret == -EACCES || ret == -EPERM) && ctx.plan->trusted) {
			if (oom_by_helper(p) < 0)
				return -1;
		} else if (ret < 0) {
			return proto_fail("finish", "oom_score_adj", (int)-ret, "cannot set it to %d%s", a->oom_adj,
					  ctx.plan->trusted ? "" : " with the task's own credentials (below what it may set)");
		}
	}
	/* every thread's scheduling, then every thread's affinity (a deadline thread needs the
	 * whole root domain when its policy is set) */
	if (sched_all(p) < 0)
		return -1;
	for (int i = 0; i < a->nsched; i++)
		if (affinity_one(p, &a->sched[i]) < 0)
			return -1;
	return 0;
}
