// build: gcc -O2 -g -Wall -Wextra -pthread -o procfiles procfiles.c
/*
 * procfiles.c - files of /proc and /sys stay open across a restart, pointing at the restored
 * tasks (at their new pids too), at their offsets.
 *
 *   procfiles --out FILE [--thread]
 *
 * Forks a child C (blocks in read() on a pipe), then opens and reads part of:
 *   /proc/self/status (read 5 bytes)    /proc/self/stat (read 10 bytes, kept open twice: dup)
 *   /proc/thread-self/comm              /proc/self/fd (a directory)
 *   /proc/C/status (the child's)        /proc/stat (not a task's; size 0, read 20 bytes)
 *   /sys/kernel/mm/transparent_hugepage/enabled (read 3 bytes)
 * and with --thread starts a thread T and opens /proc/self/task/T/comm (T is named "ucr-t").
 * After SIGTERM, each fd must name the file of the task as it is now (its pid may have changed:
 * checked by the kernel through readlink and by reading "Pid:" from the status files), keep its
 * offset (lseek SEEK_CUR), and read on from there; the dup shares its offset.
 */
#include "case.h"

#include <dirent.h>
#include <pthread.h>

static char linkbuf[PATH_MAX];

static const char *fdlink(int fd)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, linkbuf, sizeof linkbuf - 1);
	linkbuf[n > 0 ? n : 0] = 0;
	return linkbuf;
}

static int open_read(const char *path, int flags, size_t n)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		case_setup_fail("open %s: %s", path, strerror(errno));
	char buf[64];
	if (n && read(fd, buf, n) != (ssize_t)n)
		case_setup_fail("read %s: %s", path, strerror(errno));
	return fd;
}

static void expect_link(int fd, const char *what, const char *want)
{
	if (strcmp(fdlink(fd), want))
		case_fail("%s: fd %d is %s, expected %s", what, fd, linkbuf, want);
}

static void expect_pos(int fd, const char *what, off_t want)
{
	off_t at = lseek(fd, 0, SEEK_CUR);
	if (at != want)
		case_fail("%s: offset %lld, expected %lld (%s)", what, (long long)at, (long long)want,
			  at < 0 ? case_errname(errno) : "moved");
}

/* the "Pid:" line of a status file read from the start */
static int status_pid(int fd)
{
	char buf[4096];
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strstr(buf, "\nPid:\t");
	return p ? atoi(p + 6) : -1;
}

static volatile int stop_thread;
static void *thread_main(void *arg)
{
	(void)arg;
	/* SIGTERM is the main thread's: taken here, it would never wake the main thread's pause
	 * (a process-directed signal goes to any thread not blocking it, e.g. while the main
	 * thread still has a signal wake-up pending right after the restart's detach) */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	while (!stop_thread)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	int with_thread = case_has_flag(argc, argv, "--thread");
	case_install_sigterm(0);
	int pp[2];
	if (pipe(pp) < 0)
		case_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		signal(SIGTERM, SIG_DFL);
		close(pp[1]);
		char c;
		while (read(pp[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(pp[0]);
	pid_t tid = 0;
	pthread_t th;
	if (with_thread) {
		int tp[2];
		if (pipe(tp) < 0 || pthread_create(&th, NULL, thread_main, NULL))
			case_setup_fail("thread: %s", strerror(errno));
		pthread_setname_np(th, "ucr-t");
		/* the thread's tid: the task that is not us */
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (atoi(e->d_name) > 0 && atoi(e->d_name) != getpid())
				tid = atoi(e->d_name);
		if (d)
			closedir(d);
		close(tp[0]);
		close(tp[1]);
		if (!tid)
			case_setup_fail("no thread in /proc/self/task");
	}
	char path[128];
	int st = open_read("/proc/self/status", O_RDONLY, 5);
	int stat = open_read("/proc/self/stat", O_RDONLY, 10);
	int stat2 = dup(stat);
	int comm = open_read("/proc/thread-self/comm", O_RDONLY, 0);
	int fddir = open_read("/proc/self/fd", O_RDONLY | O_DIRECTORY, 0);
	snprintf(path, sizeof path, "/proc/%d/status", (int)child);
	int cst = open_read(path, O_RDONLY, 0);
	int pstat = open_read("/proc/stat", O_RDONLY, 20);
	int thp = open_read("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY, 3);
	int tcomm = -1;
	if (tid) {
		snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
		tcomm = open_read(path, O_RDONLY, 0);
	}
	if (stat2 < 0)
		case_setup_fail("dup: %s", strerror(errno));
	case_ready();
	case_wait_term();

	pid_t me = getpid();
	/* the child, as it is now: the only one in our children list */
	pid_t kid = -1;
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)me);
	int cf = open(path, O_RDONLY | O_CLOEXEC);
	char kb[64] = { 0 };
	if (cf >= 0 && read(cf, kb, sizeof kb - 1) > 0)
		kid = atoi(kb);
	if (cf >= 0)
		close(cf);
	char want[128];
	snprintf(want, sizeof want, "/proc/%d/status", (int)me);
	expect_link(st, "/proc/self/status", want);
	expect_pos(st, "/proc/self/status", 5);
	snprintf(want, sizeof want, "/proc/%d/stat", (int)me);
	expect_link(stat, "/proc/self/stat", want);
	expect_pos(stat, "/proc/self/stat", 10);
	expect_link(stat2, "/proc/self/stat (dup)", want);
	if (!case_failed) {
		char b1[8] = { 0 }, b2[8] = { 0 };
		/* one open file: a read through one moves the other */
		if (read(stat2, b1, 4) != 4 || lseek(stat, 0, SEEK_CUR) != 14)
			case_fail("/proc/self/stat: the dup does not share the offset (%lld)", (long long)lseek(stat, 0, SEEK_CUR));
		(void)b2;
	}
	snprintf(want, sizeof want, "/proc/%d/task/%d/comm", (int)me, (int)me);
	expect_link(comm, "/proc/thread-self/comm", want);
	snprintf(want, sizeof want, "/proc/%d/fd", (int)me);
	expect_link(fddir, "/proc/self/fd", want);
	snprintf(want, sizeof want, "/proc/%d/status", (int)kid);
	expect_link(cst, "/proc/CHILD/status", want);
	expect_link(pstat, "/proc/stat", "/proc/stat");
	expect_pos(pstat, "/proc/stat", 20);
	expect_pos(thp, "/sys/kernel/mm/transparent_hugepage/enabled", 3);
	if (!case_failed && status_pid(st) != me)
		case_fail("/proc/self/status shows pid %d, expected %d", status_pid(st), (int)me);
	if (!case_failed && status_pid(cst) != kid)
		case_fail("/proc/CHILD/status shows pid %d, expected the child %d", status_pid(cst), (int)kid);
	if (!case_failed) {
		/* the directory lists our fds, among them this very one */
		char n[16];
		snprintf(n, sizeof n, "%d", fddir);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fddir);
		DIR *d = fdopendir(dup(fddir));
		struct dirent *e;
		int found = 0;
		while (d && (e = readdir(d)))
			found |= !strcmp(e->d_name, n);
		if (d)
			closedir(d);
		if (!found)
			case_fail("/proc/self/fd (fd %d) does not list fd %d", fddir, fddir);
	}
	if (tcomm >= 0) {
		snprintf(want, sizeof want, "/proc/%d/task/%d/comm", (int)me, (int)tid);
		expect_link(tcomm, "/proc/self/task/TID/comm", want);
		char b[16] = { 0 };
		if (!case_failed && (read(tcomm, b, sizeof b - 1) <= 0 || strcmp(b, "ucr-t\n")))
			case_fail("/proc/self/task/TID/comm reads \"%s\", expected ucr-t", b);
	}
	close(pp[1]); /* the child exits */
	waitpid(-1, NULL, 0);
	case_finish();
}
