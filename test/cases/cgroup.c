// build: gcc -O2 -g -Wall -Wextra -pthread -o cgroup cgroup.c
/*
 * cgroup.c - a process and its child in cgroups of their own come back in them.
 *
 *   cgroup --out FILE --dir DIR [--threaded]
 *
 * DIR: a cgroup directory the test made (cgroup v2, or a v1 hierarchy it mounted). The case
 * makes DIR/a and DIR/a/b, moves itself into DIR/a and forks a child that moves itself into
 * DIR/a/b, and keeps its own /proc/self/cgroup and the child's. After SIGTERM both must read
 * the same (every hierarchy's path), and the child still be its child.
 * --threaded: no child; a second thread moved alone into DIR/a/t (cgroup v2: made a threaded
 * cgroup, cgroup.threads; v1: its tasks file): after SIGTERM its cgroups must read the same
 * too (/proc/self/task/TID/cgroup).
 */
#include "case.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char dir[PATH_MAX];

/* DIR/sub made (if missing) and text written to its file */
static void put(const char *sub, const char *file, const char *text)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		case_setup_fail("mkdir %s: %s", path, strerror(errno));
	snprintf(path, sizeof path, "%s/%s/%s", dir, sub, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		case_setup_fail("%s into %s: %s", text, path, strerror(errno));
	close(fd);
}

static volatile pid_t thread_tid;

static void *idle(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	case_thread_idle();
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	const char *d = case_arg(argc, argv, "--dir");
	if (!d || strlen(d) >= sizeof dir - 64)
		case_die_usage(argv[0], "missing --dir DIR");
	strcpy(dir, d);
	int threaded = case_has_flag(argc, argv, "--threaded");

	char me[16];
	snprintf(me, sizeof me, "%d", getpid());
	put("a", "cgroup.procs", me);
	int p[2];
	case_pipe(p, "moved");
	/* --threaded: no child (a cgroup with a populated child cgroup cannot hold threaded ones) */
	pid_t child = threaded ? getpid() : fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never left behind, in a cgroup, by a failed set-up */
		close(p[0]);
		put("a/b", "cgroup.procs", "0");
		char c = 'r';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	close(p[1]);
	if (child < 0 || (!threaded && read(p[0], &c, 1) != 1))
		case_setup_fail("the child did not move: see its cgroup");
	if (threaded) {
		pthread_t th;
		if (pthread_create(&th, NULL, idle, NULL))
			case_setup_fail("pthread_create");
		while (!thread_tid)
			usleep(1000);
		char tid[16];
		snprintf(tid, sizeof tid, "%d", thread_tid);
		char v2[PATH_MAX + 32];
		snprintf(v2, sizeof v2, "%s/cgroup.type", dir);
		if (access(v2, F_OK) == 0) { /* cgroup v2: a threaded cgroup */
			put("a/t", "cgroup.type", "threaded");
			put("a/t", "cgroup.threads", tid);
		} else /* v1: any thread moves alone */
			put("a/t", "tasks", tid);
	}
	char mine[4096], his[4096], path[64], thr[4096] = "", thrpath[64];
	snprintf(thrpath, sizeof thrpath, "/proc/self/task/%d/cgroup", thread_tid);
	if (threaded && case_read_text(thrpath, thr, sizeof thr) <= 0)
		case_setup_fail("cannot read the thread's cgroup file");
	snprintf(path, sizeof path, "/proc/%d/cgroup", child);
	if (case_read_text("/proc/self/cgroup", mine, sizeof mine) <= 0 || case_read_text(path, his, sizeof his) <= 0)
		case_setup_fail("cannot read the cgroup files");
	case_ready();
	case_wait_term();

	char now[4096], hisnow[4096], thrnow[4096] = "";
	case_read_text("/proc/self/cgroup", now, sizeof now);
	if (threaded)
		case_read_text(thrpath, thrnow, sizeof thrnow);
	case_read_text(path, hisnow, sizeof hisnow);
	if (strcmp(now, mine))
		case_fail("the process's cgroups were [%s], now [%s]", mine, now);
	else if (strcmp(thrnow, thr))
		case_fail("thread %d's cgroups were [%s], now [%s]", thread_tid, thr, thrnow);
	else if (strcmp(hisnow, his))
		case_fail("the child's cgroups were [%s], now [%s]", his, hisnow);
	else if (!threaded && waitpid(child, NULL, WNOHANG) != 0)
		case_fail("the child is not a running child any more");
	if (!threaded) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	case_finish();
}
