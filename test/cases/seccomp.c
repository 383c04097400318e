// build: gcc -O2 -g -Wall -Wextra -pthread -o seccomp seccomp.c
/*
 * seccomp.c - seccomp filters and strict mode come back, acting as before.
 *
 *   seccomp --out FILE [--no-nnp | --strict | --notify]
 *
 * Filters (default): no_new_privs on (--no-nnp: off, root installs them with CAP_SYS_ADMIN);
 * thread T1 exists, then two filters go in with SECCOMP_FILTER_FLAG_TSYNC (the second with
 * SECCOMP_FILTER_FLAG_LOG): F1 getppid -> EOVERFLOW-ish errno 71, getsid -> 72; F2 getppid ->
 * 73, getpriority -> 74. The newest filter's errno wins for one action, so getppid giving 73
 * shows the order, getsid 72 and getpriority 74 show both. Thread T2 (born with F1+F2) adds F3
 * of its own: getsid -> 76. A child forked after F2 shares F1+F2. After the restart each of
 * them checks its errnos and /proc/self/task/TID/status (Seccomp 2, Seccomp_filters, NoNewPrivs);
 * then main tries a TSYNC filter: it must fail naming T2 (whose chain is not main's), not T1
 * (which shares main's filters), exactly as before the checkpoint.
 * --strict: a child enters SECCOMP_MODE_STRICT and serves a pipe with read/write only; after
 * the restart it still answers, its status says Seccomp 1, and a getpid kills it (SIGKILL).
 * --big: main has no filter; a thread stacks 7 filters of 4096 instructions each (the kernel's
 * bounds: per filter, and 32768 per chain), filter i making getppid fail with errno 80 + i: it
 * gets 86 (the newest) and Seccomp_filters 7, main none.
 * --partial: thread T3 exists before main installs F1 (no TSYNC), T1 and T2 are born after it
 * (they share it, T3 has none). After the restart a TSYNC filter from main must succeed (T1's and
 * T2's filter is main's own F1, T3 has none) and give every thread 2 filters.
 * --notify: a filter returning SECCOMP_RET_USER_NOTIF (its listener closed): refused at
 * checkpoint (the test only checks the refusal).
 * Waits for SIGTERM, then verifies.
 */
#include "case.h"

#include <dirent.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int nnp = 1;
static pid_t t2_tid;
static int t1_pipe[2], t2_pipe[2];
static char t1_res[256], t2_res[256];
static pthread_barrier_t ready;

static long install(unsigned flags, long nr1, int e1, long nr2, int e2, unsigned action)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr1, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action | (unsigned)e1),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)e2),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog p = { .len = sizeof f / sizeof f[0], .filter = f };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p);
}

/* "" when nr gives -1 with errno want, else what it gave */
static void expect_errno(char *out, size_t len, const char *who, const char *name, long nr, int want)
{
	errno = 0;
	long r = nr == SYS_getpriority ? syscall(nr, 0, 0) : syscall(nr, 0);
	if (!*out && (r != -1 || errno != want))
		snprintf(out, len, "%s: %s gave %ld errno %d, want errno %d", who, name, r, errno, want);
}

/* "" when /proc/self/task/TID/status shows these values */
static void expect_status(char *out, size_t len, const char *who, int mode, int filters)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	char want[128];
	snprintf(want, sizeof want, "NoNewPrivs:\t%d\nSeccomp:\t%d\nSeccomp_filters:\t%d\n", nnp, mode, filters);
	if (!*out && !strstr(buf, want)) {
		char *at = strstr(buf, "NoNewPrivs:");
		snprintf(out, len, "%s: status says %.60s, want %s", who, at ? at : "nothing", want);
		for (char *p = out; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
	}
}

/* main, T1 and the child: F1 + F2 */
static void check_shared(char *out, size_t len, const char *who)
{
	expect_errno(out, len, who, "getppid", SYS_getppid, 73);
	expect_errno(out, len, who, "getsid", SYS_getsid, 72);
	expect_errno(out, len, who, "getpriority", SYS_getpriority, 74);
	expect_status(out, len, who, 2, 2);
}

static void *t1_main(void *arg)
{
	(void)arg;
	char c;
	pthread_barrier_wait(&ready);
	while (read(t1_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	check_shared(t1_res, sizeof t1_res, "thread T1");
	return NULL;
}

static void *t2_main(void *arg)
{
	(void)arg;
	char c;
	t2_tid = (pid_t)syscall(SYS_gettid);
	if (install(0, SYS_getsid, 76, SYS_getsid, 76, SECCOMP_RET_ERRNO) != 0)
		snprintf(t2_res, sizeof t2_res, "setup: T2's filter: %s", strerror(errno));
	pthread_barrier_wait(&ready);
	while (read(t2_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	if (*t2_res)
		return NULL;
	expect_errno(t2_res, sizeof t2_res, "thread T2", "getppid", SYS_getppid, 73);
	expect_errno(t2_res, sizeof t2_res, "thread T2", "getsid", SYS_getsid, 76);
	expect_errno(t2_res, sizeof t2_res, "thread T2", "getpriority", SYS_getpriority, 74);
	expect_status(t2_res, sizeof t2_res, "thread T2", 2, 3);
	return NULL;
}

/* the --big thread: 7 filters of 4096 instructions (4094 loads, then the two returns) */
static void *big_main(void *arg)
{
	(void)arg;
	static struct sock_filter f[4096];
	for (int i = 0; i < 7 && !*t1_res; i++) {
		for (int k = 0; k < 4093; k++)
			f[k] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
		f[4093] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1);
		f[4094] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)(80 + i));
		f[4095] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog p = { .len = 4096, .filter = f };
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p) != 0)
			snprintf(t1_res, sizeof t1_res, "setup: big filter %d: %s", i, strerror(errno));
	}
	pthread_barrier_wait(&ready);
	char c;
	while (read(t1_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	if (*t1_res)
		return NULL;
	expect_errno(t1_res, sizeof t1_res, "the thread", "getppid", SYS_getppid, 86);
	expect_status(t1_res, sizeof t1_res, "the thread", 2, 7);
	return NULL;
}

static void run_big(void)
{
	pthread_t t;
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		case_setup_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	case_pipe(t1_pipe, "the thread's");
	pthread_barrier_init(&ready, NULL, 2);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	if (pthread_create(&t, NULL, big_main, NULL))
		case_setup_fail("pthread_create");
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	pthread_barrier_wait(&ready);
	if (*t1_res)
		case_setup_fail("%s", t1_res);
	case_ready();
	case_wait_term();
	char res[256] = "";
	if (syscall(SYS_getppid) <= 0)
		case_fail("main: getppid failed (errno %d): it has no filter", errno);
	expect_status(res, sizeof res, "main", 0, 0);
	if (*res)
		case_fail("%s", res);
	if (write(t1_pipe[1], "x", 1) != 1)
		case_fail("cannot wake the thread");
	pthread_join(t, NULL);
	if (*t1_res)
		case_fail("%s", t1_res);
	case_finish();
}

static void *idle_main(void *arg)
{
	(void)arg;
	char c;
	pthread_barrier_wait(&ready);
	while (read(t1_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void run_partial(void)
{
	pthread_t t[3];
	pid_t tids[3];
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		case_setup_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	case_pipe(t1_pipe, "the threads'");
	pthread_barrier_init(&ready, NULL, 2);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	for (int i = 0; i < 3; i++) {
		if (i == 1 && install(0, SYS_getppid, 71, SYS_getppid, 71, SECCOMP_RET_ERRNO) != 0)
			case_setup_fail("installing F1: %s", strerror(errno));
		if (pthread_create(&t[i], NULL, idle_main, NULL))
			case_setup_fail("pthread_create");
		pthread_barrier_wait(&ready);
	}
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.' && atoi(e->d_name) != getpid() && n < 3)
			tids[n++] = atoi(e->d_name);
	if (d)
		closedir(d);
	if (n != 3)
		case_setup_fail("%d threads listed", n);
	case_ready();
	case_wait_term();
	long r = install(SECCOMP_FILTER_FLAG_TSYNC, SYS_sysinfo, 77, SYS_sysinfo, 77, SECCOMP_RET_ERRNO);
	if (r != 0)
		case_fail("a TSYNC filter gave %ld (errno %d), want 0: the filter main shares with T1 and T2 is not shared as before", r, errno);
	for (int i = 0; i < 3 && r == 0; i++) {
		char path[64], buf[4096];
		snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tids[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t len = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		if (fd >= 0)
			close(fd);
		buf[len > 0 ? len : 0] = 0;
		if (!strstr(buf, "Seccomp_filters:\t2\n"))
			case_fail("thread %d does not have 2 filters after the TSYNC", (int)tids[i]);
	}
	case_finish();
}

static void strict_child(int in, int out)
{
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
		_exit(3);
	char c;
	for (;;) {
		if (read(in, &c, 1) != 1)
			syscall(SYS_exit, 4);
		if (c == 'k')
			syscall(SYS_getpid); /* killed here */
		if (write(out, "A", 1) != 1)
			syscall(SYS_exit, 5);
	}
}

static void run_strict(void)
{
	int to[2], from[2];
	case_pipe(to, "to the strict child");
	case_pipe(from, "from the strict child");
	pid_t s = fork();
	if (s < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (s == 0) {
		close(to[1]);
		close(from[0]);
		strict_child(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	char c;
	if (write(to[1], "a", 1) != 1 || case_read_full(from[0], &c, 1, case_now_ms() + 10000) != 1)
		case_setup_fail("the strict child does not answer");
	case_ready();
	case_wait_term();
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)s);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (!strstr(buf, "Seccomp:\t1\n"))
		case_fail("the strict child's status does not say Seccomp 1");
	if (write(to[1], "a", 1) != 1 || case_read_full(from[0], &c, 1, case_now_ms() + 10000) != 1 || c != 'A')
		case_fail("the strict child does not answer after the restart");
	int st = 0;
	if (write(to[1], "k", 1) != 1 || case_reap(s, 10000, &st) != 1)
		case_fail("the strict child did not end after a forbidden getpid");
	else if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		case_fail("the strict child's getpid did not kill it (status 0x%x): strict mode is gone", st);
	case_finish();
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	if (case_has_flag(argc, argv, "--strict"))
		run_strict();
	if (case_has_flag(argc, argv, "--big"))
		run_big();
	if (case_has_flag(argc, argv, "--partial"))
		run_partial();
	if (case_has_flag(argc, argv, "--notify")) {
		long fd = install(SECCOMP_FILTER_FLAG_NEW_LISTENER, SYS_getppid, 0, SYS_getsid, 72, SECCOMP_RET_USER_NOTIF);
		if (fd < 0)
			case_setup_fail("a listener's filter: %s", strerror(errno));
		close((int)fd);
		case_ready();
		case_wait_term();
		case_finish();
	}
	nnp = !case_has_flag(argc, argv, "--no-nnp");
	if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		case_setup_fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	case_pipe(t1_pipe, "T1's");
	case_pipe(t2_pipe, "T2's");
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	pthread_barrier_init(&ready, NULL, 3);
	pthread_t t1, t2;
	if (pthread_create(&t1, NULL, t1_main, NULL))
		case_setup_fail("pthread_create");
	if (install(SECCOMP_FILTER_FLAG_TSYNC, SYS_getppid, 71, SYS_getsid, 72, SECCOMP_RET_ERRNO) != 0 ||
	    install(SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG, SYS_getppid, 73, SYS_getpriority, 74, SECCOMP_RET_ERRNO) != 0)
		case_setup_fail("installing the filters: %s", strerror(errno));
	if (pthread_create(&t2, NULL, t2_main, NULL))
		case_setup_fail("pthread_create");
	pthread_barrier_wait(&ready);
	if (*t2_res)
		case_setup_fail("%s", t2_res);
	int cp[2];
	case_pipe(cp, "the child's");
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		char c, res[256] = "";
		while (read(cp[0], &c, 1) < 0 && errno == EINTR)
			;
		check_shared(res, sizeof res, "child");
		_exit(*res ? 1 : 0);
	}
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	case_ready();
	case_wait_term();

	char res[256] = "";
	check_shared(res, sizeof res, "main");
	if (*res)
		case_fail("%s", res);
	/* a TSYNC filter while both threads live: T1 shares main's chain, T2 does not (it has F3
	 * on top): the kernel refuses, naming T2 (it would name T1 if T1 did not share) */
	long r = install(SECCOMP_FILTER_FLAG_TSYNC, SYS_sysinfo, 77, SYS_sysinfo, 77, SECCOMP_RET_ERRNO);
	if (r != t2_tid)
		case_fail("a TSYNC filter gave %ld (errno %d), want %d (thread T2): the threads' filters are not shared as before", r, errno, (int)t2_tid);
	if (write(t1_pipe[1], "x", 1) != 1 || write(t2_pipe[1], "x", 1) != 1 || write(cp[1], "x", 1) != 1)
		case_fail("cannot wake the threads and the child");
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (*t1_res)
		case_fail("%s", t1_res);
	if (*t2_res)
		case_fail("%s", t2_res);
	int st = 0;
	if (case_reap(child, 10000, &st) != 1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		case_fail("the child's filters are not F1 and F2 as before (status 0x%x)", st);
	case_finish();
}
