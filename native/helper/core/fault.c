/* Fault injection for tests: see fault.h and src/fault.ts. */
#define _GNU_SOURCE
#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t coordinator;

void fault_init(void)
{
	coordinator = getppid();
}

int fault_at(const char *point, pid_t pid)
{
	const char *v = getenv("UCR_FAULT");
	if (!v || !*v)
		return 0;
	size_t n = strlen(point);
	if (strncmp(v, point, n) || (v[n] != 0 && v[n] != ':'))
		return 0;
	if (v[n] == ':' && (pid_t)atol(v + n + 1) != pid)
		return 0;
	const char *action = getenv("UCR_FAULT_ACTION");
	if (action && !strcmp(action, "sigkill")) {
		if (coordinator > 1)
			kill(coordinator, SIGKILL);
		return 0;
	}
	if (action && !strcmp(action, "sigint")) { /* a terminal's Ctrl-C: the whole process group */
		kill(0, SIGINT);
		return 0;
	}
	return 1;
}
