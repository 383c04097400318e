// build: gcc -O2 -g -Wall -Wextra -o cgroupns cgroupns.c
/*
 * cgroupns.c - a process in a cgroup namespace of its own (which a restart does not make again:
 * the checkpoint refuses it, naming the process).
 *
 *   cgroupns --out FILE [--root | --thread]
 *
 * A child enters a new cgroup namespace (unshare(CLONE_NEWCGROUP), needs CAP_SYS_ADMIN) and
 * waits; with --root the process itself enters one instead (before the fork); with --thread a
 * second thread of the process enters one (and no child is made). After SIGTERM
 * the parent checks that the child is still in a namespace other than its own (or, --root, that
 * it is itself still in the one it made), tells the child to exit and reaps it.
 */
#include "case.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
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

/* --thread: a thread of the process enters a new cgroup namespace, says so on up[1] with its
 * tid, and waits for a byte on go[0]. */
static int tgo[2], tup[2];

static void *thread_main(void *arg)
{
	(void)arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	if (unshare(CLONE_NEWCGROUP) < 0)
		tid = -errno;
	if (write(tup[1], &tid, sizeof tid) != sizeof tid || tid < 0)
		return NULL;
	char c;
	if (read(tgo[0], &c, 1) != 1)
		return NULL;
	return NULL;
}

static int thread_mode(void)
{
	pthread_t th;
	pid_t tid = 0;
	ino_t before = 0, own = 0;
	char p[64];
	struct stat st;
	case_pipe(tgo, "go");
	case_pipe(tup, "up");
	if (ns_ino(getpid(), &before) < 0 || pthread_create(&th, NULL, thread_main, NULL) != 0)
		case_setup_fail("thread: %s", strerror(errno));
	if (read(tup[0], &tid, sizeof tid) != sizeof tid || tid <= 0)
		case_setup_fail("the thread could not enter a new cgroup namespace: %s", tid < 0 ? strerror(-tid) : "?");
	snprintf(p, sizeof p, "/proc/self/task/%d/ns/cgroup", (int)tid);
	if (stat(p, &st) < 0 || st.st_ino == before)
		case_setup_fail("the thread is not in a cgroup namespace of its own");
	own = st.st_ino;
	case_ready();
	case_wait_term();
	if (ns_ino(getpid(), &st.st_ino) < 0 || st.st_ino != before)
		case_fail("the process changed cgroup namespace");
	else if (stat(p, &st) < 0 || st.st_ino != own)
		case_fail("the thread is not in its own cgroup namespace any more");
	if (write(tgo[1], "g", 1) != 1 || pthread_join(th, NULL) != 0)
		case_fail("cannot end the thread");
	case_finish();
	return 0;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	if (case_has_flag(argc, argv, "--thread"))
		return thread_mode();
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
