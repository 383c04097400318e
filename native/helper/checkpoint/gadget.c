/* The gadget a frozen task runs injected calls through during a checkpoint command: mapped
 * through a `syscall` instruction of its vdso (of its other code when it has none), unmapped
 * again before the command ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch.h"
#include "batch.h"
#include "fault.h"
#include "helper.h"
#include "proto.h"
#include "tracee.h"

#include "dump.h"

/* The first `syscall` (0f 05) in [start, end) of the task's memory, read 64 KiB at a time (0:
 * none, or unreadable). */
static uint64_t find_syscall_in(pid_t pid, uint64_t start, uint64_t end)
{
	static unsigned char buf[65536];
	unsigned char prev = 0;
	for (uint64_t at = start; at < end;) {
		size_t n = end - at < sizeof buf ? (size_t)(end - at) : sizeof buf;
		if (t_read_mem(pid, at, buf, n) < 0)
			return 0;
		if (at > start && prev == 0x0f && buf[0] == 0x05)
			return at - 1;
		unsigned char *p = n > 1 ? memmem(buf, n, "\x0f\x05", 2) : NULL;
		if (p)
			return at + (uint64_t)(p - buf);
		prev = buf[n - 1];
		at += n;
	}
	return 0;
}

/* With no [vdso] (unmapped by the task, or a kernel booted with vdso=0): the first `syscall` in
 * its readable executable mappings, in address order: those of files first (its own code, its
 * libc's), then anonymous ones (a read of anonymous memory a userfaultfd watches would wait for
 * the frozen task). Read only then: one or two more reads of the maps. */
static uint64_t find_text_syscall(pid_t pid)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	uint64_t insn = 0;
	unsigned long long s, e, ino;
	char perms[8];
	for (int anon = 0; anon < 2 && !insn; anon++, rewind(f))
		while (!insn && fgets(line, sizeof line, f))
			if (sscanf(line, "%llx-%llx %7s %*s %*s %llu", &s, &e, perms, &ino) == 4 && perms[0] == 'r' &&
			    perms[2] == 'x' && e <= TASK_END && (ino == 0) == anon)
				insn = find_syscall_in(pid, s, e);
	fclose(f);
	return insn;
}

/* Finds a `syscall` instruction (0f 05) to bootstrap injection: in the task's [vdso], else in
 * its other code; *aio: the AIO rings its maps show (aio_state asks each of them, without a
 * second read of the maps). */
static uint64_t find_any_syscall(pid_t pid, struct aio_rings *aio)
{
	uint64_t start, end, insn = 0;
	if (find_special_vma(pid, "[vdso]", &start, &end, aio) == 0)
		insn = find_syscall_in(pid, start, end);
	return insn ? insn : find_text_syscall(pid);
}

/* A call through the `syscall` at insn, outside the gadget's int3: single-stepped (one stop)
 * when the task's SIGTRAP action is known not to be SIG_IGN (the step's trap, forced while
 * SIGTRAP is unblocked, leaves a handler or SIG_DFL as it is but resets SIG_IGN), else through
 * the call's entry and exit stops (two). Every other signal stays blocked; the mask is all
 * again afterwards (the batch's and t_inject's int3 expect it). */
static int call_outside(struct tracee *task, int trap_ign, uint64_t insn, long nr, const uint64_t a[6], long *ret)
{
	if (trap_ign)
		return t_inject_via_syscall_stops(task, insn, nr, a, ret);
	uint64_t all = ~0ULL, but_trap = ~(1ULL << (SIGTRAP - 1));
	if (ptrace(PTRACE_SETSIGMASK, task->pid, (void *)8, &but_trap) < 0)
		return -1;
	int r = t_inject_via_step(task, insn, nr, a, ret), e = errno;
	if (ptrace(PTRACE_SETSIGMASK, task->pid, (void *)8, &all) < 0 && r == 0)
		return -1;
	errno = e;
	return r;
}

/* Why mapping a gadget failed (reported for the command's task only). */
struct why {
	const char *obj, *msg;
	int err;
};

static int failed(struct why *w, const char *obj, int err, const char *msg)
{
	*w = (struct why){ obj, msg, err };
	return -1;
}

static const uint64_t mmap_args[6] = { 0, GADGET_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
				       (uint64_t)-1, 0 };

/* The first half of mapping a gadget through a `syscall` of the task (insn): signals
 * blocked, the single-stepped mmap started (when SIGTRAP is not ignored: else map_end runs it
 * through syscall stops). 1: started, 0: not (SIGTRAP ignored), -1: failed. */
static int map_start(struct tracee *task, int trap_ign, uint64_t *insn, struct aio_rings *aio, struct why *w)
{
	if (!(*insn = find_any_syscall(task->pid, aio)))
		return failed(w, "code", ENOENT, "no syscall instruction (0f 05) in its [vdso] nor in any readable executable mapping");
	uint64_t all = ~0ULL, but_trap = ~(1ULL << (SIGTRAP - 1));
	if (ptrace(PTRACE_SETSIGMASK, task->pid, (void *)8, &all) < 0)
		return failed(w, "sigmask", errno, "cannot block signals");
	if (trap_ign)
		return 0;
	if (ptrace(PTRACE_SETSIGMASK, task->pid, (void *)8, &but_trap) < 0 ||
	    t_step_start(task, *insn, SYS_mmap, mmap_args) < 0)
		return failed(w, "gadget", errno, "cannot inject mmap");
	return 1;
}

/* The second half: the mmap's result (run here when not started), the gadget's code written. */
static int map_end(struct tracee *task, int trap_ign, uint64_t insn, int started, struct why *w)
{
	long ret;
	if (started) {
		uint64_t all = ~0ULL;
		if (t_step_end(task, insn, &ret) < 0 || ptrace(PTRACE_SETSIGMASK, task->pid, (void *)8, &all) < 0)
			return failed(w, "gadget", errno, "cannot inject mmap");
	} else if (t_inject_via_syscall_stops(task, insn, SYS_mmap, mmap_args, &ret) < 0) {
		return failed(w, "gadget", errno, "cannot inject mmap");
	}
	/* mlockall(MCL_FUTURE) locks the gadget too: a task that locked more than its
	 * RLIMIT_MEMLOCK while privileged (then dropped privilege) may map nothing more. The
	 * limit is lifted for this one mmap and put back at once. */
	struct rlimit64 lim, none = { RLIM64_INFINITY, RLIM64_INFINITY };
	if (ret == -EAGAIN && prlimit64(task->pid, RLIMIT_MEMLOCK, NULL, &lim) == 0 &&
	    prlimit64(task->pid, RLIMIT_MEMLOCK, &none, NULL) == 0) {
		int r = call_outside(task, trap_ign, insn, SYS_mmap, mmap_args, &ret), e = errno;
		if (prlimit64(task->pid, RLIMIT_MEMLOCK, &lim, NULL) < 0)
			return failed(w, "gadget", errno, "cannot put RLIMIT_MEMLOCK back");
		if (r < 0)
			return failed(w, "gadget", e, "cannot inject mmap");
	}
	if (SYSCALL_FAILED(ret))
		return failed(w, "gadget", (int)-ret, "mmap in the task failed");
	task->gadget = (uint64_t)ret;
	task->scratch = task->gadget + GADGET_CODE_SIZE;
	task->scratch_len = GADGET_SIZE - GADGET_CODE_SIZE;
	static const unsigned char code[] = { 0x0f, 0x05, 0xcc };
	size_t blen;
	const unsigned char *bcode = batch_code(&blen);
	if (t_write_mem(task->pid, task->gadget, code, sizeof code) < 0 ||
	    t_write_mem(task->pid, task->gadget + BATCH_CODE_OFF, bcode, blen) < 0)
		return failed(w, "gadget", errno, "cannot write the gadget");
	return 0;
}

/* The next frozen task after d (freeze order: the order the coordinator asks for states). */
static struct dtask *after(struct dtask *d)
{
	return task_at(task_index(d) + 1);
}

/* Whether x's gadget may be mapped ahead while cur's `state` runs: x frozen and saved, and
 * sharing its memory (CLONE_VM without CLONE_THREAD) with none of the tasks whose `state` comes
 * before its own (from cur on): their smaps, read at the end of their `state`, would show it,
 * and their VmLck would count it. */
static int ahead_ok(struct dtask *cur, struct dtask *x)
{
	if (!x->nth || !x->th[x->main].stopped || !x->th[x->main].saved)
		return 0;
	for (struct dtask *y = cur; y && y != x; y = after(y))
		if (syscall(SYS_kcmp, x->t.pid, y->t.pid, 1 /* KCMP_VM */, 0, 0) <= 0)
			return 0; /* the same memory, or cannot tell */
	return 1;
}

/* The gadget of the command's task (task: a copy of cur's tracee), VmLck before it was mapped
 * (cur->vmlck) and the AIO rings its maps show (cur->aio). Mapped here unless it was
 * mapped ahead: each task's gadget is mapped with those of the next PREMAP - 1 frozen tasks,
 * whose mmaps run at once (their stops overlap: one wait for all instead of one each). A
 * gadget mapped ahead stays, unused, until that task's `state` takes it, or release unmaps it
 * (gadget_drop); a task whose gadget could not be mapped ahead maps it at its own `state`,
 * which reports the failure. */
#define PREMAP 8
int gadget_take(struct tracee *task, struct dtask *cur)
{
	if (!cur->pregadget) {
		struct dtask *d[PREMAP];
		struct tracee t[PREMAP];
		uint64_t insn[PREMAP];
		int ign[PREMAP], started[PREMAP], n = 0;
		struct why w = { 0 }, wi;
		for (struct dtask *x = cur; x && n < PREMAP; x = after(x)) {
			if (x != cur && (x->pregadget || x->premap_failed || !ahead_ok(cur, x)))
				continue;
			d[n] = x;
			t[n] = x->t;
			int trap;
			x->vmlck = attrs_vmlck(x->t.pid, &trap, &x->fdsize); /* before the gadget: mlockall(MCL_FUTURE) locks it */
			x->trap_pnd = (unsigned char)trap_pending_in(x, trap);
			if (x->trap_pnd && x != cur)
				continue; /* mapped at its own `state` */
			ign[n] = x->trap_pnd || trap & TRAP_IGN; /* no trap before its SIGTRAPs are out */
			x->trap_ign = (unsigned char)ign[n];
			started[n] = map_start(&t[n], ign[n], &insn[n], &x->aio, n ? &wi : &w);
			if (started[n] < 0 && n == 0)
				break; /* reported below */
			n++;
		}
		for (int i = 0; i < n; i++) {
			if (started[i] < 0 || map_end(&t[i], ign[i], insn[i], started[i], i ? &wi : &w) < 0) {
				if (i == 0) {
					task->gadget = t[0].gadget; /* the failure path unmaps it */
					task->scratch = t[0].scratch, task->scratch_len = t[0].scratch_len;
				} else {
					gadget_unmap(&t[i], ign[i]);
					d[i]->premap_failed = 1;
				}
				continue;
			}
			d[i]->pregadget = t[i].gadget;
		}
		if (!n || !cur->pregadget)
			return proto_fail("inject", w.obj ? w.obj : "gadget", w.obj ? w.err : EPROTO, "%s", w.msg ? w.msg : "cannot inject mmap");
	}
	task->gadget = cur->pregadget;
	task->scratch = task->gadget + GADGET_CODE_SIZE;
	task->scratch_len = GADGET_SIZE - GADGET_CODE_SIZE;
	cur->pregadget = 0; /* the command's now: its failure path unmaps it */
	if (cur->trap_pnd && trap_pending_take(task, cur) < 0)
		return -1;
	if (fault_at("inject", task->pid))
		return proto_fail("inject", "gadget", ECANCELED, FAULT_MSG);
	return 0;
}

/* A gadget mapped ahead and never taken (release, before the registers go back). */
void gadget_drop(struct dtask *d)
{
	if (!d->pregadget)
		return;
	struct tracee t = d->t;
	t.gadget = d->pregadget;
	t.scratch = t.gadget + GADGET_CODE_SIZE;
	t.scratch_len = GADGET_SIZE - GADGET_CODE_SIZE;
	d->pregadget = 0;
	gadget_unmap(&t, d->trap_ign);
}

/* The task's SIGTRAP action as its state read it (before the first int3 of an injected call):
 * each int3 traps with every signal blocked, and a trap signal the task blocks is forced, its
 * handler reset to SIG_DFL (the kernel's force_sig). Put back before the gadget goes. */
static struct {
	pid_t pid;
	uint64_t act[4]; /* handler, flags, restorer, mask (the kernel's struct sigaction) */
} trap;

void gadget_keep_trap(struct tracee *task, const uint64_t act[4])
{
	trap.pid = -task->pid; /* read, and SIG_DFL */
	if (act[0] == 0 && act[1] == 0 && act[3] == 0)
		return; /* SIG_DFL, no flags or mask: what the traps leave anyway */
	trap.pid = task->pid;
	memcpy(trap.act, act, sizeof trap.act);
}

/* The SIGTRAP action put back (if the traps reset it), the pending SIGTRAPs queued again, then
 * the gadget unmapped: all outside the int3, single-stepped unless the action is SIG_IGN or
 * SIGTRAPs were pending (call_outside). trap_ign: as for
 * gadget_map, when no action was read (a failure before the batch). */
void gadget_unmap(struct tracee *task, int trap_ign)
{
	if (!task->gadget)
		return;
	long ret;
	if (trap.pid == task->pid) /* the action read: SIG_IGN or not */
		trap_ign = trap.act[0] == (uint64_t)(uintptr_t)SIG_IGN;
	else if (trap.pid == -task->pid) /* SIG_DFL, no flags or mask: what the traps leave */
		trap_ign = 0;
	if (trap_pending_held(task->pid)) /* no step: its trap would take them again */
		trap_ign = 1;
	if (trap.pid == task->pid && t_write_mem(task->pid, task->scratch, trap.act, sizeof trap.act) == 0) {
		/* outside the int3: no trap to reset it again */
		const uint64_t s[6] = { SIGTRAP, task->scratch, 0, 8, 0, 0 };
		call_outside(task, trap_ign, task->gadget, SYS_rt_sigaction, s, &ret);
	}
	trap.pid = 0;
	trap_pending_put_back(task); /* the SIGTRAPs taken out before the first trap */
	const uint64_t a[6] = { task->gadget, GADGET_SIZE, 0, 0, 0, 0 };
	call_outside(task, trap_ign, task->gadget, SYS_munmap, a, &ret);
	task->gadget = 0;
}

int inject_ok(struct tracee *task, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, long *ret,
	      const char *what)
{
	if (t_inject(task, nr, a1, a2, a3, a4, 0, 0, ret) < 0)
		return proto_fail("inject", what, errno, "cannot run %s in the task", what);
	return 0;
}
