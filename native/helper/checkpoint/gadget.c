/* The gadget a frozen task runs injected calls through during a checkpoint command: mapped
 * through a `syscall` instruction of its vdso, unmapped again before the command ends. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
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

/* Finds a `syscall` instruction (0f 05) in the task's [vdso] to bootstrap injection. */
static uint64_t find_vdso_syscall(pid_t pid)
{
	uint64_t start, end;
	if (find_special_vma(pid, "[vdso]", &start, &end) < 0 || end - start > 65536)
		return 0;
	unsigned char buf[65536];
	if (t_read_mem(pid, start, buf, end - start) < 0)
		return 0;
	for (uint64_t i = 0; i + 1 < end - start; i++)
		if (buf[i] == 0x0f && buf[i + 1] == 0x05)
			return start + i;
	return 0;
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

/* Maps a gadget in the task through its vdso `syscall`; signals stay blocked meanwhile.
 * trap_ign: the task's SIGTRAP action may be SIG_IGN (SigIgn of its status; 1 when unknown). */
int gadget_map(struct tracee *task, int trap_ign)
{
	uint64_t insn = find_vdso_syscall(task->pid);
	if (!insn)
		return proto_fail("inject", "vdso", ENOENT, "no syscall instruction found in [vdso]");
	uint64_t all = ~0ULL;
	if (ptrace(PTRACE_SETSIGMASK, task->pid, (void *)8, &all) < 0)
		return proto_fail("inject", "sigmask", errno, "cannot block signals");
	const uint64_t a[6] = { 0, GADGET_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
				MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };
	long ret;
	if (call_outside(task, trap_ign, insn, SYS_mmap, a, &ret) < 0)
		return proto_fail("inject", "gadget", errno, "cannot inject mmap");
	/* mlockall(MCL_FUTURE) locks the gadget too: a task that locked more than its
	 * RLIMIT_MEMLOCK while privileged (then dropped privilege) may map nothing more. The
	 * limit is lifted for this one mmap and put back at once. */
	struct rlimit64 lim, none = { RLIM64_INFINITY, RLIM64_INFINITY };
	if (ret == -EAGAIN && prlimit64(task->pid, RLIMIT_MEMLOCK, NULL, &lim) == 0 &&
	    prlimit64(task->pid, RLIMIT_MEMLOCK, &none, NULL) == 0) {
		int r = call_outside(task, trap_ign, insn, SYS_mmap, a, &ret), e = errno;
		if (prlimit64(task->pid, RLIMIT_MEMLOCK, &lim, NULL) < 0)
			return proto_fail("inject", "gadget", errno, "cannot put RLIMIT_MEMLOCK back");
		if (r < 0)
			return proto_fail("inject", "gadget", e, "cannot inject mmap");
	}
	if (SYSCALL_FAILED(ret))
		return proto_fail("inject", "gadget", (int)-ret, "mmap in the task failed");
	task->gadget = (uint64_t)ret;
	task->scratch = task->gadget + GADGET_CODE_SIZE;
	task->scratch_len = GADGET_SIZE - GADGET_CODE_SIZE;
	static const unsigned char code[] = { 0x0f, 0x05, 0xcc };
	size_t blen;
	const unsigned char *bcode = batch_code(&blen);
	if (t_write_mem(task->pid, task->gadget, code, sizeof code) < 0 ||
	    t_write_mem(task->pid, task->gadget + BATCH_CODE_OFF, bcode, blen) < 0)
		return proto_fail("inject", "gadget", errno, "cannot write the gadget");
	if (fault_at("inject", task->pid))
		return proto_fail("inject", "gadget", ECANCELED, FAULT_MSG);
	return 0;
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

/* The SIGTRAP action put back (if the traps reset it), then the gadget unmapped: both outside
 * the int3, single-stepped unless the action is SIG_IGN (call_outside). trap_ign: as for
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
	if (trap.pid == task->pid && t_write_mem(task->pid, task->scratch, trap.act, sizeof trap.act) == 0) {
		/* outside the int3: no trap to reset it again */
		const uint64_t s[6] = { SIGTRAP, task->scratch, 0, 8, 0, 0 };
		call_outside(task, trap_ign, task->gadget, SYS_rt_sigaction, s, &ret);
	}
	trap.pid = 0;
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
