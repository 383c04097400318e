// build: gcc -O2 -g -Wall -Wextra -pthread -o threadcreds threadcreds.c
/*
 * threadcreds.c - every thread of a process comes back with the credentials it had.
 *
 *   threadcreds --out FILE [--threads N]   (started as it is to be checked: root, or through
 *                                           setpriv with fewer capabilities or as a user)
 *
 * Starts N threads (default 5) that wait; records each thread's Uid, Gid, Groups and five Cap*
 * lines of /proc/self/task/TID/status (a thread's own credentials: the raw set*id and capset
 * calls change only the calling thread) and its no_new_privs; waits for SIGTERM, then checks
 * that every thread has the same lines as before. A restart that gave the threads the
 * restorer's credentials instead (root's full sets) fails it.
 */
#include "case.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define MAXT 64

static pid_t tids[MAXT + 1];
static int nt;
static volatile int started;

/* The credential lines of a thread's status, concatenated. */
static void creds_of(pid_t tid, char *out, size_t cap)
{
	static const char *const lines[] = { "Cap", "Uid:", "Gid:", "Groups:", "NoNewPrivs:", NULL };
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	case_status_lines(path, lines, out, cap);
}

static void *worker(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	case_thread_idle();
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	const char *a = case_arg(argc, argv, "--threads");
	nt = a ? atoi(a) : 5;
	if (nt < 1 || nt > MAXT)
		case_die_usage(argv[0], "--threads 1..64");
	for (int i = 0; i < nt; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, worker, NULL))
			case_setup_fail("pthread_create");
	}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < nt)
		usleep(1000);
	/* every thread of the process, the main one first */
	DIR *d = opendir("/proc/self/task");
	if (!d)
		case_setup_fail("opendir /proc/self/task: %s", strerror(errno));
	int n = 0;
	tids[n++] = getpid();
	for (struct dirent *e; (e = readdir(d)) && n <= MAXT;)
		if (e->d_name[0] != '.' && atoi(e->d_name) != getpid())
			tids[n++] = atoi(e->d_name);
	closedir(d);
	if (n != nt + 1)
		case_setup_fail("%d threads listed, expected %d", n, nt + 1);
	static char before[MAXT + 1][1024];
	for (int i = 0; i < n; i++) {
		creds_of(tids[i], before[i], sizeof before[i]);
		if (!before[i][0])
			case_setup_fail("thread %d: no status", tids[i]);
	}
	case_ready();
	while (!case_term)
		pause();
	for (int i = 0; i < n && !case_failed; i++) {
		char now[1024];
		creds_of(tids[i], now, sizeof now);
		if (strcmp(before[i], now))
			case_fail("thread %d: credentials changed: %s -> %s", tids[i], before[i], now);
	}
	case_finish();
}
