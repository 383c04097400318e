#ifndef UCR_HELPER_H
#define UCR_HELPER_H
#include <stdint.h>
#include <sys/types.h>

struct kind_ops;
/* partial: the image file to remove if the coordinator dies; kinds: every object kind (kinds.c) */
int helper_dump(const char *partial, const struct kind_ops *const *kinds);
/* check: 1 only read the plan (--check), 2 and verify the page records (--verify) */
int helper_restore(int detach, int check, const struct kind_ops *const *kinds);
/* The coordinator died during a restart (called from a signal handler): removes the System V
 * objects the restart created, unless the tasks are being let go (then they are the tree's). */
void helper_restore_abandon(void);
/* dump command `pipe <pid> <fd>` (dump_pipe.c) */
int cmd_pipe(char **w, int n);
int cmd_fown(char **w, int n);
/* `object <path>`, `objdump <id> <seed> <path>` + runs (dump_object.c) */
int cmd_object(char **w, int n);
/* `tty <pid> <master fd>`, `ttymodes <pid> <fd>` (dump_tty.c) */
int cmd_tty(char **w, int n);
int cmd_ttymodes(char **w, int n);
int cmd_objdump(char **w, int n);

/* dump commands `ipc`, `sem`, `msg`, `shmdata` (dump_ipc.c) */
int cmd_ipc(char **w, int n);
int cmd_sem(char **w, int n);
int cmd_msg(char **w, int n);
int cmd_shmdata(char **w, int n);
/* dump commands `unixdiag` and `unixq <pid> <fd> <queued bytes>` (dump_unix.c) */
int cmd_unixdiag(char **w, int n);
int cmd_unixq(char **w, int n);
/* dump commands `inetq <pid> <fd>` and `tcprepair <pid> <fd>` (dump_inet.c) */
int cmd_inetq(char **w, int n);
int cmd_tcprepair(char **w, int n);
/* connections put into repair mode by tcprepair leave it again (the tree is released instead) */
void tcprepair_undo(void);
/* tcp_lock.c: a connection locked (1) before it is read (0: it has a filter of its own) */
int lock_conn(int s, pid_t pid, int fd);
/* filters that locked connections while they were read, removed (the tree is released) */
void tcplock_undo(void);
/* `tcpkeep <pid> <fd>`, `tcpkeeper`: the keeper holding connections to outside peers after the
 * kill (dump_inet.c); keeper_commit once the tree is killed */
int cmd_tcpkeep(char **w, int n);
int cmd_tcpkeeper(char **w, int n);
void keeper_commit(void);
/* `drain`, `ack <timeout ms> <digest> <records>`: the image reached its reader (dump_output.c) */
int cmd_drain(char **w, int n);
int cmd_ack(char **w, int n);

/* A growable text buffer for one JSON event (sbuf.c). */
struct sbuf {
	char *p;
	size_t len, cap;
};
void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a JSON string of the bytes in hex */
void sb_hex(struct sbuf *b, const void *buf, size_t len);
/* procfs.c: the tracee's fd, as an fd of the helper (the same open file: pidfd_getfd). */
int grab_fd(pid_t pid, int fd);

/* Finds a mapping named like "[vdso]" in /proc/PID/maps. */
int find_special_vma(pid_t pid, const char *name, uint64_t *start, uint64_t *end);
/* Whether thread tid of process pid has exited (state Z, or X while it goes): a main thread
 * that exited while others run stays a zombie. */
int thread_is_zombie(pid_t pid, pid_t tid);
#endif
