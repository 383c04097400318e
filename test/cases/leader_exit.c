// build: gcc -O2 -g -Wall -Wextra -pthread -o leader_exit leader_exit.c
/*
 * leader_exit.c - a process whose main thread has exited (pthread_exit in main) while two
 * threads go on.
 *
 *   leader_exit --out FILE [--child] [--trap]
 *
 * main starts two counting threads and calls pthread_exit(). Thread 0 waits until the main
 * thread is a zombie, writes FILE.ready, and waits for SIGTERM with sigwait (both threads
 * block it). Then it checks that the main thread is still a zombie, that both threads kept
 * their tids and go on counting, and writes the verdict; the process exits.
 * With --child, all this happens in a child of the process started (whose pid FILE.ready
 * names): the parent waits for it (waitpid, across the checkpoint) and writes how it ended to
 * FILE.parent ("exit N" or "signal N"): a parent sees the end of such a process once its last
 * thread has exited, with its status.
 * With --trap, a SIGTRAP (blocked) is pending for the process, which a checkpoint refuses: it
 * is still there, sent by the process, after SIGTERM.
 */
#include "case.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile long counts[2];
static int trap;
static pid_t tids[2];

static int main_is_zombie(void)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", getpid());
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, ") Z") != NULL;
}

static void *worker(void *arg)
{
	long i = (long)arg;
	tids[i] = (pid_t)syscall(SYS_gettid);
	if (i == 1)
		for (;;) {
			counts[1]++;
			usleep(1000);
		}
	while (!main_is_zombie())
		usleep(1000);
	if (trap)
		kill(getpid(), SIGTRAP);
	case_ready();
	sigset_t t;
	sigemptyset(&t);
	sigaddset(&t, SIGTERM);
	int sig;
	while (sigwait(&t, &sig) != 0 || sig != SIGTERM)
		counts[0]++;
	if (!main_is_zombie())
		case_fail("the main thread is not a zombie any more");
	if (tids[0] != (pid_t)syscall(SYS_gettid))
		case_fail("thread 0 changed tid");
	long c = counts[1];
	usleep(50000);
	if (counts[1] == c)
		case_fail("thread 1 (tid %d) stopped counting", tids[1]);
	if (trap) {
		sigemptyset(&t);
		sigaddset(&t, SIGTRAP);
		siginfo_t si;
		struct timespec zero = { 0, 0 };
		if (sigtimedwait(&t, &si, &zero) != SIGTRAP || si.si_code != SI_USER || si.si_pid != getpid())
			case_fail("the pending SIGTRAP is lost or changed");
	}
	case_finish();
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	if (case_has_flag(argc, argv, "--child")) {
		pid_t c = fork();
		if (c < 0)
			case_setup_fail("fork: %s", strerror(errno));
		if (c > 0) {
			int st;
			pid_t r;
			while ((r = waitpid(c, &st, 0)) < 0 && errno == EINTR)
				;
			char buf[64];
			if (r != c)
				snprintf(buf, sizeof buf, "waitpid: %s\n", strerror(errno));
			else
				snprintf(buf, sizeof buf, "%s %d\n", WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			case_write_aux(".parent", buf);
			_exit(0);
		}
	}
	trap = case_has_flag(argc, argv, "--trap");
	sigset_t t;
	sigemptyset(&t);
	sigaddset(&t, SIGTERM);
	if (trap)
		sigaddset(&t, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &t, NULL);
	pthread_t th;
	for (long i = 0; i < 2; i++)
		if (pthread_create(&th, NULL, worker, (void *)i))
			case_setup_fail("pthread_create");
	pthread_exit(NULL);
}
