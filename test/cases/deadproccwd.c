// build: gcc -O2 -g -Wall -Wextra -o deadproccwd deadproccwd.c
/*
 * deadproccwd.c - a process whose working directory is the /proc directory of a child that has
 * exited and was reaped ("/proc/PID (deleted)"): a checkpoint must refuse it with one line
 * (nothing can make that directory again), and the process runs on.
 *
 *   deadproccwd --out FILE
 *
 * Forks a child, chdir("/proc/CHILD"), lets the child exit and reaps it, waits for SIGTERM,
 * then checks its cwd is still that dead directory (getcwd fails or names it).
 */
#include "case.h"

#include <sys/wait.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int p[2];
	case_pipe(p, "go");
	pid_t c = fork();
	if (c == 0) {
		char x;
		close(p[1]);
		if (read(p[0], &x, 1) < 0)
			_exit(1);
		_exit(0);
	}
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d", (int)c);
	if (c < 0 || chdir(dir) < 0)
		case_setup_fail("chdir %s: %s", dir, strerror(errno));
	close(p[1]);
	if (waitpid(c, NULL, 0) != c)
		case_setup_fail("waitpid: %s", strerror(errno));
	case_ready();
	case_wait_term();
	char link[PATH_MAX];
	ssize_t n = readlink("/proc/self/cwd", link, sizeof link - 1);
	if (n < 0 || (link[n] = 0, strncmp(link, dir, strlen(dir))))
		case_fail("cwd is \"%s\" now", n < 0 ? "?" : link);
	case_finish();
}
