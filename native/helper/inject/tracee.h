/* One traced task and the syscall-injection engine.
 *
 * A gadget is a small RW region whose first page is `syscall; int3` (made r-x) and whose
 * remaining pages are scratch memory for syscall arguments. inject() points the stopped task's
 * rip at the gadget with the syscall number and arguments in registers, continues it, and
 * catches the int3 trap: one ptrace stop per call. orig_rax is set to -1 so the kernel's
 * syscall-restart logic never touches injected registers. */
#ifndef UCR_TRACEE_H
#define UCR_TRACEE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define GADGET_CODE_SIZE 4096UL
#define GADGET_SIZE (64UL * 1024)

struct tracee {
	pid_t pid;
	struct user_regs_struct regs;   /* the registers to put back at the end */
	uint64_t gadget;                /* address of `syscall; int3`, 0 if none */
	uint64_t scratch;               /* gadget + GADGET_CODE_SIZE */
	size_t scratch_len;
};

/* Waits for a ptrace stop of pid; returns the wait status or -1 (errno set; ESRCH if it died). */
int t_wait(pid_t pid, int *status);
int t_get_regs(pid_t pid, struct user_regs_struct *r);
int t_set_regs(pid_t pid, const struct user_regs_struct *r);
/* NT_X86_XSTATE: *len is the buffer size in, the kernel's size out. */
int t_get_xstate(pid_t pid, void *buf, size_t *len);
int t_set_xstate(pid_t pid, const void *buf, size_t len);

/* Memory of the task: process_vm_* with a /proc/PID/mem fallback for protected pages. */
int t_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Whole pages of a task, read without breaking their copy-on-write sharing: process_vm_readv
 * pins what it reads, and pinning a shared anonymous page makes the kernel copy it for the task
 * (FAULT_FLAG_UNSHARE); chunks holding pages mapped by another process too (pagemap: not
 * exclusively mapped) are read through /proc/PID/mem, which does not pin. */
int t_read_pages(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Several runs of whole pages (64 pages at most each) in one process_vm_readv: 0 when all were
 * read; 1 when not (a page shared with another process, a run that cannot be read in full):
 * the caller then reads them one by one with t_read_pages. */
struct iovec;
int t_read_pages_v(pid_t pid, const struct iovec *local, const struct iovec *remote, size_t n);
/* Forgets the pagemap entries t_read_pages read ahead (at the start of a task's page dump). */
void t_read_pages_reset(void);
int t_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len);

/* Injects one syscall through t->gadget; returns 0 and the raw result in *ret, or -1 if the
 * task could not be driven (it died, or stopped for another reason: errno set). */
int t_inject(struct tracee *t, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
	     uint64_t a5, uint64_t a6, long *ret);
/* t_inject in two halves, so that many threads run their calls at once: the call set up and
 * the thread resumed; then its end waited for (group-stop reports skipped as by t_inject). */
int t_inject_start(struct tracee *t, long nr, const uint64_t a[6]);
int t_inject_end(struct tracee *t, long *ret);
/* Like t_inject but through any `syscall` instruction at insn, driven by PTRACE_SYSCALL
 * (entry and exit stops); used to bootstrap a gadget and to unmap it last. */
int t_inject_via_syscall_stops(struct tracee *t, uint64_t insn, long nr, const uint64_t a[6],
			       long *ret);

/* The same in one stop: the `syscall` single-stepped (tracee.c: SIGTRAP must be unblocked and
 * not ignored in the task meanwhile). */
int t_inject_via_step(struct tracee *t, uint64_t insn, long nr, const uint64_t a[6], long *ret);
/* t_inject_via_step in two halves, so that several tasks run their call at once. */
int t_step_start(struct tracee *t, uint64_t insn, long nr, const uint64_t a[6]);
int t_step_end(struct tracee *t, uint64_t insn, long *ret);


/* Copies bytes into the scratch area at offset off; returns the task address or 0. */
uint64_t t_scratch_put(struct tracee *t, size_t off, const void *buf, size_t len);

/* A SIGTRAP's siginfo (128 bytes) queued again by thread t of process tgid, through the
 * `syscall` at insn with stops (no trap that would take it): rt_tgsigqueueinfo for that thread
 * when tid (the kernel takes a kill's or tgkill's siginfo only from the thread it is for), else
 * rt_sigqueueinfo for the process (from its main thread); every signal of t blocked first (the
 * traps unblocked SIGTRAP: its next call would stop with it). -1: it could not be driven;
 * else the call's result in *ret. */
int t_requeue_trap(struct tracee *t, uint64_t insn, pid_t tgid, pid_t tid, const void *si, long *ret);
#endif
