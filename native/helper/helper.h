#ifndef UCR_HELPER_H
#define UCR_HELPER_H
#include <stdint.h>
#include <sys/types.h>

int helper_dump(const char *partial); /* partial: the image file to remove if the coordinator dies */
int helper_restore(int detach);
/* The coordinator died during a restart (called from a signal handler): removes the System V
 * objects the restart created, unless the tasks are being let go (then they are the tree's). */
void helper_restore_abandon(void);
/* dump command `pipe <pid> <fd>` (dump_pipe.c) */
int cmd_pipe(char **w, int n);
/* `object <path>`, `objdump <id> <seed> <path>` + runs (dump_object.c) */
int cmd_object(char **w, int n);
int cmd_objdump(char **w, int n);

/* dump commands `ipc`, `sem`, `msg`, `shmdata` (dump_ipc.c) */
int cmd_ipc(char **w, int n);
int cmd_sem(char **w, int n);
int cmd_msg(char **w, int n);
int cmd_shmdata(char **w, int n);
/* dump commands `unixdiag` and `unixq <pid> <fd> <queued bytes>` (dump_unix.c) */
int cmd_unixdiag(char **w, int n);
int cmd_unixq(char **w, int n);

/* Finds a mapping named like "[vdso]" in /proc/PID/maps. */
int find_special_vma(pid_t pid, const char *name, uint64_t *start, uint64_t *end);
/* Whether thread tid of process pid has exited (state Z): a main thread that exited while
 * others run stays one. */
int thread_is_zombie(pid_t pid, pid_t tid);
/* Counts the mappings of pid below the user address-space end (for sanity checks). */
int count_vmas(pid_t pid);
#endif
