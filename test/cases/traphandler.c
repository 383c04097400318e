// build: gcc -O2 -g -Wall -Wextra -pthread -o traphandler traphandler.c
/*
 * traphandler.c - a process's SIGTRAP action (and with it every other action, the masks and
 * the pending signals) is left as it was by a checkpoint, completed or failed, and comes back
 * exactly at a restart: the helper's injected calls end with int3 (or are single-stepped),
 * whose forced SIGTRAP resets SIG_IGN, and with SIGTRAP blocked a handler too, to SIG_DFL.
 *
 *   traphandler --out FILE [--ignore | --default] [--block] [--threads N] [--pending main|shared|thread]
 *
 * Set up: SIGTRAP handled (SA_RESTART | SA_SIGINFO, SIGUSR2 in its mask), or with --ignore
 * SIG_IGN (SA_RESTART, SIGUSR2 in its mask), or with --default left at the kernel's default;
 * a few other actions (SIGUSR1 ignored, SIGHUP and SIGRTMIN+3 handled with flags); SIGUSR2 and
 * SIGRTMIN+2 blocked, and with --block SIGTRAP too; SIGUSR2 pending for the process, SIGRTMIN+2
 * (value 77) for the main thread; N threads (at most 8), thread i blocking SIGUSR2, SIGTERM,
 * SIGRTMIN+4+i and (--block, odd i) SIGTRAP, with SIGRTMIN+4+i (value 100+i) pending for it;
 * with --pending (and --block) a SIGTRAP pending too, for the main thread (value 55), the
 * process (kill) or thread 1 (value 66), which the checkpoint's and the restart's traps
 * must not take: it is taken with its siginfo (code, sender, value) after SIGTERM.
 * After SIGTERM: every action (handler, flags, restorer, mask: 1-64) is what it was; each
 * thread's SigPnd/ShdPnd/SigBlk/SigIgn/SigCgt (its /proc/self/task/TID/status) is what it was;
 * each thread reads its own mask and takes its own signal with its value; SIGTRAP then acts as
 * set: raise(SIGTRAP) runs the handler once or (ignored) does nothing, and by default kills (a
 * forked child, with SIGTRAP unblocked, dies of it).
 */
#include "case.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAXT 8

struct kact {
	uint64_t handler, flags, restorer, mask;
};

static volatile sig_atomic_t traps, other;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int nready, go, block_trap, trap_for_1;
static struct {
	pthread_t th;
	pid_t tid;
	uint64_t mask;
	char result[160];
} thr[MAXT + 1]; /* [0]: the main thread */

static void on_trap(int s, siginfo_t *si, void *u)
{
	(void)s, (void)si, (void)u;
	traps++;
}

static void on_other(int s)
{
	(void)s;
	other++;
}

static uint64_t mask_now(void)
{
	uint64_t m = 0;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
	return m;
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

/* The signal lines of a thread's status (SigQ left out: the user's count, not the thread's). */
static void sig_lines(pid_t tid, char *out, size_t len)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	case_read_text(path, buf, sizeof buf);
	size_t o = 0;
	out[0] = 0;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "SigPnd:", 7) || !strncmp(l, "ShdPnd:", 7) || !strncmp(l, "SigBlk:", 7) ||
		    !strncmp(l, "SigIgn:", 7) || !strncmp(l, "SigCgt:", 7))
			o += (size_t)snprintf(out + o, len - o, "%s ", l);
}

/* SIGTRAP in the lines of sig_lines: 1 in SigIgn, 2 in SigCgt (3: both, -1: not read). */
static int trap_bits(const char *l)
{
	const char *i = strstr(l, "SigIgn:"), *c = strstr(l, "SigCgt:");
	if (!i || !c)
		return -1;
	return (int)(strtoull(i + 7, NULL, 16) >> (SIGTRAP - 1) & 1) | (int)(strtoull(c + 7, NULL, 16) >> (SIGTRAP - 1) & 1) << 1;
}

/* The pending SIGTRAP of this thread (or of the process) taken: 1 when there as sent by this
 * process, with sigqueue's value (SI_QUEUE), or by kill (value 0: SI_USER). */
static char trap_seen[80];

static int trap_taken(int value)
{
	sigset_t t;
	sigemptyset(&t);
	sigaddset(&t, SIGTRAP);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	struct timespec zero = { 0, 0 };
	int r = sigtimedwait(&t, &si, &zero);
	snprintf(trap_seen, sizeof trap_seen, "got %d, code %d, from %d", r, si.si_code, (int)si.si_pid);
	return r == SIGTRAP && si.si_code == (value ? SI_QUEUE : SI_USER) && si.si_pid == getpid() && si.si_uid == getuid() &&
	       (!value || si.si_value.sival_int == value);
}

/* Its mask read back and its own signal taken, once the main thread says so. */
static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	thr[i].tid = (pid_t)syscall(SYS_gettid);
	thr[i].mask = bit(SIGUSR2) | bit(SIGTERM) | bit(SIGRTMIN + 4 + i) | (block_trap && i % 2 ? bit(SIGTRAP) : 0);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &thr[i].mask, NULL, 8);
	pthread_mutex_lock(&mu);
	nready++;
	pthread_cond_broadcast(&cv);
	while (go != 2)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	uint64_t now = mask_now();
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGRTMIN + 4 + i);
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	if (now != thr[i].mask)
		snprintf(thr[i].result, sizeof thr[i].result, "thread %d: mask %#llx, was %#llx", i, (unsigned long long)now,
			 (unsigned long long)thr[i].mask);
	else if (sigtimedwait(&one, &si, &zero) != SIGRTMIN + 4 + i || si.si_value.sival_int != 100 + i)
		snprintf(thr[i].result, sizeof thr[i].result, "thread %d: its pending SIGRTMIN+%d is lost", i, 4 + i);
	else if (i == 1 && trap_for_1 && !trap_taken(66))
		snprintf(thr[i].result, sizeof thr[i].result, "thread 1: its pending SIGTRAP is lost or changed: %s", trap_seen);
	else
		snprintf(thr[i].result, sizeof thr[i].result, "ok");
	return NULL;
}

static void act(int sig, void (*h)(int), int flags)
{
	struct sigaction sa = { .sa_handler = h, .sa_flags = flags };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(sig, &sa, NULL))
		case_setup_fail("sigaction(%d): %s", sig, strerror(errno));
}

/* With SIGTRAP at its default: a child (it inherits the action) dies of raise(SIGTRAP). */
static void default_kills(void)
{
	pid_t c = fork();
	if (c == 0) {
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none);
		uint64_t t = bit(SIGTRAP);
		syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &t, NULL, 8);
		raise(SIGTRAP);
		_exit(0);
	}
	int st;
	if (c < 0 || waitpid(c, &st, 0) != c)
		case_fail("cannot fork a child to raise SIGTRAP");
	else if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTRAP)
		case_fail("raise(SIGTRAP) with its default action did not kill (status %#x)", st);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int ignore = case_has_flag(argc, argv, "--ignore"), dfl = case_has_flag(argc, argv, "--default");
	const char *nt = case_arg(argc, argv, "--threads");
	int n = nt ? atoi(nt) : 0;
	if (n < 0 || n > MAXT)
		case_die_usage(argv[0], "--threads N: 0 to 8");
	block_trap = case_has_flag(argc, argv, "--block");
	if (ignore)
		act(SIGTRAP, SIG_IGN, SA_RESTART);
	else if (!dfl) {
		struct sigaction sa = { .sa_sigaction = on_trap, .sa_flags = SA_SIGINFO | SA_RESTART };
		sigemptyset(&sa.sa_mask);
		sigaddset(&sa.sa_mask, SIGUSR2);
		if (sigaction(SIGTRAP, &sa, NULL))
			case_setup_fail("sigaction: %s", strerror(errno));
	}
	act(SIGUSR1, SIG_IGN, SA_RESTART);
	act(SIGHUP, on_other, SA_ONSTACK | SA_NODEFER);
	act(SIGRTMIN + 3, on_other, SA_RESETHAND);
	thr[0].tid = getpid();
	thr[0].mask = bit(SIGUSR2) | bit(SIGRTMIN + 2) | (block_trap ? bit(SIGTRAP) : 0);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &thr[0].mask, NULL, 8);
	for (int i = 1; i <= n; i++)
		if (pthread_create(&thr[i].th, NULL, worker, (void *)(intptr_t)i))
			case_setup_fail("pthread_create failed");
	pthread_mutex_lock(&mu);
	while (nready != n)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	kill(getpid(), SIGUSR2);
	pthread_sigqueue(pthread_self(), SIGRTMIN + 2, (union sigval){ .sival_int = 77 });
	for (int i = 1; i <= n; i++)
		pthread_sigqueue(thr[i].th, SIGRTMIN + 4 + i, (union sigval){ .sival_int = 100 + i });
	const char *pnd = case_arg(argc, argv, "--pending");
	if (pnd && !strcmp(pnd, "main"))
		pthread_sigqueue(pthread_self(), SIGTRAP, (union sigval){ .sival_int = 55 });
	else if (pnd && !strcmp(pnd, "shared"))
		kill(getpid(), SIGTRAP);
	else if (pnd && !strcmp(pnd, "thread") && n >= 1)
		pthread_sigqueue(thr[1].th, SIGTRAP, (union sigval){ .sival_int = 66 }), trap_for_1 = 1;
	else if (pnd)
		case_die_usage(argv[0], "--pending main|shared|thread (thread: with --threads)");
	/* what must come back: every action (after pthread_create: glibc's 32 and 33 set), each
	 * thread's signal lines */
	static struct kact start[65], now;
	static char lines[MAXT + 1][512], cur[512];
	for (int s = 1; s <= 64; s++)
		syscall(SYS_rt_sigaction, s, NULL, &start[s], 8);
	for (int i = 0; i <= n; i++)
		sig_lines(thr[i].tid, lines[i], sizeof lines[i]);
	if (trap_bits(lines[0]) != (ignore ? 1 : dfl ? 0 : 2))
		case_setup_fail("SIGTRAP in SigIgn/SigCgt: %d (%s)", trap_bits(lines[0]), lines[0]);
	case_ready();
	case_wait_term();

	for (int s = 1; s <= 64; s++) {
		memset(&now, 0, sizeof now);
		syscall(SYS_rt_sigaction, s, NULL, &now, 8);
		if (memcmp(&now, &start[s], sizeof now))
			case_fail("signal %d: action %#llx flags %#llx restorer %#llx mask %#llx, was %#llx %#llx %#llx %#llx", s,
				  (unsigned long long)now.handler, (unsigned long long)now.flags, (unsigned long long)now.restorer,
				  (unsigned long long)now.mask, (unsigned long long)start[s].handler, (unsigned long long)start[s].flags,
				  (unsigned long long)start[s].restorer, (unsigned long long)start[s].mask);
	}
	for (int i = 0; i <= n; i++) {
		sig_lines(thr[i].tid, cur, sizeof cur);
		if (strcmp(cur, lines[i]))
			case_fail("thread %d: %s; was %s", i, cur, lines[i]);
	}
	sig_lines(getpid(), cur, sizeof cur);
	static const char *const as[] = { "unreadable", "in neither", "ignored", "caught", "ignored and caught" };
	int tb = trap_bits(cur);
	if (tb != (ignore ? 1 : dfl ? 0 : 2))
		case_fail("SIGTRAP is %s in SigIgn/SigCgt, set %s", as[tb + 1], ignore ? "ignored" : dfl ? "to its default" : "caught");
	if (mask_now() != thr[0].mask)
		case_fail("main thread: mask %#llx, was %#llx", (unsigned long long)mask_now(), (unsigned long long)thr[0].mask);
	pthread_mutex_lock(&mu);
	go = 2;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 1; i <= n; i++) {
		pthread_join(thr[i].th, NULL);
		if (strcmp(thr[i].result, "ok"))
			case_fail("%s", thr[i].result);
	}
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 2);
	if (sigtimedwait(&set, &si, &zero) != SIGRTMIN + 2 || si.si_value.sival_int != 77)
		case_fail("the main thread's pending SIGRTMIN+2 is lost");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	if (sigtimedwait(&set, &si, &zero) != SIGUSR2)
		case_fail("the process's pending SIGUSR2 is lost");
	if (pnd && strcmp(pnd, "thread") && !trap_taken(strcmp(pnd, "main") ? 0 : 55))
		case_fail("the pending SIGTRAP (%s) is lost or changed: %s", pnd, trap_seen);
	if (!case_failed) { /* SIGTRAP acts as set */
		uint64_t t = bit(SIGTRAP);
		syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &t, NULL, 8);
		if (dfl)
			default_kills();
		else {
			raise(SIGTRAP);
			sigpending(&set);
			if (!ignore && traps != 1)
				case_fail("raise(SIGTRAP) ran the handler %d times", (int)traps);
			if (ignore && (traps || sigismember(&set, SIGTRAP)))
				case_fail("raise(SIGTRAP) was not ignored");
		}
	}
	case_finish();
	return 0;
}
