// build: gcc -O2 -g -Wall -Wextra -o vforker vforker.c
/*
 * vforker.c - a parent waiting in vfork() for its child.
 *
 *   vforker --out FILE --exec-after MS [--clone]
 *
 * Writes FILE.ready (its pid), then vfork()s: the child sleeps MS milliseconds (raw nanosleep,
 * nothing else touches the shared memory) and execs "sleep 1000"; the parent waits in vfork
 * meanwhile, then waits for SIGTERM, kills and reaps the child and writes PASS. The test
 * checkpoints it while it is inside vfork(): ucr must wait for the exec (or give up, naming
 * the wait). With --clone the child is made the way posix_spawn() makes it: clone() with
 * CLONE_VM | CLONE_VFORK on a stack of its own; the parent checks that clone() returned the
 * child's pid (the exec'd sleep, its child).
 */
#include "case.h"

#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static struct timespec delay;
static char child_stack[64 * 1024] __attribute__((aligned(16)));

static int spawned(void *arg)
{
	(void)arg;
	syscall(SYS_nanosleep, &delay, NULL);
	execl("/bin/sleep", "sleep", "1000", (char *)NULL);
	_exit(127);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	const char *a = case_arg(argc, argv, "--exec-after");
	long ms = a ? atol(a) : 1000;
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	delay = t;
	case_ready();
	pid_t c;
	if (case_has_flag(argc, argv, "--clone")) {
		c = clone(spawned, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
		pid_t kids[4];
		char st[4];
		if (c < 0)
			case_fail("clone: %s", strerror(errno));
		else if (case_children_of(getpid(), kids, st, 4) != 1 || kids[0] != c)
			case_fail("clone() returned %d, which is not my one child", c);
	} else {
		c = vfork();
		if (c == 0) {
			syscall(SYS_nanosleep, &t, NULL);
			execl("/bin/sleep", "sleep", "1000", (char *)NULL);
			_exit(127);
		}
	}
	if (c < 0)
		case_fail("vfork: %s", strerror(errno));
	while (!case_term)
		pause();
	if (c > 0) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
	}
	case_finish();
}
