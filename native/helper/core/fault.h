/* Fault injection for tests (the model is in src/fault.ts): UCR_FAULT=<point>[:<pid>] and
 * UCR_FAULT_ACTION=fail|sigkill|sigint, read from the environment the coordinator passed on. */
#ifndef UCR_FAULT_H
#define UCR_FAULT_H
#include <sys/types.h>

#define FAULT_MSG "injected fault (UCR_FAULT)"

/* Records the coordinator's pid (call first thing in main, before any fork). */
void fault_init(void);
/* 1 when the point (for this pid, 0 = any) is the one named and the action is 'fail': the
 * caller then fails there with proto_fail(..., ECANCELED, FAULT_MSG). With 'sigkill' the
 * coordinator is killed with SIGKILL and 0 is returned: the helper goes on as if ucr had been
 * killed right there. With 'sigint' SIGINT goes to the whole process group (as a terminal's
 * Ctrl-C would: coordinator and helper) and 0 is returned. */
int fault_at(const char *point, pid_t pid);
#endif
