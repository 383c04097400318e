#ifndef UCR_RESTORE_H
#define UCR_RESTORE_H
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "kind.h"
#include "plan.h"

/* Commands the helper sends down a task's command pipe, and the reports that come back on
 * the one report pipe all tasks share (each write is atomic: smaller than PIPE_BUF). */
enum task_op { OP_CLONE = 1, OP_SETSID, OP_SETPGID, OP_EXIT, OP_REAP, OP_RESTORE, OP_INIT, OP_CTTY, OP_TCPGRP, OP_STAGE };
struct task_cmd {
	int op, arg;
};
enum task_step { STEP_CLONE = 1, STEP_SETSID, STEP_SETPGID, STEP_REAP, STEP_OPEN, STEP_DUP, STEP_CWD, STEP_EPOLL, STEP_CTTY, STEP_TCPGRP, STEP_STAGE, STEP_DONE };
struct task_report {
	int task, step, err, pid;
};

/* What every task inherits from the helper. */
struct restore_ctx {
	struct plan *plan;
	int report_wr, report_rd;
	int base; /* every fd >= base belongs to the helper's set-up */
	volatile uint64_t *progress; /* shared: pages of the stream written so far (pages phase) */
	volatile int *uffd;          /* shared, per task: its userfaultfd's fd number in it, or -1 */
	const struct kind_ops *const *kinds; /* every object kind (core/kind.h) */
};

/* A new task's life before the tracer takes over; never returns. */
void task_loop(struct restore_ctx *c, int idx) __attribute__((noreturn));
/* clone3 with set_tid = want (0: any), retrying while a zombie holds it; 0 in the child.
 * flags: extra clone flags (CLONE_NEWPID for a namespace's init). */
pid_t clone_with_pid(pid_t want, int wait_ms, uint64_t flags);

/* fscred.c: filesystem actions done for a task with its credentials (task: index in the
 * plan; fs_assign first sets which task acts for each object). Like the system calls: -1 and
 * errno on failure; fds come back close-on-exec. fs_stop ends the agents. */
void fs_assign(void);
int fs_open(int task, const char *path, int flags, int mode);
int fs_opendir(int task, const char *path);  /* O_PATH | O_DIRECTORY, search permission checked */
int fs_checked(int task, const char *path, int access); /* O_PATH, access (R_OK/W_OK) checked */
int fs_mkdir(int task, const char *path, int mode);    /* made, and opened O_RDONLY | O_DIRECTORY */
int fs_unlink(int task, const char *path);
int fs_rmdir(int task, const char *path);
int fs_stale(int task, const char *path);    /* 1: a socket file nobody is bound to */
int fs_bind(int task, int fd, const void *addr, socklen_t len);
int fs_connect(int task, int fd, const void *addr, socklen_t len);
/* a relative name, in directory dir (the acting process's working directory is put back) */
int fs_bind_in(int task, int fd, const char *dir, const void *addr, socklen_t len);
int fs_connect_in(int task, int fd, const char *dir, const void *addr, socklen_t len);
int fs_chown(int task, const char *path, uid_t uid, gid_t gid);
int fs_chmod(int task, const char *path, mode_t mode);
int fs_fchmod(int task, int fd, mode_t mode);
int fs_watch(int task, int inotify_fd, const char *path, uint32_t mask);
int fs_access_fd(int task, int fd, int access);
/* mknod (a character device), open with flags, unlink again: the fd (a deleted device node) */
int fs_mknod_open(int task, const char *path, mode_t mode, unsigned long long rdev, uid_t uid, gid_t gid, int flags);
int fs_symlink_open(int task, const char *path, const char *target); /* a removed symlink made again, opened O_PATH, removed */
int fs_mkfifo_open(int task, const char *path, mode_t mode); /* a removed FIFO made again, opened O_RDWR, removed */ /* faccessat2(fd, "", access): the task's right on an open file */
/* a file deleted since, reached through plan file ofile (an unlinked file, reopened from its
 * content object): "/proc/self/fd/N" of the helper's fd of that object in buf, once the task
 * may read it; NULL after proto_fail */
const char *deleted_path(struct restore_ctx *c, int task, int ofile, char *buf, size_t len);
void fs_stop(void);
/* mode without its set-user-ID and set-group-ID bits unless the image is trusted */
mode_t fs_mode(mode_t mode);
/* " as uid N (process P)" for messages */
const char *fs_who(int task);
/* restore_paths.c: every task's working directory, mapped files and executable, opened with its
 * credentials (called by open_files) */
int open_task_paths(void);
int task_paths_need(void);
/* this process's copies of mapped files and content objects closed, once every mapping exists */
void restore_drop_copies(struct plan *p);
/* finish_early.c: the first calls of a task's finish step, in one stop when possible; 1 when
 * they included restore_sigstate's */
int finish_early(struct task_plan *p);
/* finish_early.c: the task's SIGTRAP action and pending SIGTRAPs, after its last int3 (through
 * syscall stops) */
int finish_trap(struct task_plan *p, uint64_t gadget);
int share_keeps(void);                       /* restore_share.c */
int share_close_keeps(struct task_plan *p);

/* restore_cgroup.c: tasks back into their cgroups (`cgroup` plan lines): directories made and
 * cgroup.procs checked with the task's credentials (before fs_stop), each task moved once it
 * exists, before it runs; the directories made removed on failure (waiting up to wait_ms for
 * killed tasks to leave them) */
int cgroups_prepare(void);
int cgroups_enter(void);
void cgroups_undo(int wait_ms);
/* in its tracer worker, once its threads exist: task p's threads moved alone (`cgthread`) */
int cgroups_threads(const struct task_plan *p);
/* restore_files.c: the objects every task inherits */
int open_files(void);
/* restore_tree.c: the planned actions, then every task's fds and first stop */
int run_actions(void);
/* an fd moved to the helper's high range (>= ctx.base), the original closed; -1 stays -1 */
int restore_high(int fd);
/* restore_tty.c: pty pairs (before the files), their file objects, lock/exclusive (after) */
int open_ttys(struct restore_ctx *c);
int open_tty_file(struct restore_ctx *c, struct file_plan *fp);
int finish_ttys(struct restore_ctx *c);
struct termios;
struct winsize;
/* job_tty.c: a saved terminal's settings as the kernel takes them (for a restored pty too);
 * the modes of the caller's terminal while the restored job has it in the foreground */
void tty_settings(const struct tty_plan *t, struct termios *tio, struct winsize *ws);
void jobtty_take(const struct plan *pl, int fd);
void jobtty_give_back(int fd);
int jobtty_wait(const struct plan *pl, pid_t root, int fd, pid_t caller_fg, int *st);
int stop_signal(const struct task_plan *t);
/* Content objects (restore_objs.c): every one created (called by open_files); whether object id
 * is in the plan; its contents written (page_sink.objfill); seals applied once the contents are
 * in. */
int open_objs(struct restore_ctx *c);
int obj_known(uint32_t id);
int obj_fill(uint32_t id, uint64_t off, const void *buf, size_t len);
int seal_objs(struct restore_ctx *c);

/* restore_ipc.c: System V objects, created before any task (and undone on failure); the id a
 * segment of the image has now; the helper's own attachments dropped once tasks hold theirs */
int ipc_create(struct restore_ctx *c);
int ipc_shm_id(int image_id);
void ipc_release(struct restore_ctx *c);
void ipc_undo(struct restore_ctx *c);
/* one SHM record (payload read and checksummed by the reader: crc; the frame
 * says want_crc) into the helper's attachment of its segment; adds its crc to *digest and its
 * bytes to *bytes. */
int ipc_shm_payload(const unsigned char *payload, uint64_t plen, uint32_t crc, uint32_t want_crc, uint32_t *digest,
		    int check_only, uint64_t *bytes);
/* made_files.c: paths the restart made, each with the device and inode it got (made_add, once
 * it exists): undone only while still the one made (made_still: its mode then, else 0; lstat
 * only, signal-safe). files_created/files_undo: the files made (socket files bound, unlinked
 * files created again), removed again if the restart fails. */
struct made_path {
	char *path;
	dev_t dev;
	ino_t ino;
};
struct made_list {
	struct made_path *v;
	int n;
};
void made_add(struct made_list *l, const char *path);
mode_t made_still(const struct made_path *m);
void files_created(const char *path);
void files_undo(void);
/* restore_unix.c: every unix socket of the plan, connected and refilled (called by open_files) */
int open_unix_sockets(struct restore_ctx *c);
int unix_finish(struct restore_ctx *c); /* queues (with the files in flight), state */
/* restore_inet.c: every TCP and UDP socket of the plan (called by open_files); at resume the
 * connections leave repair mode, get their unsent bytes and FIN, and the helper's copies close */
int open_inet_sockets(struct restore_ctx *c);
int inet_release(struct restore_ctx *c);

/* restore_task.c: the task (or thread) injected calls go to, and one injected call that must
 * succeed (failures are reported with phase and what) */
struct tracee;
extern struct tracee rt;
/* one system call to inject: its number and up to six arguments (those left out are 0) */
struct syscall_req {
	long nr;
	uint64_t a[6];
};
#define SYSCALL_REQ(nr, ...) ((struct syscall_req){ (nr), { __VA_ARGS__ } })
int rt_call(const char *phase, const char *what, struct syscall_req req, long *ret);
/* restore_vdso.c: where the task's [vvar][vvar_vclock][vdso] group is mapped first (0: it has
 * none); then, from where it is (at: start and end of each, vdso_scan), each part put where the
 * image has it. vdso_scan: the parts in the task's maps, and how many other mappings it has. */
uint64_t vdso_hint(const struct task_plan *p, uint64_t gadget);
int vdso_scan(pid_t pid, int *others, uint64_t at[3][2]);
int vdso_settle(const struct task_plan *p, uint64_t gadget, uint64_t hint, uint64_t at[3][2]);
/* restore_aio.c: an AIO ring made again at its address (io_setup, mremap), in the traced task,
 * with its head, tail and events not yet reaped */
struct vma_plan;
int restore_aio_ring(const struct task_plan *p, const struct vma_plan *m, const char *obj);
/* Opens path inside the task (with its credentials at that time); its fd there in *fd. */
int task_open(const char *phase, const char *path, int flags, long *fd);
/* Makes p the task injected calls go to (rt), through the gadget every task inherited. */
int use_task(struct task_plan *p, uint64_t gadget, const char *phase);
/* restore_creds.c */
int restore_bounding(struct task_plan *p);
int restore_creds(struct task_plan *p);
int restore_creds_threads(struct task_plan *p);
/* restore_state.c */
int restore_sigstate(const struct sigstate *s, pid_t tgid, pid_t tid, const unsigned char *shared, size_t nshared);
int restore_pending(const struct sigstate *s, pid_t tgid, pid_t tid, const unsigned char *shared, size_t nshared);
int restore_ptimers(struct task_plan *p);
int ptimers_early(const struct task_plan *p);
int restore_process_state(struct task_plan *p);
int restore_leases(struct task_plan *p);
int restore_threads(struct task_plan *p);
int finish_threads(struct task_plan *p);

/* restore_attrs.c: process and thread attributes. attrs_personality_needed: the main thread's
 * (before its threads exist, so they inherit it); attrs_thread_personality: a thread's own
 * when it differs, else -1; attrs_before_creds: mlockall, membarrier, loginuid and the fd of
 * oom_score_adj; attrs_after_creds: oom_score_adj and scheduling, as the task itself (the
 * helper's privilege only for a trusted image the task's own is not enough for).
 * attrs_personality_needed: the value to set, or -1 when the task has it already. */
long attrs_personality_needed(const struct task_plan *p);
long attrs_thread_personality(const struct task_plan *p, pid_t tid);
int attrs_before_creds(struct task_plan *p);
int attrs_after_creds(struct task_plan *p);
/* restore_seccomp.c: the task's seccomp filters and strict mode, under
 * PTRACE_O_SUSPEND_SECCOMP (the calls injected after them pass); a trusted image's before the
 * credentials change (the helper's CAP_SYS_ADMIN), any other's after them and no_new_privs
 * (the kernel's own check: no_new_privs or CAP_SYS_ADMIN of the task). */
int seccomp_finish(struct task_plan *p, int after_creds);
/* restore_threads: before thread i is created, the main thread's filters it is to share */
int seccomp_before_thread(struct task_plan *p, int i);

/* tracers.c: worker tracers (task i is traced by worker i % n) */
enum { W_SEIZE = 1, W_STOP, W_MAP, W_FINISH, W_DETACH, W_POPULATE, W_PID, W_EXIT };
int tracers_start(int n, uint64_t gadget);
/* fork() for the helper's own processes (tracers, credential agents), the interrupts ignored */
pid_t fork_deaf(void);
int tracer_send(int task, int op);
/* Every worker learns every task's pid (a worker knows only its own tasks' otherwise). */
int tracers_share_pids(void);
/* The owners of signal-driven I/O (O_ASYNC), once every task and thread exists. */
int set_fowns(void);
int tracer_wait_ack(int task, int op);
void tracers_stop(void);

/* The tracer's part for one task: address space and pages, then its last state. */
int restore_map(struct task_plan *t, uint64_t gadget);
int restore_finish(struct task_plan *t, uint64_t gadget);
/* During the pages phase: the task faults in its own pages from the last one back, until it
 * meets the helper's progress (task idx of the plan). */
int restore_populate(struct task_plan *t, int idx, uint64_t gadget);
/* the pages the image carries for task idx's private memory (its runs) */
uint64_t task_image_pages(int idx);
/* restore_cow.c: copy-on-write sharing through fork (see there). The staging
 * window placed (before any task; plan lines: plan_parse.h); a task's areas mapped by itself; its staged pages read after
 * it is created; whether a creator is ready for its children; the map step's unmap of the rest
 * (full batches run) and its moves and zaps. */
struct batch;
int cow_window(void);
int cow_map_areas(const struct plan *p, const struct task_plan *t);
void cow_populate(const struct plan *pl, volatile uint64_t *progress, int idx);
int cow_read_staged(int idx);
int cow_ready(int creator);
int cow_all_read(void);
int cow_unmap_rest(const struct task_plan *t, uint64_t gadget, struct batch *b, int *kept);
/* the map step's moves and drops, ahead of the mappings in their batch (tags COW_TAG + ...);
 * cow_check reports a failed or misplaced one after a run */
#define COW_TAG (1 << 29)
int cow_moves(struct task_plan *t, struct batch *b, int (*run)(struct task_plan *, struct batch *));
int cow_check(const struct task_plan *t, const struct batch *b, int bad);
/* restore.c: page records read up to run upto (exclusive) of the plan, during the tree's
 * creation (the rest follow in the pages phase) */
int read_pages_upto(size_t upto);
/* restore_steps.c: the page sink of the kinds (content objects, System V segments), the stream's
 * digest seed, and the steps the coordinator drives after the plan (0 at resume) */
#define RESTORE_MAX_TASKS (1 << 16)
struct page_sink restore_kinds_sink(uint64_t *shmbytes);
void restore_stream_start(uint32_t seed);
int restore_steps(void);
/* restore_uffd.c: anonymous memory filled with UFFDIO_COPY (see there). uffd_wanted: task idx
 * should get a userfaultfd (map step); uffd_take_all/uffd_drop_all: the helper's fds and
 * registrations around the pages; uffd_fill: one page record into a task. */
int uffd_wanted(const struct task_plan *p, int idx);
void uffd_take_all(void);
void uffd_drop_all(void);
int uffd_fill(uint32_t task, pid_t pid, uint64_t addr, const void *buf, size_t len);
int uffd_fillv(uint32_t task, pid_t pid, const struct fill_piece *p, int n, int *bad); /* many of one task */
#endif
