#ifndef UCR_HELPER_H
#define UCR_HELPER_H
#include <stdint.h>
#include <sys/types.h>

struct kind_ops;
/* partial: the image file to remove if the coordinator dies; kinds: every object kind (kinds.c) */
int helper_dump(const char *partial, const struct kind_ops *const *kinds);
/* check: 2 only read the plan and verify the page records (--verify); checkpoint's check of
 * its plan is `check` on the dump channel (restore/plan.c) */
int helper_restore(int detach, int check, const struct kind_ops *const *kinds);
/* The coordinator died during a restart (called from a signal handler): removes the System V
 * objects the restart created, unless the tasks are being let go (then they are the tree's). */
void helper_restore_abandon(void);
/* interrupts.c: SIGTERM, SIGINT, SIGQUIT, SIGHUP as a set; all given handler (each blocking
 * all four while it runs); all blocked (block 1) or unblocked (0); all ignored; the terminal's
 * three ignored (SIGTERM kept: the coordinator's death still ends the helper) */
#include <signal.h>
void interrupts(sigset_t *set);
void interrupts_handled(void (*handler)(int));
void interrupts_blocked(int block);
void interrupts_ignored(void);
void terminal_interrupts_ignored(void);
/* The dump commands' handlers, on_dump_<verb>, are declared by proto_gen.h (protocol/schema.mjs). */
/* connections put into repair mode by tcprepair leave it again (the tree is released instead) */
void tcprepair_undo(void);
/* tcp_lock.c: a connection locked (1) before it is read (0: it has a filter of its own) */
int lock_conn(int s, pid_t pid, int fd);
/* a locked connection, in repair mode, its window w just read: sends nothing new until the kill */
struct tcp_repair_window;
void lock_hold_window(int s, pid_t pid, int fd, const struct tcp_repair_window *w);
/* filters that locked connections while they were read, removed (the tree is released) */
void tcplock_undo(void);
/* the keeper (tcpkeep, tcpkeeper) holds connections to outside peers after the kill;
 * keeper_commit once the tree is killed */
void keeper_commit(void);

/* A growable text buffer for one JSON event (sbuf.c). */
struct sbuf {
	char *p;
	size_t len, cap;
};
void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a JSON string of the bytes in hex */
void sb_hex(struct sbuf *b, const void *buf, size_t len);
/* raw bytes appended (a binary frame: proto_emit_bin); -1 out of memory */
int sb_bytes(struct sbuf *b, const void *buf, size_t len);
/* procfs.c: the tracee's fd, as an fd of the helper (the same open file: pidfd_getfd). */
int grab_fd(pid_t pid, int fd);

/* The AIO rings (`/[aio] (deleted)`) one read of /proc/PID/maps showed: their start addresses
 * in maps order; err: not known (the maps unreadable: errno; or ENOMEM). */
struct aio_rings {
	uint64_t *at;
	int n, cap, err;
};
/* Finds a mapping named like "[vdso]" in /proc/PID/maps (0, or -1 when none). aio, when not
 * NULL: the whole file is read, and *aio gets its AIO rings (at is kept for the next read). */
int find_special_vma(pid_t pid, const char *name, uint64_t *start, uint64_t *end, struct aio_rings *aio);
/* Whether thread tid of process pid has exited (state Z, or X while it goes): a main thread
 * that exited while others run stays a zombie. */
int thread_is_zombie(pid_t pid, pid_t tid);
/* One read of a small text file (of /proc) into buf, NUL-terminated (empty on failure): the
 * bytes read, or -1. */
ssize_t proc_text(const char *path, char *buf, size_t len);
/* The time slice a fair thread has by default (ns; 0 before Linux 6.12): procfs.c. */
uint64_t fair_default_slice(void);
/* One sock_diag dump (core/diag.c): req (its struct nlmsghdr first, len bytes) sent on a
 * NETLINK_SOCK_DIAG socket, each answer message given to each() until NLMSG_DONE; 0, or -1 and
 * errno (the socket, send, recv, or the kernel's NLMSG_ERROR). */
struct nlmsghdr;
int diag_dump(const void *req, size_t len, void (*each)(const struct nlmsghdr *h, void *ctx), void *ctx);
#endif
