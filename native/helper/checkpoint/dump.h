/* Internal to the checkpoint side of the helper (dump.c, freeze.c, gadget.c, dump_state.c). */
#ifndef UCR_DUMP_H
#define UCR_DUMP_H
#include <signal.h>
#include <stdint.h>
#include <sys/user.h>

#include "helper.h"
#include "image.h"
#include "tracee.h"

struct sbuf;

/* One seized thread and what release must put back: exactly what was read from it, never
 * more (a thread seized but not yet stopped, or stopped but not yet read, is only let go). */
struct dthread {
	pid_t tid;
	unsigned char stopped; /* its ptrace stop was seen: it may be driven and detached */
	unsigned char saved;   /* regs and mask were read at the stop: release writes them back */
	unsigned char gone;    /* exited while it was being seized (dropped from the task) */
	unsigned char seccomp; /* its seccomp mode (1 strict, 2 filter): suspended while frozen */
	unsigned char stopsig; /* the group stop's signal its first stop reported (SIGTRAP: none) */
	/* trap_pending.c: its own signal queue as peeked before the task's first trap, when it held
	 * no SIGTRAP (peeked 1): nkept siginfos of 128 bytes in kept (malloc'd), which the state
	 * sends instead of peeking again (dump_signal_state takes them) */
	unsigned char peeked;
	unsigned char *kept;
	size_t nkept;
	uint64_t mask;
	struct user_regs_struct regs;
	/* its Cpus_allowed_list as the freeze's read of its status found it (dump_seccomp.c), for
	 * the state's scheduling (dump_attrs.c); "" when not read or longer than this */
	char cpus[64];
};

/* The Cpus_allowed_list value of a /proc status text (dump_seccomp.c). */
void status_cpus(const char *text, char *out, size_t cap);

/* One frozen task: every live thread seized, stopped and saved (freeze.c). */
struct dtask {
	pid_t tgid;      /* the process */
	struct tracee t; /* t.pid: its main thread, or another one if the main thread has exited;
			  * t.regs: that thread's saved registers (the base of injected calls) */
	struct dthread *th; /* every thread, t.pid's included */
	int nth, cap;
	int main; /* index of t.pid in th */
	/* gadget.c: a gadget mapped ahead of the task's `state` (0: none), VmLck before it (kB),
	 * whether SIGTRAP may be ignored (its status), whether one is pending (trap_pending.c: then
	 * never mapped ahead), a failed try (mapped at its `state`), and the AIO rings its maps
	 * showed (read for the gadget; dump_aio.c) */
	uint64_t pregadget;
	long vmlck;
	long fdsize; /* FDSize, read with VmLck (0: not read) */
	unsigned char trap_ign, trap_pnd, premap_failed;
	struct aio_rings aio;
	/* dump.c: the page runs its `runs` commands found since its `state`, in order (`scanpages`):
	 * address, page count (kept small: the page writer is forked with this memory) */
	uint64_t (*scan)[2];
	size_t nscan, scan_cap;
};

/* freeze.c: `freeze <pid>` seizes, stops and saves every thread of the process (re-listing
 * its threads until no new one appears); release puts back what was saved and detaches (or
 * kills), on success and on every failure alike. */
struct dtask *find_task(pid_t pid);
/* the frozen tasks in freeze order: index of d, the task at index i (NULL past the last) */
int task_index(const struct dtask *d);
struct dtask *task_at(int i);
int freeze(pid_t pid);
void release(int kill_it);

/* gadget.c: the gadget of the command's task (a copy of the frozen task's tracee), and one
 * injected call through it */
int gadget_take(struct tracee *task, struct dtask *cur);
void gadget_drop(struct dtask *d);
void gadget_unmap(struct tracee *task, int trap_ign);
/* The SIGTRAP action gadget_unmap puts back (gadget.c): act as rt_sigaction gives it */
void gadget_keep_trap(struct tracee *task, const uint64_t act[4]);
/* trap_pending.c: whether a SIGTRAP is pending for x (for the process or its thread x->t.pid:
 * trap, from its status; for another thread alone: its queue peeked, and kept when it holds
 * none: struct dthread); the task's pending
 * SIGTRAPs taken out before its first trap (its gadget mapped through syscall stops), their
 * siginfos for the state (by thread; shared: the process's), and queued again before the
 * gadget goes (gadget_unmap) */
int trap_pending_in(struct dtask *x, int trap);
/* PTRACE_PEEKSIGINFO: up to nr siginfos (128 bytes each) of thread tid's own queue (shared: its
 * process's) from off on, into out, without dequeuing them; their count, or -1 (errno) */
long peek_siginfo(pid_t tid, int shared, uint64_t off, int nr, unsigned char *out);
int trap_pending_take(struct tracee *task, struct dtask *d);
size_t trap_pending_of(pid_t tid, int shared, unsigned char *out);
int trap_pending_held(pid_t pid);
void trap_pending_put_back(struct tracee *task);
int inject_ok(struct tracee *task, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, long *ret,
	      const char *what);
/* dump_fdflags.c: the close-on-exec bit of every open fd of the task, as the state's JSON
 * member ,"fdflags":[first fd, count, bit, ...] (runs, ascending) into out, for a task whose fd
 * table has more than fdmin slots (slots: its FDSize, read with VmLck before the gadget; at
 * least its fd count, which is what the coordinator's scan goes by): every slot asked with
 * F_GETFD (BATCH_MAYFAIL), or the fds of /proc/PROC/fd for a table of more than 2,048 slots
 * (probing spares a first listing's ~4 us per fd: a dentry and an inode each). Nothing (no
 * member) for a smaller table (a stop costs ~0.1 ms, a few fdinfo reads on the coordinator's
 * worker thread), when the injected thread's fd table is not PROC's (kcmp) or a call failed:
 * the coordinator reads the fdinfo then. */
void fd_flags(struct tracee *task, long slots, pid_t proc, size_t fdmin, struct sbuf *out);
/* `state <pid> <proc> <fdmin>`: everything about the selected task (task: its tracee for this
 * command, d: the frozen task) that ptrace or the task itself must tell, with the close-on-exec
 * bits of its fds when its fd table has more than fdmin slots (0: never) (dump_state.c) */
int cmd_state(struct tracee *task, struct dtask *d, pid_t proc, size_t fdmin);
/* dump_procfs.c: the task's /proc files (as read by thread proc) appended to bin, their lengths
 * (-errno: not read) as a JSON array in lens, and where its cgroup file and cgroup namespace
 * link are in bin into rd; -1 out of memory */
struct procfs_span {
	size_t at;
	long len; /* -errno: not read */
};
struct procfs_read {
	struct procfs_span cgroup, ns;
};
int dump_procfs(pid_t proc, struct sbuf *bin, struct sbuf *lens, int *smaps_streamed, struct procfs_read *rd);
/* after dump_procfs, for a task with other threads: whether one of them is in other cgroups
 * than the process (moved alone: cgroup v1 `tasks`, v2 threaded mode), and the first one in
 * another cgroup namespace (a thread may unshare its own), with its link; one read of
 * /proc/PROC/task/TID/cgroup per other thread until one differs, one readlink of its
 * ns/cgroup until one differs (docs/cgroups.md) */
struct threads_apart {
	int cgroup;   /* 1: a thread's cgroups differ (the coordinator then reads every thread's) */
	pid_t ns_tid; /* 0: none */
	size_t ns_len;
	char ns[64]; /* a kernel's is "cgroup:[INODE]"; a longer one is cut (it differs all the same) */
};
void procfs_threads_apart(pid_t proc, const struct dtask *cur, const struct sbuf *bin, const struct procfs_read *rd,
			  struct threads_apart *apart);
/* dump_smaps.c: /proc/PROC/smaps condensed (path: its path): appended to bin (its length, or
 * -errno), or when it is long, *streamed set, 0 returned and its lines kept for smaps_stream,
 * which sends them, and the rest as it is read, in `smaps` events after the state (-1 reported) */
long smaps_read(const char *path, pid_t proc, struct sbuf *bin, int *streamed);
int smaps_stream(void);
/* dump_procfs.c: the ids of the POSIX timers /proc/PROC/timers lists (at most max; their count,
 * -1 reported); the text read is the copy dump_procfs then sends (one read per task) */
#define MAX_TIMERS 512
int procfs_timer_ids(pid_t proc, uint64_t *ids, int max);
/* dump_threads.c: every other thread's JSON object appended to out, its registers and
 * xstate to bin (-1: reported) */
struct sbuf;
int dump_threads_state(struct tracee *task, struct dtask *cur, struct sbuf *out, struct sbuf *bin);
/* dump_state.c: a thread's signal state as JSON members (read: its alternate stack, NULL:
 * injected; own: the thread's own queue as the probe kept it, taken: NULL or not kept, peeked)
 * and the failure to read an alternate stack */
int dump_signal_state(struct tracee *th, const stack_t *read, struct dthread *own, int shared, char **json);
int dump_altstack_failed(pid_t tid);
/* dump_attrs.c: VmLck (kB) of a process; the "attrs" of the state event (task: the command's
 * tracee, its gadget mapped; d: the frozen task) */
struct sbuf;
enum { TRAP_IGN = 1, TRAP_PENDING = 2 };
long attrs_vmlck(pid_t pid, int *trap, long *fdsize);
/* pre_membarrier, pre_thp: the results of those getters when already run (cmd_state's batch),
 * else NULL: injected here */
int attrs_state(struct tracee *task, const struct dtask *d, long vmlck_before, const long *pre_membarrier,
		const long *pre_thp, struct sbuf *out);
#define MEMBARRIER_GET_REGISTRATIONS (1 << 9)
#define UCR_PR_GET_THP_DISABLE 42
/* dump_aio.c: `,"aio":[[ring address, 0 | errno of io_getevents]...]`, if it maps AIO rings */
int aio_state(struct tracee *task, const struct dtask *d, struct sbuf *out);

/* dump_seccomp.c: every stopped thread's seccomp mode, and for those not in mode 0
 * PTRACE_O_SUSPEND_SECCOMP, so the calls injected into them pass (refused: one line) */
int seccomp_suspend(struct dtask *d);

/* The handlers' contexts (protocol/schema.mjs channels dump and dumprun). */
struct kind_ops;
struct dump_in {
	const struct kind_ops *const *kinds; /* the kinds' checkpoint end (dump_end) */
	int done; /* release or kill: the helper's work is over */
};
struct runs_in {
	struct page_run *runs;
	size_t count, cap;
	uint32_t task; /* page runs: the task index; object runs: the object id */
	int obj;       /* object runs: byte offsets, whole pages */
	int end;
};
/* Reads `run` lines until `end` (after `pages` and `objdump`); -1 after reporting. */
int dump_read_runs(struct runs_in *in);
#endif
