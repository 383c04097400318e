#ifndef UCR_RESTORE_H
#define UCR_RESTORE_H
#include <sys/types.h>

#include "plan.h"

enum child_step { CHILD_OPEN = 1, CHILD_SEEK, CHILD_DUP, CHILD_CWD };
struct child_error {
	int step, err, fd;
};

/* Runs in the new task; never returns. */
void child_main(struct task_plan *p, pid_t parent, int gofd, int errfd, int maxfd)
	__attribute__((noreturn));
/* The tracer's part: from the new task's first stop to its own image state, up to the commit
 * point. restore_finish puts back the last state and lets it run. */
int restore_memory(struct task_plan *p, uint64_t gadget);
int restore_finish(struct task_plan *p, uint64_t gadget);
#endif
