/* The restore plan the coordinator sends, one line per item. Every line and its fields are
 * listed in protocol/schema.mjs, which generates the decoders; the handlers are in plan.c,
 * plan_task.c, plan_files.c, plan_cow.c, plan_attrs.c and kinds/<kind>/plan_<kind>.c. What each
 * line means (order, values of the enumerations, special forms): docs/protocol.md, "The restore
 * plan". This header is the plan as the helper holds it once read. */
#ifndef UCR_PLAN_H
#define UCR_PLAN_H
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <sys/user.h>

#include "ucr_compat.h"
#include "image.h"

enum file_kind { FILE_PATH = 1, FILE_INHERIT = 2, FILE_PIPE = 3, FILE_EVENTFD, FILE_SIGNALFD, FILE_TIMERFD, FILE_REOPEN, FILE_EPOLL, FILE_INOTIFY, FILE_UNIX, FILE_PTMX, FILE_PTS, FILE_INET, FILE_PROC, FILE_PIDFD, FILE_DEADPIDFD, FILE_PTSHUP, FILE_DEVTTY, FILE_FANOTIFY, FILE_DEVNODE, FILE_RAWSOCK, FILE_SYMLINK };

/* opened by each task that holds it, in its finish step, once every task exists (restore_task.c):
 * a file of /proc/PID, a pidfd */
#define FILE_LATE(kind) ((kind) == FILE_PROC || (kind) == FILE_PIDFD)

#include "plan_sockets.h"

struct file_plan {
	int id;
	enum file_kind kind;
	char *path;
	char *target; /* FILE_SYMLINK: what the link points to */
	int flags;
	uint64_t pos;
	int srcfd;  /* FILE_INHERIT */
	int fown_type;            /* O_ASYNC owner: 0 none, 1 + F_OWNER_TID/PID/PGRP */
	pid_t fown_pid;           /* its pid in the image */
	int fown_sig;             /* F_SETSIG */
	pid_t proc_pid, proc_tid; /* FILE_PROC, FILE_PIDFD: the task (its pid in the image) and thread, 0: none;
				     path: the rest of the path below /proc/PID[/task/TID] */
	int pipe;   /* FILE_PIPE: pipe id */
	int end;    /* FILE_PIPE: 0 read, 1 write, 2 both (a FIFO opened O_RDWR) */
	uint64_t arg[7]; /* eventfd: count, semaphore; signalfd: mask; timerfd: clock, ticks, times;
			    fanotify: init, event flags; devnode: rdev, mode, uid, gid */
	int tty;    /* FILE_PTMX, FILE_PTS: index into plan.ttys; FILE_DEVTTY: of its session's terminal,
		     * -1: the caller's */
	int obj;    /* FILE_REOPEN: index into plan.objs */
	struct inwatch { int wd; uint32_t mask; char *path; int ofile; } *watches; /* FILE_INOTIFY (ofile: a deleted file's unlinked file id, -1) */
	struct fanmark { int type, ofile; uint32_t mflags; uint64_t mask, ignored; char *path; } *marks; /* FILE_FANOTIFY */
	int nmarks;
	struct lock_plan { int ofd, write; uint64_t start, len; } *locks; /* flock and OFD locks */
	int nlocks;
	int nwatches;
	int hfd;    /* the helper's fd for it, inherited by every task */
	int task;   /* the task whose credentials open or create it (fscred.c) */
	struct unix_plan *ux; /* FILE_UNIX */
	struct inet_plan *in; /* FILE_INET */
	struct rawsock_plan *rs; /* FILE_RAWSOCK (kinds/rawsock/rawsock.h) */
};

/* A pseudo-terminal pair of the tree (restore_tty.c). */
struct tty_plan {
	int index, locked, pkt, excl, settings;
	uint32_t iflag, oflag, cflag, lflag, ispeed, ospeed;
	unsigned char line, cc[32];
	unsigned short rows, cols, xpix, ypix;
	int master_hfd, slave_hfd; /* the helper's: the master and one slave, every task inherits */
	int task;                  /* whose credentials open them (fscred.c) */
	int64_t uid, gid, mode;    /* of /dev/pts/N; -1: as created */
	unsigned char *qout, *qpartial; /* bytes queued (kinds/tty/tty_queue.c): output, input not */
	size_t qoutlen, qpartlen;       /* ended by a line, and the input lines (NULL: none) */
	char *qlines;
};

enum obj_kind { OBJ_ANON = 0, OBJ_MEMFD = 1, OBJ_UNLINKED = 2, OBJ_QUEUE = 3 /* a socket queue's bytes */, OBJ_DIR = 4, OBJ_TMPFS = 5 };

/* A content object: shared anonymous memory, a memfd or an open file whose path was unlinked,
 * mapped and/or held as fds; or a removed directory (no contents: a cwd, or held as fds). */
struct obj_plan {
	int id;
	enum obj_kind kind;
	uint64_t size;
	int seals;  /* applied once the contents are in */
	char *name; /* memfd name; unlinked file, removed directory or tmpfs file: its path */
	int mode;   /* memfd, unlinked file, removed directory, tmpfs file: permission bits (-1: none given) */
	uid_t uid;  /* their owner ((uid_t)-1: as created) */
	gid_t gid;
	uint64_t dev, ino; /* tmpfs file: its identity at checkpoint */
	int has_times;     /* memfd, unlinked file, removed directory: times set once the contents are in */
	struct timespec times[2]; /* atime, mtime */
	int hfd;    /* the helper's fd for it */
	int task;   /* whose credentials create it (fscred.c) */
	int rdfd;   /* reopened read-only for read-only mappings (restore_paths.c), -1 */
	int own_given; /* a memfd: its own read-write file (memfd_create's) went to a task's file */
};

struct pipe_plan {
	int id;
	int size;
	char *path; /* a FIFO: its path; NULL: an anonymous pipe */
	int ghost;  /* a FIFO removed since: its mode + 1 (made again, opened, removed again); 0: no */
	unsigned char *data;
	size_t len;
};

struct fd_plan { /* 8 bytes: 400,000 of them for 1,000 tasks x 400 fds, in every fork */
	int target;
	unsigned file : 31; /* index into plan.files */
	unsigned cloexec : 1;
};

struct epctl_plan {
	int epfd, tfd;
	uint32_t events;
	uint64_t data;
	int epfile, tfile; /* epghost: indexes into plan.files of the epoll and of the target; else -1 */
};

/* VmFlags a mapping gets back (src/kernel/memory.ts MADV): madvise state, mlock, mseal, MAP_NORESERVE
 * (in the mmap flags already) and a shared mapping's may-write (its file opened read-write) */
#define MADV_BIT_HUGEPAGE 1
#define MADV_BIT_NOHUGEPAGE 2
#define MADV_BIT_DONTFORK 4
#define MADV_BIT_WIPEONFORK 8
#define MADV_BIT_DONTDUMP 16
#define MADV_BIT_SEQUENTIAL 32
#define MADV_BIT_RANDOM 64
#define MADV_BIT_MERGEABLE 128
#define MADV_BIT_LOCKED 256
#define MADV_BIT_LOCKONFAULT 512
#define MADV_BIT_NORESERVE 1024
#define MADV_BIT_MAYWRITE 2048
#define MADV_BIT_SEALED 4096 /* mseal(), last */
#define MADV_BIT_DROPPABLE 8192 /* MAP_DROPPABLE: the mapping's type (mmap), implies WIPEONFORK, DONTDUMP, NORESERVE */

struct vma_plan {
	uint64_t start, end, pgoff;
	int prot, flags, fill;
	unsigned madv;
	char *path; /* NULL: anonymous */
	int obj;    /* index into plan.objs, -1: none */
	int fd;     /* the helper's fd of the file mapped, opened with the task's credentials
		     * (restore_paths.c); every task inherits it; -1: anonymous */
	int is_shm, shmid, shmflg; /* a System V segment (image id) attached with shmat */
	int is_aio; /* an AIO ring (1 + its index into the task's aios): io_setup in the task, moved
		     * there once every mapping exists */
	int ring;   /* a packet socket's rings: 1 + its index in plan.files (fd: its helper fd) */
	int moved;  /* its memory comes from the staging window (a move of its task): not mapped anew,
		     * not given a userfaultfd (its pages are shared copy-on-write) */
};

/* Copy-on-write sharing through fork (restore_cow.c): offsets are into the staging window. */
struct cow_area { /* mapped by the task before its children */
	uint64_t off, len;
	int flags;
	uint64_t vma; /* a private file mapping: the address of the task's mapping of that file; 0: anonymous */
	int vi;       /* that mapping: index into the task's vmas (its fd and offset), -1: anonymous */
};
struct cow_range { uint64_t a, b, len; };          /* move: window offset, destination, length;
						     * zap: start, -, length */

enum ipc_kind { IPC_KIND_SHM = 1, IPC_KIND_SEM, IPC_KIND_MSG };

/* A System V object the helper recreates before any task exists. */
struct ipc_plan {
	enum ipc_kind kind;
	int id;         /* in the image */
	int keep;       /* created at that id (else any) */
	int key;
	uint32_t mode, uid, gid, cuid, cgid;
	uint64_t size;  /* shm: bytes; msg: the queue's byte limit */
	int destroyed, locked; /* shm: marked for destruction (IPC_RMID) / SHM_LOCK */
	unsigned short *values; /* sem */
	int nsems;
	unsigned char *data;    /* msg: encoded messages */
	size_t len;
	int new_id;     /* once created (-1 before) */
	void *addr;     /* shm: the helper's own attachment (filled from SHM records) */
};

struct sigact_plan { /* a task's handlers: sorted by signal number */
	int sig;
	uint64_t handler, flags, restorer, mask;
};

struct rlimit_plan {
	int set;
	uint64_t cur, max;
};

/* signal state of one thread: alternate stack and its own pending signals (128-byte siginfos) */
struct sigstate {
	uint64_t robust_head, robust_len; /* set_robust_list; 0: none */
	uint64_t alt_sp, alt_size;
	int alt_flags;
	unsigned char *pending;
	size_t npending;
};

struct thread_plan {
	pid_t tid, pid; /* wanted tid; the created one (as the helper sees it) */
	struct sigstate sig;
	char comm[17];
	struct user_regs_struct regs;
	unsigned char *xstate; /* xstate_have bytes of it, the rest up to xstate_len zeros */
	size_t xstate_len, xstate_have;
	uint64_t sigmask, rseq_ptr, rseq_sig, tidaddr;
	uint32_t rseq_len;
};

/* Process and thread attributes (restore_attrs.c; their lines parsed by plan_attrs.c):
 *   sched <tid> <policy> <flags> <nice> <priority> <runtime> <deadline> <period> <util min>
 *         <util max> <personality>     (one per thread, the main one's tid is the image pid;
 *                                       util 0 1024: no clamp set)
 *   affinity <tid> <cpu,cpu,...>      (after that thread's sched line: its CPU affinity)
 *   attrs <oom_score_adj> <membarrier registrations> <mlockall flags> <loginuid> <hex root|->
 *         (root: the root directory, chroot) */
struct sched_plan {
	pid_t tid;
	uint32_t policy, priority, util_min, util_max;
	int nice;
	uint64_t flags, runtime, deadline, period;
	long personality;
	unsigned long *cpus; /* NULL: the affinity it inherits; else a mask of ncpus bytes */
	size_t ncpus;
};
struct attrs_plan {
	int have; /* an attrs line was given */
	int oom_adj, oom_fd; /* oom_fd: the task's fd of /proc/self/oom_score_adj between the steps */
	uint32_t membarrier, mlockall, loginuid;
	uint32_t thp; /* prctl(PR_SET_THP_DISABLE): 0, 1, 3 (| PR_THP_DISABLE_EXCEPT_ADVISED) */
	int stopsig;  /* a stopped task's stop signal: SIGTSTP, SIGTTIN, SIGTTOU; 0: SIGSTOP */
	char *root; /* NULL: the helper's */
	struct sched_plan *sched;
	int nsched;
};

enum task_kind { TASK_NORMAL = 0, TASK_ZOMBIE = 1, TASK_PLACEHOLDER = 2, TASK_INIT = 3 };

struct task_plan {
	pid_t old_pid, want_pid;
	pid_t pid;   /* once created: the pid as the helper sees it (ptrace, /proc) */
	pid_t nspid; /* the pid the task sees (differs from pid inside --pidns) */
	int newns;   /* created as pid 1 of a new pid namespace */
	int seized; /* its tracer acknowledged the seize (restore_tree.c) */
	enum task_kind kind;
	int exit_status, stopped;
	int creator; /* task index, -1 the helper */
	int sibling; /* created with CLONE_PARENT: its parent is its creator's parent */
	int share_files, share_fs; /* created with CLONE_FILES / CLONE_FS from its creator (`share`):
				    * a files sharer restores no fds, its group's first task does */
	int files_lead;            /* the first task of a shared fd table (restore_share.c) */
	int files_group;           /* a sharer: the index of that first task (-1: not known yet) */
	int cmdfd;   /* helper's write end of the task's command pipe */
	int cmdrd;   /* the task's read end */
	char *cwd, *exe;
	int cwd_obj; /* the cwd is a removed directory: index into plan.objs + 1; 0: a path */
	int cwdfd, exefd; /* the helper's fds of them, opened with the task's credentials
			   * (restore_paths.c): the task fchdir()s, PR_SET_MM_MAP takes exefd */
	int *keep, nkeep; /* its fds of mapped files and executable (sorted), kept until finish */
	int umask;
	char comm[17];
	int pdeathsig;
	uint64_t tidaddr;
	int have_creds, dumpable, have_caps, leader_exit;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t uid[4], gid[4];
	uint32_t groups[64];
	int ngroups;
	struct fd_plan *fds;
	int nfds;
	struct epctl_plan *epctls;
	int nepctls;
	struct plock_plan { int fd, write; uint64_t start, len; int flock; } *plocks; /* flock: a flock (tflock) */
	int nplocks;
	struct lease_plan { int fd, write; } *leases; /* F_SETLEASE, taken by the task */
	int nleases;
	int ctty;   /* index into plan.ttys of the controlling terminal it takes (act.ctty), -1 */
	struct vma_plan *vmas;
	int nvmas;
	struct aio_plan { /* its AIO rings' head, tail and events not yet reaped (restore_aio.c) */
		uint32_t head, tail, nevents;
		unsigned char *events; /* nevents * 32 bytes, from head on */
	} *aios;
	int naios;
	struct cow_area *areas;      /* its staging areas, mapped before it creates its children */
	int nareas;
	struct cow_range *moves;     /* window ranges that become its mappings at the map step */
	int nmoves;
	struct cow_range *zaps;      /* pages it lacks in moved mappings: MADV_DONTNEED */
	int nzaps;
	struct cow_range *guards;    /* guard regions: MADV_GUARD_INSTALL at the finish step (a, -, len) */
	int nguards;
	int staged_left;             /* its staged page runs not read yet */
	/* [vvar], [vvar_vclock], [vdso]: start and end, 0 0 where the task has none (restore_vdso.c) */
	uint64_t special[3][2];
	int have_vdso; /* its vdso line was read */
	struct ucr_prctl_mm_map mm;
	int have_mm;
	unsigned char *auxv; /* auxv_len bytes, at most 1024 */
	size_t auxv_len;
	uint64_t rseq_ptr, rseq_sig;
	uint32_t rseq_len;
	uint64_t sigmask;
	struct sigact_plan *act; /* its handlers, by signal number (nact of them; one copy for the
				  * tasks whose lists are the same: plan_intern) */
	int nact;
	struct rlimit_plan rlim[16];
	struct user_regs_struct regs;
	int have_regs;
	unsigned char *xstate; /* its first xstate_used bytes: the rest of xstate_len are zeros, put
				* back when it is set (finish): ~9 KB less per task in the helper and in
				* everything forked from it (tracers, tasks) */
	size_t xstate_len, xstate_used;
	struct thread_plan *threads; /* the task's other threads */
	int nthreads;
	struct sigstate sig;          /* the main thread's */
	unsigned char *shpending;     /* process-wide pending siginfos */
	size_t nshpending;
	long itimer[3][4];
	int subreaper, nonewprivs;
	long personality;
	struct attrs_plan attrs;
	struct seccomp_plan { pid_t tid; int mode, filter; } *sc; /* seccomp lines: per thread */
	int nsc, sc_way, sc_main; /* restore_seccomp.c: 1 threads born under main's filters; how many main has */
	struct ptimer_plan {
		int id, clock, notify, signo, tid;
		uint64_t sigval;
		long its[4];
		int overrun; /* timer_getoverrun at checkpoint (restore_state.c) */
	} *ptimers;
	int nptimers;
};

enum act_op { ACT_CLONE = 1, ACT_SETSID, ACT_SETPGID, ACT_EXIT, ACT_REAP, ACT_CTTY, ACT_TCPGRP };

struct act_plan {
	enum act_op op;
	int task, arg; /* arg: creator (clone), leader (setpgid), child (reap) */
	int sibling;   /* clonep: CLONE_PARENT, the task is born its creator's sibling */
};

struct plan {
	int pid_wait_ms, spool, foreground, pidns, workers, lz4, trusted;
	uint32_t seed;
	struct file_plan *files;
	int nfiles;
	struct pipe_plan *pipes;
	int npipes;
	struct tty_plan *ttys;
	struct tty_plan jobtty; /* ttymodes: the job's terminal modes (settings 0: none saved) */
	int nttys;
	struct obj_plan *objs;
	int nobjs;
	struct task_plan *tasks;
	int ntasks;
	struct act_plan *acts;
	int nacts;
	struct page_run *runs;
	size_t nruns;
	struct skip_range *skips;
	int nskips;
	int ipcns;
	struct ipc_plan *ipcs;
	int nipcs;
	struct scfilter_plan { int prev, cost; uint32_t flags; uint16_t len; void *insns; } *scf; /* scfilter lines */
	int nscf;
	uint64_t window, window_len; /* the staging window (restore_cow.c): placed, and its size */
	size_t nstaged;              /* srun lines (the first runs after the objruns) */
};

/* Whether [a, b) meets one of the task's [vvar][vvar_vclock][vdso] mappings. */
static inline int plan_special_clash(const struct task_plan *t, uint64_t a, uint64_t b)
{
	for (int i = 0; i < 3; i++)
		if (t->special[i][1] && a < t->special[i][1] && t->special[i][0] < b)
			return 1;
	return 0;
}
/* plan_task.c: from `from` on, in steps of step, the first len bytes below TASK_END clear of
 * task t's image (t NULL: of every task's), its mappings and [vvar][vvar_vclock][vdso], of the
 * gadget (its address, 0: none yet) and of the staging window (pl->window, 0: none yet);
 * 0: none. The gadget, the window and a task's vdso group go there (restore.c, restore_cow.c,
 * restore_vdso.c). */
uint64_t plan_range_free(const struct plan *pl, const struct task_plan *t, uint64_t from, uint64_t step, uint64_t len,
			 uint64_t gadget);
/* The handler the task has for sig, NULL: none saved (its default). */
const struct sigact_plan *plan_sigact(const struct task_plan *t, int sig);
/* One read-only copy of len bytes for the whole plan: the parts the tasks of a tree share byte
 * for byte (a forked child's fd table, handlers, XSAVE area and auxv are its parent's) are held
 * once, in the helper and in everything forked from it. NULL: out of memory. */
const void *plan_intern(const void *data, size_t len);
/* Index of shared memory object id in p->objs, or -1. */
int plan_find_obj(const struct plan *p, int id);
/* Reads plan lines until `end` and checks that every task is complete; reports a protocol
 * error and returns -1 on bad input. (`check` on the dump channel: on_dump_check, plan.c.) */
int plan_read(struct plan *p);
#endif
