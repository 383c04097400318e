// build: gcc -O2 -g -Wall -Wextra -pthread -o pidfd pidfd.c
/*
 * pidfd.c - pidfds of tasks of the tree stay pidfds of the same (restored) tasks, usable for
 * pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD), with their flags.
 *
 *   pidfd --out FILE [--outside | --exited | --thread]
 *
 * The root P forks a child C, which forks a grandchild G (pauses until killed). P holds pidfds
 * of itself (not close-on-exec), of C (PIDFD_NONBLOCK) and of G; C holds pidfds of its parent P
 * and of G. C also holds the write end of a pipe at the fd number P knows. After SIGTERM, P:
 *  - the fdinfo "Pid:" of each pidfd is the task's pid now (also under --pids), flags kept;
 *  - waitid(P_PIDFD, C) on the non-blocking pidfd says "not yet" (EAGAIN);
 *  - pidfd_getfd(C, its pipe end) gives C's pipe: a byte written through it arrives at P;
 *  - pidfd_send_signal(C, SIGUSR1) reaches C, which checks its pidfd of P, kills G through its
 *    own pidfd, reaps it with waitid(P_PIDFD) (killed by SIGKILL) and exits 42 (else 43+);
 *  - P's pidfd of G turns readable (G is gone), waitid(P_PIDFD, C) reaps C with status 42.
 * --exited: P also holds two pidfds (one PIDFD_NONBLOCK) of a child that has exited and been
 * reaped (fdinfo "Pid: -1") and one of another: after the restart the first two still share
 * an inode and the third has its own, they poll readable, signalling gives ESRCH.
 * --outside: P also holds a pidfd of its own parent (outside the tree); --thread: of a thread
 * of its own that is not the main thread (PIDFD_THREAD). Both are refused at checkpoint.
 */
#include "case.h"

#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int pidfd_send_signal(int pfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0);
}

static int pidfd_getfd(int pfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
}

/* the "Pid:" of a pidfd's fdinfo (0: none) */
static int fdinfo_pid(int fd)
{
	char p[64], buf[1024];
	snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
	int f = open(p, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return 0;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *s = strstr(buf, "\nPid:");
	return s ? atoi(s + 5) : 0;
}

static int is_pidfd(int fd)
{
	char p[64], l[64] = { 0 };
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	return readlink(p, l, sizeof l - 1) > 0 && !strcmp(l, "anon_inode:[pidfd]");
}

static void *idle_thread(void *arg)
{
	int *tid = arg;
	__atomic_store_n(tid, (int)gettid(), __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

/* C: its parent's and its child's pidfds; on SIGUSR1 it checks the first, kills and reaps G
 * through the second. */
static void child_main(int ppfd, int gpfd)
{
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	signal(SIGTERM, SIG_DFL);
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	while (!got_usr1)
		sigsuspend(&old);
	if (!is_pidfd(ppfd) || fdinfo_pid(ppfd) != getppid())
		_exit(43);
	if (!is_pidfd(gpfd) || pidfd_send_signal(gpfd, SIGKILL) < 0)
		_exit(44);
	siginfo_t si = { 0 };
	if (waitid(P_PIDFD, (id_t)gpfd, &si, WEXITED) < 0 || si.si_code != CLD_KILLED || si.si_status != SIGKILL)
		_exit(45);
	_exit(42);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	int outside = case_has_flag(argc, argv, "--outside");
	int exited = case_has_flag(argc, argv, "--exited");
	int thread = case_has_flag(argc, argv, "--thread");
	int zombie = case_has_flag(argc, argv, "--zombie");
	case_install_sigterm(0);
	int pp[2], gp[2];
	if (pipe2(pp, O_CLOEXEC) < 0 || pipe2(gp, O_CLOEXEC) < 0)
		case_setup_fail("pipe: %s", strerror(errno));
	int self = pidfd_open(getpid(), 0);
	if (self < 0)
		case_setup_fail("pidfd_open(self): %s", strerror(errno));
	int thr = pidfd_open(getpid(), PIDFD_THREAD); /* of the main thread only */
	if (thr < 0)
		case_setup_fail("pidfd_open(self, PIDFD_THREAD): %s", strerror(errno));
	if (fcntl(self, F_SETFD, 0) < 0) /* not close-on-exec: kept so */
		case_setup_fail("fcntl: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		close(pp[0]);
		close(self);
		close(thr);
		pid_t g = fork();
		if (g == 0) {
			signal(SIGTERM, SIG_DFL);
			for (;;)
				pause();
		}
		int ppfd = pidfd_open(getppid(), 0), gpfd = g > 0 ? pidfd_open(g, 0) : -1;
		if (ppfd < 0 || gpfd < 0)
			_exit(50);
		/* tell P the grandchild's pid */
		if (write(gp[1], &g, sizeof g) != sizeof g)
			_exit(51);
		close(gp[1]);
		close(gp[0]);
		child_main(ppfd, gpfd);
	}
	close(gp[1]);
	close(pp[1]); /* only C holds it now, at that number */
	pid_t g = 0;
	if (read(gp[0], &g, sizeof g) != sizeof g || g <= 0)
		case_setup_fail("no grandchild");
	close(gp[0]);
	int cfd = pidfd_open(child, PIDFD_NONBLOCK);
	int gfd = pidfd_open(g, 0);
	if (cfd < 0 || gfd < 0)
		case_setup_fail("pidfd_open: %s", strerror(errno));
	if (outside && pidfd_open(getppid(), 0) < 0)
		case_setup_fail("pidfd_open(parent): %s", strerror(errno));
	int efd[3] = { -1, -1, -1 }; /* --exited: two of one child that has exited, one of another */
	if (exited) {
		for (int k = 0; k < 2; k++) {
			pid_t e = fork();
			if (e == 0)
				_exit(0);
			if (e < 0 || (efd[k ? 2 : 0] = pidfd_open(e, 0)) < 0 || (!k && (efd[1] = pidfd_open(e, PIDFD_NONBLOCK)) < 0))
				case_setup_fail("pidfd_open(exited child): %s", strerror(errno));
			waitpid(e, NULL, 0);
		}
	}
	int zfd = -1;
	pid_t z = 0;
	if (zombie) { /* a child that has exited, not reaped yet: its pidfd reaps it later */
		int zp[2];
		if (pipe2(zp, O_CLOEXEC) < 0 || (z = fork()) < 0)
			case_setup_fail("fork: %s", strerror(errno));
		if (z == 0) {
			char c;
			close(zp[1]);
			while (read(zp[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(7);
		}
		close(zp[0]);
		if ((zfd = pidfd_open(z, 0)) < 0)
			case_setup_fail("pidfd_open(zombie): %s", strerror(errno));
		close(zp[1]);
		struct pollfd p = { .fd = zfd, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1)
			case_setup_fail("the child did not exit");
	}
	if (thread) {
		static int tid;
		pthread_t th;
		sigset_t term, old;
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &term, &old); /* SIGTERM stays the main thread's */
		if (pthread_create(&th, NULL, idle_thread, &tid))
			case_setup_fail("pthread_create");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		while (!__atomic_load_n(&tid, __ATOMIC_SEQ_CST))
			case_sleep_ms(1);
		if (pidfd_open(tid, PIDFD_THREAD) < 0)
			case_setup_fail("pidfd_open(thread, PIDFD_THREAD): %s", strerror(errno));
	}
	case_ready();
	case_wait_term();
	if (exited) { /* pidfds of processes that have exited and were reaped */
		struct stat s0, s1, s2;
		struct pollfd pf = { efd[0], POLLIN, 0 };
		if (fstat(efd[0], &s0) < 0 || fstat(efd[1], &s1) < 0 || fstat(efd[2], &s2) < 0)
			case_fail("pidfds of exited children: fstat: %s", strerror(errno));
		else if (s0.st_ino != s1.st_ino || s0.st_ino == s2.st_ino)
			case_fail("pidfds of exited children: inodes %lu %lu %lu, expected the first two the same, the third another",
				  (unsigned long)s0.st_ino, (unsigned long)s1.st_ino, (unsigned long)s2.st_ino);
		else if (fdinfo_pid(efd[0]) != -1 || fdinfo_pid(efd[2]) != -1)
			case_fail("pidfds of exited children name pids %d and %d, expected -1", fdinfo_pid(efd[0]), fdinfo_pid(efd[2]));
		else if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLIN))
			case_fail("a pidfd of an exited child does not poll readable");
		else if (syscall(SYS_pidfd_send_signal, efd[2], 0, NULL, 0) != -1 || errno != ESRCH)
			case_fail("signalling an exited child through its pidfd does not give ESRCH");
		else if (!(fcntl(efd[1], F_GETFL) & O_NONBLOCK) || (fcntl(efd[0], F_GETFL) & O_NONBLOCK))
			case_fail("pidfds of an exited child lost their O_NONBLOCK (or got it)");
	}

	pid_t me = getpid();
	pid_t kid = -1, gkid = -1;
	char path[128], kb[64] = { 0 };
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)me);
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f >= 0 && read(f, kb, sizeof kb - 1) > 0)
		kid = atoi(kb);
	if (f >= 0)
		close(f);
	memset(kb, 0, sizeof kb);
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)kid, (int)kid);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f >= 0 && read(f, kb, sizeof kb - 1) > 0)
		gkid = atoi(kb);
	if (f >= 0)
		close(f);
	int fl;
	if (!is_pidfd(self) || !is_pidfd(cfd) || !is_pidfd(gfd))
		case_fail("a pidfd is no longer a pidfd (fds %d %d %d)", self, cfd, gfd);
	else if (fdinfo_pid(self) != me)
		case_fail("pidfd of itself names pid %d, expected %d", fdinfo_pid(self), (int)me);
	else if (fdinfo_pid(cfd) != kid)
		case_fail("pidfd of the child names pid %d, expected %d", fdinfo_pid(cfd), (int)kid);
	else if (fdinfo_pid(gfd) != gkid)
		case_fail("pidfd of the grandchild names pid %d, expected %d", fdinfo_pid(gfd), (int)gkid);
	else if ((fl = fcntl(cfd, F_GETFL)) < 0 || !(fl & O_NONBLOCK))
		case_fail("pidfd of the child lost O_NONBLOCK (flags %#o)", fl);
	else if (fdinfo_pid(thr) != me || (fl = fcntl(thr, F_GETFL)) < 0 || !(fl & PIDFD_THREAD))
		case_fail("the PIDFD_THREAD pidfd of itself names pid %d (expected %d) or lost PIDFD_THREAD", fdinfo_pid(thr), (int)me);
	else if ((fl = fcntl(self, F_GETFL)) < 0 || (fl & O_NONBLOCK) || (fl & PIDFD_THREAD))
		case_fail("pidfd of itself gained O_NONBLOCK (flags %#o)", fl);
	else if (fcntl(self, F_GETFD) != 0 || fcntl(cfd, F_GETFD) != FD_CLOEXEC)
		case_fail("close-on-exec not kept (self %d, child %d)", fcntl(self, F_GETFD), fcntl(cfd, F_GETFD));
	else if (pidfd_send_signal(self, 0) < 0)
		case_fail("pidfd_send_signal(itself, 0): %s", case_errname(errno));
	if (!case_failed) {
		siginfo_t si = { 0 };
		errno = 0;
		if (waitid(P_PIDFD, (id_t)cfd, &si, WEXITED) != -1 || errno != EAGAIN)
			case_fail("waitid on the non-blocking pidfd of the running child: %s, expected EAGAIN", case_errname(errno));
	}
	if (!case_failed) {
		int w = pidfd_getfd(cfd, pp[1]);
		char c = 0;
		if (w < 0)
			case_fail("pidfd_getfd(child, %d): %s", pp[1], case_errname(errno));
		else if (write(w, "x", 1) != 1 || read(pp[0], &c, 1) != 1 || c != 'x')
			case_fail("the child's pipe end from pidfd_getfd does not reach our read end");
		if (w >= 0)
			close(w);
	}
	if (!case_failed && zfd >= 0) {
		siginfo_t si = { 0 };
		if (!is_pidfd(zfd) || fdinfo_pid(zfd) != z)
			case_fail("pidfd of the exited child names pid %d, expected %d", fdinfo_pid(zfd), (int)z);
		else if (waitid(P_PIDFD, (id_t)zfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid != z || si.si_code != CLD_EXITED || si.si_status != 7)
			case_fail("waitid(P_PIDFD) of the exited child: %s, pid %d code %d status %d, expected exit 7",
				  case_errname(errno), si.si_pid, si.si_code, si.si_status);
	}
	if (!case_failed && pidfd_send_signal(cfd, SIGUSR1) < 0)
		case_fail("pidfd_send_signal(child, SIGUSR1): %s", case_errname(errno));
	if (!case_failed) {
		struct pollfd p = { .fd = gfd, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1)
			case_fail("the pidfd of the grandchild did not turn readable after it was killed");
	}
	if (!case_failed) {
		struct pollfd p = { .fd = cfd, .events = POLLIN };
		siginfo_t si = { 0 };
		if (poll(&p, 1, 10000) != 1)
			case_fail("the pidfd of the child did not turn readable (it did not exit)");
		else if (waitid(P_PIDFD, (id_t)cfd, &si, WEXITED) < 0)
			case_fail("waitid(P_PIDFD, child): %s", case_errname(errno));
		else if (si.si_code != CLD_EXITED || si.si_status != 42)
			case_fail("the child ended with code %d status %d, expected exit 42", si.si_code, si.si_status);
		else if (si.si_pid != kid)
			case_fail("waitid reaped pid %d, expected the child %d", si.si_pid, (int)kid);
	}
	if (case_failed) /* leave nothing behind: the grandchild is not our child */
		pidfd_send_signal(gfd, SIGKILL);
	case_kill_stray_children(0);
	case_finish();
}
