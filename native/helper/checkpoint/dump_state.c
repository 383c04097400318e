/* Checkpoint of what only ptrace or the task itself can tell: registers and xstate of every
 * thread, signal handlers, masks, alternate stacks and pending signals, brk, limits, timers,
 * tid address, dumpable, subreaper (injected calls through the gadget, see dump.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "batch.h"
#include "dump.h"
#include "fault.h"
#include "helper.h"
#include "proto.h"

/* prctl(option, &value) injected into the task: the value lands in scratch, then in out. */
static int prctl_get(struct tracee *task, int option, void *out, size_t len)
{
	long ret;
	if (inject_ok(task, SYS_prctl, (uint64_t)option, task->scratch, 0, 0, &ret, "prctl") < 0)
		return -1;
	if (ret == 0)
		t_read_mem(task->pid, task->scratch, out, len);
	return 0;
}

/* /proc/PID/limits, for when prlimit64 may not read another user's limits (it wants
 * CAP_SYS_RESOURCE, which some containers drop): "%-25s %-20s %-20s %-10s" per resource. */
static int read_limits(pid_t pid, struct rlimit64 *lim)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/limits", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int r = -1;
	while (fgets(line, sizeof line, f)) {
		if (r >= RLIM_NLIMITS || strlen(line) < 67)
			break;
		if (r >= 0) {
			char soft[21], hard[21];
			if (sscanf(line + 26, "%20s", soft) != 1 || sscanf(line + 47, "%20s", hard) != 1)
				break;
			lim[r].rlim_cur = strcmp(soft, "unlimited") ? strtoull(soft, NULL, 10) : RLIM64_INFINITY;
			lim[r].rlim_max = strcmp(hard, "unlimited") ? strtoull(hard, NULL, 10) : RLIM64_INFINITY;
		}
		r++;
	}
	fclose(f);
	if (r != RLIM_NLIMITS) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* The process's getters run in the rt_sigaction batch (one stop) instead of one injected call
 * each; their outputs land in the scratch area from PRE_OFF. The batch stops at a call that
 * fails (membarrier before 6.3, PR_GET_TID_ADDRESS without CONFIG_CHECKPOINT_RESTORE: those
 * last): a getter that did not run is injected on its own, as it was. */
enum { X_BRK, X_DUMPABLE, X_PDEATH, X_SUBREAPER, X_ALTSTACK, X_IT0, X_IT1, X_IT2, X_THP, X_MEMBARRIER, X_TIDADDR, X_N };
#define PRE_OFF 4096UL /* after the 65 sigactions */
#define PRE_PDEATH 0
#define PRE_SUBREAPER 8
#define PRE_TIDADDR 16
#define PRE_ALTSTACK 32
#define PRE_IT 64

struct pre {
	long ret[X_N];
	int ran[X_N];
	unsigned char mem[PRE_IT + 3 * sizeof(struct itimerval)];
};

static void pre_add(struct batch *b, struct tracee *task)
{
	uint64_t m = task->scratch + PRE_OFF;
	batch_add(b, SYS_brk, 0, 0, 0, 0, 0, 0, 0, X_BRK);
	batch_add(b, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0, 0, X_DUMPABLE);
	batch_add(b, SYS_prctl, PR_GET_PDEATHSIG, m + PRE_PDEATH, 0, 0, 0, 0, 0, X_PDEATH);
	batch_add(b, SYS_prctl, PR_GET_CHILD_SUBREAPER, m + PRE_SUBREAPER, 0, 0, 0, 0, 0, X_SUBREAPER);
	batch_add(b, SYS_sigaltstack, 0, m + PRE_ALTSTACK, 0, 0, 0, 0, 0, X_ALTSTACK);
	for (int w = 0; w < 3; w++)
		batch_add(b, SYS_getitimer, (uint64_t)w, m + PRE_IT + (uint64_t)w * sizeof(struct itimerval), 0, 0, 0, 0, 0, X_IT0 + w);
	batch_add(b, SYS_prctl, UCR_PR_GET_THP_DISABLE, 0, 0, 0, 0, 0, 0, X_THP);
	batch_add(b, SYS_membarrier, MEMBARRIER_GET_REGISTRATIONS, 0, 0, 0, 0, 0, 0, X_MEMBARRIER);
	batch_add(b, SYS_prctl, PR_GET_TID_ADDRESS, m + PRE_TIDADDR, 0, 0, 0, 0, 0, X_TIDADDR);
}

/* What ran of them (a call that failed ran too: its result is the error, as when injected alone). */
static void pre_collect(struct pre *p, const struct batch *b, int from, struct tracee *task)
{
	memset(p, 0, sizeof *p);
	if (b->done <= from || t_read_mem(task->pid, task->scratch + PRE_OFF, p->mem, sizeof p->mem) < 0)
		return;
	for (int i = from; i < b->done; i++)
		p->ran[b->tags[i]] = 1, p->ret[b->tags[i]] = (long)b->calls[i].ret;
}

/* prctl_get() of a getter, from the batch when it ran there */
static int pre_prctl(const struct pre *p, int x, struct tracee *task, int option, void *out, size_t len)
{
	static const int at[X_N] = { [X_PDEATH] = PRE_PDEATH, [X_SUBREAPER] = PRE_SUBREAPER, [X_TIDADDR] = PRE_TIDADDR };
	if (!p->ran[x])
		return prctl_get(task, option, out, len);
	if (p->ret[x] == 0)
		memcpy(out, p->mem + at[x], len);
	return 0;
}

struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

/* Per-thread signal state, as JSON members: the alternate stack (injected sigaltstack) and the
 * signals pending for that thread only, or (shared) for the whole process, read with
 * PTRACE_PEEKSIGINFO without dequeuing them: each a 128-byte siginfo, hex. */
int dump_altstack_failed(pid_t tid)
{
	return proto_fail_sys("sigaltstack", "state", "sigaltstack", errno, "cannot read the alternate signal stack of %d", tid);
}

/* read: the thread's alternate stack, read by the caller (NULL: injected here) */
int dump_signal_state(struct tracee *th, const stack_t *read, struct dthread *own, int shared, char **json)
{
	long ret;
	stack_t ss = { 0 };
	if (read)
		ss = *read;
	else if (t_inject(th, SYS_sigaltstack, 0, th->scratch, 0, 0, 0, 0, &ret) < 0 || ret != 0 ||
		 t_read_mem(th->pid, th->scratch, &ss, sizeof ss) < 0)
		return dump_altstack_failed(th->pid);
	/* every queued signal (real-time ones queue up to RLIMIT_SIGPENDING), 1024 at a time */
	unsigned char *si[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 };
	for (int q = 0; q <= shared; q++) {
		if (!q && own && own->peeked) {
			/* the probe's copy (trap_pending.c): it held no SIGTRAP, so none was taken */
			si[0] = own->kept, n[0] = own->nkept;
			own->kept = NULL, own->peeked = 0;
			continue;
		}
		for (;;) {
			unsigned char *more = realloc(si[q], (n[q] + 1024) * 128);
			if (!more) {
				free(si[0]), free(si[1]);
				return proto_fail("state", "signals", ENOMEM, "out of memory");
			}
			si[q] = more;
			long got = peek_siginfo(th->pid, q, n[q], 1024, si[q] + n[q] * 128);
			if (got < 0) {
				free(si[0]), free(si[1]);
				return proto_fail_sys("PTRACE_PEEKSIGINFO", "state", "signals", errno, "PTRACE_PEEKSIGINFO failed for %d", th->pid);
			}
			n[q] += (size_t)got;
			if (got < 1024)
				break;
			if (n[q] >= MAX_PENDING) {
				free(si[0]), free(si[1]);
				return proto_fail("state", "signals", E2BIG, "more than %d signals pending in %d", MAX_PENDING, th->pid);
			}
		}
		/* a SIGTRAP taken out of this queue before the first trap (at most one: room left by
		 * the last read, which got fewer than 1024) */
		n[q] += trap_pending_of(th->pid, q, si[q] + n[q] * 128);
	}
	char *p0 = hex_dup(si[0] ? si[0] : (unsigned char *)"", n[0] * 128), *p1 = hex_dup(si[1] ? si[1] : (unsigned char *)"", n[1] * 128);
	free(si[0]), free(si[1]);
	size_t cap = (n[0] + n[1]) * 260 + 200;
	*json = malloc(cap);
	if (!p0 || !p1 || !*json)
		return proto_fail("state", "signals", ENOMEM, "out of memory");
	/* the robust futex list, as the kernel walks it when the thread dies */
	uint64_t head = 0;
	size_t hlen = 0;
	if (syscall(SYS_get_robust_list, th->pid, &head, &hlen) < 0)
		head = 0, hlen = 0;
	snprintf(*json, cap, "\"altstack\":[\"0x%llx\",%d,%zu],\"pending\":\"%s\",\"shpending\":\"%s\",\"robust\":[\"0x%llx\",%zu]",
		 (unsigned long long)(uintptr_t)ss.ss_sp, ss.ss_flags, ss.ss_size, p0, p1, (unsigned long long)head, hlen);
	free(p0);
	free(p1);
	return 0;
}

/* POSIX timers: the ids come from the coordinator (/proc/PID/timers), the time left from an
 * injected timer_gettime, the overruns of the last delivered signal from timer_getoverrun.
 * JSON array of [id, interval s, ns, value s, ns, overrun]. */
static int timers_state(struct tracee *task, const uint64_t *ids, size_t nids, char *out, size_t cap)
{
	size_t o = 0;
	out[o++] = '[';
	for (size_t i = 0; i < nids; i++) {
		uint64_t id = ids[i];
		long ret;
		struct itimerspec its = { 0 };
		if (inject_ok(task, SYS_timer_gettime, id, task->scratch, 0, 0, &ret, "timer_gettime") < 0)
			return -1;
		if (ret < 0)
			return proto_fail_sys("timer_gettime", "state", "timers", (int)-ret, "timer_gettime(%llu) failed", (unsigned long long)id);
		t_read_mem(task->pid, task->scratch, &its, sizeof its);
		long ov = 0;
		if (inject_ok(task, SYS_timer_getoverrun, id, 0, 0, 0, &ov, "timer_getoverrun") < 0)
			return -1;
		o += (size_t)snprintf(out + o, cap - o, "%s[%llu,%ld,%ld,%ld,%ld,%ld]", i ? "," : "", (unsigned long long)id,
				      (long)its.it_interval.tv_sec, its.it_interval.tv_nsec, (long)its.it_value.tv_sec,
				      its.it_value.tv_nsec, ov > 0 ? ov : 0);
		if (o + 100 > cap)
			return proto_fail("state", "timers", E2BIG, "too many timers");
	}
	out[o++] = ']';
	out[o] = 0;
	return 0;
}

int cmd_state(struct tracee *task, struct dtask *cur, pid_t proc, size_t fdmin)
{
	static uint64_t tids[MAX_TIMERS];
	int ntids = procfs_timer_ids(proc, tids, MAX_TIMERS);
	if (ntids < 0)
		return -1;
	size_t xlen = 16384;
	static unsigned char xstate[16384];
	if (t_get_xstate(task->pid, xstate, &xlen) < 0)
		return proto_fail_sys("PTRACE_GETREGSET", "state", "xstate", errno, "PTRACE_GETREGSET NT_X86_XSTATE failed");
	struct ucr_rseq_configuration rseq = { 0 };
	if (ptrace(UCR_PTRACE_GET_RSEQ_CONFIGURATION, task->pid, (void *)sizeof rseq, &rseq) < 0)
		memset(&rseq, 0, sizeof rseq);
	uint64_t sigmask = cur->th[cur->main].mask; /* saved at the freeze */

	if (gadget_take(task, cur) < 0) /* cur->vmlck: before it (mlockall(MCL_FUTURE) locks it) */
		return -1;
	/* the 64 dispositions in one stop: each rt_sigaction writes into its own scratch slot */
	struct ksigaction acts[65];
	long ret;
	static struct batch b;
	batch_init(&b, 0);
	memset(acts, 0, sizeof acts);
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			batch_add(&b, SYS_rt_sigaction, (uint64_t)sig, 0, task->scratch + (uint64_t)sig * sizeof acts[0], 8, 0,
				  0, 0, sig);
	int nsig = b.n;
	struct pre pre;
	pre_add(&b, task);
	if (batch_run(&b, task) < 0)
		return proto_fail_sys("rt_sigaction", "inject", "rt_sigaction", errno, "cannot run rt_sigaction in the task");
	int bad = batch_failed(&b);
	if (bad >= 0 && bad < nsig)
		return proto_fail_sys("rt_sigaction", "state", "rt_sigaction", bad < b.done ? (int)-(long)b.calls[bad].ret : EPROTO, "signal %d",
				  b.tags[bad]);
	if (t_read_mem(task->pid, task->scratch, acts, sizeof acts) < 0)
		return proto_fail_sys("rt_sigaction", "state", "rt_sigaction", errno, "cannot read the result");
	gadget_keep_trap(task, (const uint64_t *)&acts[SIGTRAP]); /* the batch's int3 reset it: put back at the end */
	pre_collect(&pre, &b, nsig, task);
	memset(&acts[SIGKILL], 0, sizeof acts[SIGKILL]);
	memset(&acts[SIGSTOP], 0, sizeof acts[SIGSTOP]);
	long brk;
	if (pre.ran[X_BRK])
		brk = pre.ret[X_BRK];
	else if (inject_ok(task, SYS_brk, 0, 0, 0, 0, &brk, "brk") < 0)
		return -1;
	int pdeath = 0;
	long dumpable;
	uint64_t tidaddr = 0;
	if (pre_prctl(&pre, X_PDEATH, task, PR_GET_PDEATHSIG, &pdeath, sizeof pdeath) < 0 ||
	    (pre.ran[X_DUMPABLE] ? (dumpable = pre.ret[X_DUMPABLE], 0) : inject_ok(task, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, &dumpable, "prctl")) < 0 ||
	    pre_prctl(&pre, X_TIDADDR, task, PR_GET_TID_ADDRESS, &tidaddr, sizeof tidaddr) < 0)
		return -1;
	char *sig = NULL;
	if (dump_signal_state(task, pre.ran[X_ALTSTACK] && pre.ret[X_ALTSTACK] == 0 ? (const stack_t *)(pre.mem + PRE_ALTSTACK) : NULL, NULL, 1, &sig) < 0)
		return -1;
	long it[3][4];
	for (int w = 0; w < 3; w++) {
		struct itimerval v = { 0 };
		if (pre.ran[X_IT0 + w])
			ret = pre.ret[X_IT0 + w], memcpy(&v, pre.mem + PRE_IT + w * sizeof v, sizeof v);
		else if (inject_ok(task, SYS_getitimer, (uint64_t)w, task->scratch, 0, 0, &ret, "getitimer") < 0)
			return -1;
		else if (ret == 0)
			t_read_mem(task->pid, task->scratch, &v, sizeof v);
		if (ret != 0)
			memset(&v, 0, sizeof v);
		it[w][0] = v.it_interval.tv_sec, it[w][1] = v.it_interval.tv_usec;
		it[w][2] = v.it_value.tv_sec, it[w][3] = v.it_value.tv_usec;
	}
	static char timers[16384];
	if (timers_state(task, tids, (size_t)ntids, timers, sizeof timers) < 0)
		return -1;
	int subreaper = 0;
	if (pre_prctl(&pre, X_SUBREAPER, task, PR_GET_CHILD_SUBREAPER, &subreaper, sizeof subreaper) < 0)
		return -1;
	struct sbuf ths = { 0 }, bin = { 0 };
	sb_add(&ths, "[");
	/* registers and xstate travel raw, in one binary frame before the event: this thread's,
	 * then every other thread's in the order of "threads" */
	if (sb_bytes(&bin, &task->regs, sizeof task->regs) < 0 || sb_bytes(&bin, xstate, xlen) < 0) {
		free(ths.p), free(bin.p);
		return proto_fail("state", "threads", ENOMEM, "out of memory");
	}
	if (dump_threads_state(task, cur, &ths, &bin) < 0) {
		free(ths.p), free(bin.p);
		return -1;
	}
	sb_add(&ths, "]");
	if (!ths.p || ths.p[ths.len - 1] != ']') {
		free(ths.p), free(bin.p);
		return proto_fail("state", "threads", ENOMEM, "out of memory");
	}
	struct sbuf attrs = { 0 };
	int failed = attrs_state(task, cur, cur->vmlck, pre.ran[X_MEMBARRIER] ? &pre.ret[X_MEMBARRIER] : NULL, pre.ran[X_THP] ? &pre.ret[X_THP] : NULL, &attrs) < 0 || aio_state(task, cur, &attrs) < 0 ? -1 : !attrs.p ? proto_fail("state", "attrs", ENOMEM, "out of memory") : 0;
	if (failed) {
		free(ths.p), free(bin.p);
		free(attrs.p);
		return -1;
	}
	struct sbuf fdflags = { 0 };
	fd_flags(task, cur->fdsize, proc, fdmin, &fdflags);
	gadget_unmap(task, 1);

	struct rlimit64 lim[RLIM_NLIMITS];
	for (int r = 0; r < RLIM_NLIMITS; r++)
		if (prlimit64(task->pid, r, NULL, &lim[r]) < 0 && read_limits(task->pid, lim) < 0) {
			free(ths.p), free(bin.p), free(attrs.p), free(sig), free(fdflags.p);
			return proto_fail_sys("prlimit64", "state", "rlimit", errno, "cannot read the resource limits");
		}

	/* the /proc files the coordinator parses, after the registers in the frame (dump_procfs.c) */
	struct sbuf lens = { 0 };
	int smaps_streamed;
	struct procfs_read rd;
	if (dump_procfs(proc, &bin, &lens, &smaps_streamed, &rd) < 0) {
		free(ths.p), free(bin.p), free(attrs.p), free(sig), free(lens.p), free(fdflags.p);
		return proto_fail("state", "memory", ENOMEM, "out of memory");
	}
	struct threads_apart apart; /* the other threads' cgroups and cgroup namespace */
	procfs_threads_apart(proc, cur, &bin, &rd, &apart);
	char cgns[32 + 2 * sizeof apart.ns] = "", hex[2 * sizeof apart.ns + 1];
	if (apart.ns_tid) {
		hex_encode(apart.ns, apart.ns_len, hex);
		snprintf(cgns, sizeof cgns, ",\"cgns\":[%d,\"%s\"]", apart.ns_tid, hex);
	}
	size_t cap = 64 * 110 + RLIM_NLIMITS * 50 + 64;
	char *acts_s = malloc(cap), *lim_s = malloc(RLIM_NLIMITS * 50 + 8);
	if (!acts_s || !lim_s)
		return proto_fail("state", "memory", ENOMEM, "out of memory");
	size_t o = 0;
	acts_s[0] = 0;
	/* the default dispositions (no handler, flags or mask) are left out: the coordinator
	 * keeps only the others */
	for (int sig = 1; sig <= 64; sig++)
		if (acts[sig].handler || acts[sig].flags || acts[sig].mask)
			o += (size_t)snprintf(acts_s + o, cap - o, "%s[%d,\"0x%llx\",\"0x%llx\",\"0x%llx\",\"0x%llx\"]",
				      o ? "," : "", sig, (unsigned long long)acts[sig].handler,
				      (unsigned long long)acts[sig].flags,
				      (unsigned long long)acts[sig].restorer, (unsigned long long)acts[sig].mask);
	o = 0;
	for (int r = 0; r < RLIM_NLIMITS; r++)
		o += (size_t)snprintf(lim_s + o, RLIM_NLIMITS * 50 + 8 - o, "%s[\"0x%llx\",\"0x%llx\"]",
				      r ? "," : "", (unsigned long long)lim[r].rlim_cur,
				      (unsigned long long)lim[r].rlim_max);
	proto_emit_bin(bin.p, bin.len);
	proto_emit("{\"ev\":\"state\",\"tid\":%d,\"bin\":%zu,\"xlen\":%zu,\"sigmask\":\"0x%llx\","
		   "\"rseq\":[\"0x%llx\",%u,\"0x%x\",%u],\"brk\":\"0x%lx\",\"pdeathsig\":%d,"
		   "\"tidaddr\":\"0x%llx\",\"dumpable\":%ld,\"sigactions\":[%s],\"rlimits\":[%s],\"threads\":%s,"
		   "\"itimers\":[[%ld,%ld,%ld,%ld],[%ld,%ld,%ld,%ld],[%ld,%ld,%ld,%ld]],\"subreaper\":%d,%s,"
		   "\"timers\":%s%s,\"proc\":%s,\"smaps\":%d,\"cgapart\":%d%s%s}",
		   task->pid, bin.len, xlen, (unsigned long long)sigmask,
		   (unsigned long long)rseq.rseq_abi_pointer, rseq.rseq_abi_size, rseq.signature, rseq.flags,
		   (unsigned long)brk, pdeath, (unsigned long long)tidaddr, dumpable, acts_s, lim_s, ths.p,
		   it[0][0], it[0][1], it[0][2], it[0][3], it[1][0], it[1][1], it[1][2], it[1][3], it[2][0], it[2][1],
		   it[2][2], it[2][3], subreaper, sig, timers, attrs.p, lens.p, smaps_streamed, apart.cgroup, cgns,
		   fdflags.p ? fdflags.p : "");
	free(fdflags.p);
	free(lens.p);
	free(attrs.p);
	free(ths.p);
	free(sig);
	free(bin.p);
	free(acts_s);
	free(lim_s);
	return smaps_streamed ? smaps_stream() : 0;
}

