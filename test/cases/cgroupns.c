// build: gcc -O2 -g -Wall -Wextra -o cgroupns cgroupns.c
/*
 * cgroupns.c - a process in a cgroup namespace of its own (which a restart does not make again:
 * the checkpoint refuses it, naming the process).
 *
 *   cgroupns --out FILE [--root]
 *
 * A child enters a new cgroup namespace (unshare(CLONE_NEWCGROUP), needs CAP_SYS_ADMIN) and
 * waits; with --root the process itself enters one instead (before the fork). After SIGTERM
 * the parent checks that the child is still in a namespace other than its own (or, --root, that
 * it is itself still in the one it made), tells the child to exit and reaps it.
 */
#include "case.h"

#include <sched.h>
#include <sys/wait.h>

static int ns_ino(pid_t pid, ino_t *ino)
{
	char p[64];
	struct stat st;
	snprintf(p, sizeof p, "/proc/%d/ns/cgroup", (int)pid);
	if (stat(p, &st) < 0)
		return -1;
	*ino = st.st_ino;
	return 0;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int root = case_has_flag(argc, argv, "--root");
	ino_t before = 0, made = 0, now = 0, child_ns = 0;
	if (ns_ino(getpid(), &before) < 0)
		case_setup_fail("no cgroup namespaces: %s", strerror(errno));
	if (root && (unshare(CLONE_NEWCGROUP) < 0 || ns_ino(getpid(), &made) < 0))
		case_setup_fail("unshare(CLONE_NEWCGROUP): %s", strerror(errno));
	int go[2], up[2];
	case_pipe(go, "go");
	case_pipe(up, "up");
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		char c = 'u';
		close(go[1]);
		close(up[0]);
		if (!root && unshare(CLONE_NEWCGROUP) < 0)
			c = 'e';
		if (write(up[1], &c, 1) != 1 || c != 'u')
			_exit(2);
		_exit(read(go[0], &c, 1) == 1 ? 0 : 1);
	}
	close(go[0]);
	close(up[1]);
	char c = 0;
	if (read(up[0], &c, 1) != 1 || c != 'u')
		case_setup_fail("the child could not enter a new cgroup namespace (%c)", c ? c : '?');
	if (ns_ino(child, &child_ns) < 0 || (!root && child_ns == before) || (root && child_ns != made))
		case_setup_fail("the child is not in the expected cgroup namespace");

	case_ready();
	case_wait_term();

	if (ns_ino(getpid(), &now) < 0 || now != (root ? made : before))
		case_fail("the process changed cgroup namespace");
	else if (ns_ino(child, &child_ns) < 0 || (!root && child_ns == before) || (root && child_ns != made))
		case_fail("the child is not in its own cgroup namespace any more");
	if (write(go[1], "g", 1) != 1)
		case_fail("cannot tell the child to exit: %s", strerror(errno));
	case_reap_child("child", child, 5000);
	case_finish();
}
