// build: gcc -O2 -g -Wall -Wextra -o vforker vforker.c
/*
 * vforker.c - a parent waiting in vfork() for its child.
 *
 *   vforker --out FILE --exec-after MS
 *
 * Writes FILE.ready (its pid), then vfork()s: the child sleeps MS milliseconds (raw nanosleep,
 * nothing else touches the shared memory) and execs "sleep 1000"; the parent waits in vfork
 * meanwhile, then waits for SIGTERM, kills and reaps the child and writes PASS. The test
 * checkpoints it while it is inside vfork(): ucr must wait for the exec (or give up, naming
 * the wait).
 */
#include "case.h"

#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	const char *a = case_arg(argc, argv, "--exec-after");
	long ms = a ? atol(a) : 1000;
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	case_ready();
	pid_t c = vfork();
	if (c == 0) {
		syscall(SYS_nanosleep, &t, NULL);
		execl("/bin/sleep", "sleep", "1000", (char *)NULL);
		_exit(127);
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
