/* A task's pending SIGTRAPs, taken out of their queues before its first trap and queued again
 * after its last one (gadget.c).
 *
 * Every injected call ends with a trap (int3, or a single step) the kernel forces on the task
 * as a SIGTRAP; with a SIGTRAP already pending for the thread, the kernel queues no second one
 * (a legacy signal), unblocks it, and the thread stops with the pending one, whose signal the
 * helper lets go: it is lost, from the running process and from the image. With one pending
 * for the process, it comes out at the next resume, a stop no call expects. So when the status
 * (or a thread's queue) shows one, the gadget is mapped through syscall stops (no trap), each
 * SIGTRAP is read where it is queued (PTRACE_PEEKSIGINFO: its siginfo and its queue) and taken
 * out by an injected rt_sigtimedwait run through the gadget's `syscall` with syscall stops,
 * every signal blocked; the state reports them among the pending signals of their queue
 * (dump_signal_state); before the gadget goes, after the last trap, they are queued again with
 * their siginfos, again through syscall stops and every signal blocked (rt_tgsigqueueinfo from
 * the thread it is for: the kernel takes a kill's siginfo only from there; rt_sigqueueinfo from
 * the main thread for the process's): the process runs on with them. A process whose main
 * thread has exited cannot queue the process's again: refused. The other threads' queues are
 * peeked whole, and one without a SIGTRAP kept for the state (probe): each peeked once. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "dump.h"
#include "proto.h"

#define MAX_TAKEN 64

static struct {
	pid_t tid; /* the thread whose queue held it; 0: the process's */
	unsigned char si[128];
	struct user_regs_struct regs; /* that thread's, as saved (the base of its injected calls) */
} taken[MAX_TAKEN];
static int ntaken;
static pid_t owner; /* the process (its tracee's pid) they were taken from */

long peek_siginfo(pid_t tid, int shared, uint64_t off, int nr, unsigned char *out)
{
	struct { uint64_t off; uint32_t flags; int32_t nr; } a = { off, shared ? 1 /* PTRACE_PEEKSIGINFO_SHARED */ : 0, nr };
	return ptrace(0x4209 /* PTRACE_PEEKSIGINFO */, tid, &a, out);
}

/* The first SIGTRAP among got siginfos of si (NULL: none). */
static const unsigned char *trap_among(const unsigned char *si, long got)
{
	for (long i = 0; i < got; i++)
		if (((const siginfo_t *)(const void *)(si + i * 128))->si_signo == SIGTRAP)
			return si + i * 128;
	return NULL;
}

/* The SIGTRAP of one of the main thread's queues (shared: the process's), peeked at without
 * taking it: 1 when found. */
static int peek(pid_t tid, int shared, unsigned char out[128])
{
	static unsigned char si[64 * 128];
	for (uint64_t off = 0;; off += 64) {
		long got = peek_siginfo(tid, shared, off, 64, si);
		const unsigned char *trap = trap_among(si, got);
		if (trap) {
			memcpy(out, trap, 128);
			return 1;
		}
		if (got < 64)
			return 0;
	}
}

/* The own queue of t, a thread other than the one the helper works through, peeked whole (1024
 * at a time): 1 and its first SIGTRAP's siginfo in trap when it holds one; else 0, and the queue
 * kept in t (t->peeked) for the state, which sends that copy rather than peeking again. Nothing
 * the helper does until then changes it: the SIGTRAPs it takes are other threads', and each trap
 * of a call injected into t takes its own SIGTRAP at its stop, every other signal blocked (a
 * signal sent to t from outside meanwhile misses the image, as one sent after the state would).
 * A queue that cannot be read, or MAX_PENDING long, is not kept: the state reads it and reports. */
static int probe(struct dthread *t, unsigned char trap[128])
{
	static unsigned char si[1024 * 128];
	unsigned char *kept = NULL;
	size_t n = 0;
	int keep = 1;
	for (;;) {
		long got = peek_siginfo(t->tid, 0, n, 1024, si);
		const unsigned char *found = trap_among(si, got);
		if (found) {
			memcpy(trap, found, 128);
			free(kept);
			return 1;
		}
		if (got < 0)
			keep = 0;
		if (keep && got > 0) {
			unsigned char *more = n + (size_t)got < MAX_PENDING ? realloc(kept, (n + (size_t)got) * 128) : NULL;
			if (more)
				memcpy(more + n * 128, si, (size_t)got * 128), kept = more;
			else
				keep = 0;
		}
		if (got > 0)
			n += (size_t)got;
		if (got < 1024)
			break;
	}
	if (keep)
		t->peeked = 1, t->kept = kept, t->nkept = n;
	else
		free(kept);
	return 0;
}

int trap_pending_in(struct dtask *x, int trap)
{
	if (trap & TRAP_PENDING)
		return 1;
	unsigned char si[128];
	for (int k = 0; k < x->nth; k++)
		if (k != x->main && !x->th[k].peeked && probe(&x->th[k], si))
			return 1;
	return 0;
}

/* rt_sigtimedwait({SIGTRAP}, NULL, {0, 0}) in thread t (its signals all blocked), until none is
 * left for it (its own, then the process's). */
static int take_from(struct tracee *t)
{
	uint64_t all = ~0ULL, set = 1ULL << (SIGTRAP - 1);
	struct { uint64_t set; long ts[2]; } arg = { set, { 0, 0 } };
	uint64_t a = t_scratch_put(t, 0, &arg, sizeof arg);
	if (!a || ptrace(PTRACE_SETSIGMASK, t->pid, (void *)8, &all) < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		const uint64_t args[6] = { a, 0, a + 8, 8, 0, 0 };
		long ret;
		if (t_inject_via_syscall_stops(t, t->gadget, SYS_rt_sigtimedwait, args, &ret) < 0)
			return -1;
		if (ret == -EAGAIN)
			return 0;
		if (ret != SIGTRAP) {
			errno = ret < 0 ? (int)-ret : EPROTO;
			return -1;
		}
	}
	errno = EPROTO;
	return -1;
}

static void add(pid_t tid, const unsigned char si[128], const struct user_regs_struct *regs)
{
	if (ntaken < MAX_TAKEN) {
		taken[ntaken].tid = tid;
		memcpy(taken[ntaken].si, si, 128);
		taken[ntaken].regs = *regs;
	}
	ntaken++;
}

int trap_pending_take(struct tracee *task, struct dtask *d)
{
	ntaken = 0;
	owner = task->pid;
	if (d->t.pid != d->tgid) /* its main thread gone: no other may queue a kill's siginfo again */
		return proto_fail("state", "signals", 0, "a SIGTRAP is pending for a process whose main thread has exited: not supported");
	unsigned char si[128];
	if (peek(task->pid, 0, si)) /* the main thread's own, then the process's: as it takes them */
		add(task->pid, si, &task->regs);
	if (peek(task->pid, 1, si))
		add(0, si, &task->regs);
	for (int k = 0; k < d->nth; k++) /* a queue the probe kept holds none */
		if (d->th[k].tid != task->pid && !d->th[k].peeked && probe(&d->th[k], si))
			add(d->th[k].tid, si, &d->th[k].regs);
	if (ntaken > MAX_TAKEN) {
		ntaken = 0;
		return proto_fail("state", "signals", 0, "a SIGTRAP is pending for more than %d threads: not supported", MAX_TAKEN);
	}
	if (take_from(task) < 0)
		return proto_fail_sys("rt_sigtimedwait", "state", "signals", errno, "cannot take the pending SIGTRAP of thread %d", task->pid);
	for (int i = 0; i < ntaken; i++) {
		if (!taken[i].tid || taken[i].tid == task->pid)
			continue;
		struct tracee t = *task;
		t.pid = taken[i].tid, t.regs = taken[i].regs;
		if (take_from(&t) < 0)
			return proto_fail_sys("rt_sigtimedwait", "state", "signals", errno, "cannot take the pending SIGTRAP of thread %d", t.pid);
	}
	return 0;
}

size_t trap_pending_of(pid_t tid, int shared, unsigned char *out)
{
	size_t n = 0;
	for (int i = 0; i < ntaken; i++)
		if (shared ? !taken[i].tid : taken[i].tid == tid)
			memcpy(out + 128 * n++, taken[i].si, 128);
	return n;
}

int trap_pending_held(pid_t pid)
{
	return owner == pid && ntaken > 0;
}

void trap_pending_put_back(struct tracee *task)
{
	if (!trap_pending_held(task->pid))
		return;
	for (int i = 0; i < ntaken; i++) {
		/* a thread's own from that thread, the process's from its main thread (t_requeue_trap) */
		struct tracee t = *task;
		if (taken[i].tid && taken[i].tid != task->pid)
			t.pid = taken[i].tid, t.regs = taken[i].regs;
		long ret;
		t_requeue_trap(&t, t.gadget, owner, taken[i].tid ? t.pid : 0, taken[i].si, &ret);
	}
	ntaken = 0;
	owner = 0;
}
