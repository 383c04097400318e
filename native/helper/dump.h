/* Internal to the checkpoint side of the helper (dump.c, dump_state.c). */
#ifndef UCR_DUMP_H
#define UCR_DUMP_H
#include <stdint.h>
#include <sys/user.h>

#include "tracee.h"

/* One frozen task (all its threads seized) and what must be put back on release. */
struct dtask {
	pid_t tgid;      /* the process */
	struct tracee t; /* t.pid: its main thread, or another one if the main thread has exited */
	pid_t threads[64];
	int nthreads;
	uint64_t saved_sigmask;
	int have_sigmask;
	/* the other threads' registers and masks, put back on release */
	struct user_regs_struct thregs[64];
	uint64_t thmask[64];
	int thsaved[64];
};

extern struct tracee task; /* the task being worked on */
extern struct dtask *cur;

int gadget_map(void);
void gadget_unmap(void);
int inject_ok(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, long *ret, const char *what);
/* `state <pid> [timer ids]`: everything about the selected task that ptrace or the task itself
 * must tell (dump_state.c) */
int cmd_state(char **tids, int ntids);
#endif
