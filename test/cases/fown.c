// build: gcc -O2 -g -Wall -Wextra -pthread -o fown fown.c
/*
 * fown.c - the owners of open files (F_SETOWN / F_SETOWN_EX) and their signals (F_SETSIG)
 * come back, and signal-driven I/O keeps arriving where it went.
 *
 *   fown --out FILE
 *
 * Set up: a pipe whose read end has O_ASYNC, owned by a worker thread (F_OWNER_TID) with
 * F_SETSIG SIGRTMIN+1: the worker waits for that signal; a unix socket owned by the process
 * group (F_SETOWN -pgid) with F_SETSIG SIGUSR2, and a UDP socket owned by the process
 * (F_SETOWN, for SIGURG), both without O_ASYNC; a pipe with O_ASYNC and F_SETSIG SIGRTMIN+2 but
 * no owner. After SIGTERM: every owner and signal reads back the same (F_GETOWN_EX, F_GETSIG),
 * O_ASYNC is where it was, and a byte written into the first pipe raises SIGRTMIN+1 in the
 * worker thread with si_fd naming the pipe's read end.
 */
#include "case.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static int p1[2], p2[2], us[2], ud;
static pid_t worker_tid;
static volatile int got_fd = -1, got_code;
static pthread_barrier_t ready;

static void *worker(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 1);
	sigaddset(&s, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	sigdelset(&s, SIGTERM);
	worker_tid = (pid_t)syscall(SYS_gettid);
	pthread_barrier_wait(&ready);
	siginfo_t si;
	for (;;) {
		struct timespec t = { 1, 0 };
		int r = sigtimedwait(&s, &si, &t);
		if (r == SIGRTMIN + 1) {
			got_code = si.si_code;
			got_fd = si.si_fd;
			return NULL;
		}
	}
}

struct own {
	int fd, type, pid, sig, async;
	const char *what;
};
static struct own owns[4];

static void record(int i, int fd, const char *what)
{
	struct f_owner_ex o;
	if (fcntl(fd, F_GETOWN_EX, &o) < 0)
		case_setup_fail("F_GETOWN_EX: %s", strerror(errno));
	owns[i] = (struct own){ fd, o.type, o.pid, fcntl(fd, F_GETSIG), (fcntl(fd, F_GETFL) & O_ASYNC) != 0, what };
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 1);
	sigaddset(&s, SIGRTMIN + 2);
	sigaddset(&s, SIGUSR2);
	sigaddset(&s, SIGIO);
	sigprocmask(SIG_BLOCK, &s, NULL); /* only the worker waits for them */
	pthread_barrier_init(&ready, NULL, 2);
	pthread_t th;
	if (pthread_create(&th, NULL, worker, NULL))
		case_setup_fail("pthread_create");
	pthread_barrier_wait(&ready);
	if (pipe2(p1, O_NONBLOCK) < 0 || pipe2(p2, O_NONBLOCK) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, us) < 0)
		case_setup_fail("pipe/socketpair: %s", strerror(errno));
	ud = socket(AF_INET, SOCK_DGRAM, 0);
	if (ud < 0)
		case_setup_fail("socket: %s", strerror(errno));
	struct f_owner_ex o = { F_OWNER_TID, worker_tid };
	if (fcntl(p1[0], F_SETOWN_EX, &o) < 0 || fcntl(p1[0], F_SETSIG, SIGRTMIN + 1) < 0 ||
	    fcntl(p1[0], F_SETFL, O_NONBLOCK | O_ASYNC) < 0)
		case_setup_fail("pipe owner: %s", strerror(errno));
	if (fcntl(us[0], F_SETOWN, -getpgrp()) < 0 || fcntl(us[0], F_SETSIG, SIGUSR2) < 0)
		case_setup_fail("socket owner: %s", strerror(errno));
	if (fcntl(ud, F_SETOWN, getpid()) < 0)
		case_setup_fail("udp owner: %s", strerror(errno));
	if (fcntl(p2[0], F_SETSIG, SIGRTMIN + 2) < 0 || fcntl(p2[0], F_SETFL, O_NONBLOCK | O_ASYNC) < 0)
		case_setup_fail("pipe signal: %s", strerror(errno));
	record(0, p1[0], "thread-owned pipe");
	record(1, us[0], "group-owned unix socket");
	record(2, ud, "process-owned UDP socket");
	record(3, p2[0], "pipe with a signal and no owner");
	case_ready();
	case_wait_term();

	for (int i = 0; i < 4; i++) {
		struct own now = owns[i];
		struct f_owner_ex x;
		if (fcntl(now.fd, F_GETOWN_EX, &x) < 0) {
			case_fail("%s: F_GETOWN_EX: %s", now.what, strerror(errno));
			continue;
		}
		now.type = x.type, now.pid = x.pid, now.sig = fcntl(now.fd, F_GETSIG), now.async = (fcntl(now.fd, F_GETFL) & O_ASYNC) != 0;
		if (now.type != owns[i].type || now.pid != owns[i].pid || now.sig != owns[i].sig || now.async != owns[i].async)
			case_fail("%s: owner %d/%d signal %d async %d, was %d/%d signal %d async %d", now.what, now.type, now.pid, now.sig,
				  now.async, owns[i].type, owns[i].pid, owns[i].sig, owns[i].async);
	}
	if (write(p1[1], "x", 1) != 1)
		case_fail("write: %s", strerror(errno));
	int64_t end = case_now_ms() + 5000;
	while (got_fd < 0 && case_now_ms() < end)
		case_sleep_ms(5);
	if (got_fd != p1[0])
		case_fail("the worker thread got no SIGRTMIN+1 naming fd %d (si_fd %d)", p1[0], got_fd);
	else if (got_code != POLL_IN)
		case_fail("si_code %d, expected POLL_IN", got_code);
	case_finish();
	return 0;
}
