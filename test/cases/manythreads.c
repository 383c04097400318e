// build: gcc -O2 -g -Wall -Wextra -pthread -o manythreads manythreads.c
/*
 * manythreads.c - N threads, each with its own tid, name, TLS value, signal mask and a value
 * held in a local variable (a register or its stack), survive and keep working.
 *
 *   manythreads --out FILE --threads N
 *
 * Every worker blocks in FUTEX_WAIT on its own request word. A round (the main thread stores
 * the round number in every request word and wakes it) makes each worker check itself and
 * answer with the round number: its tid, name, TLS value and signal mask are still its own,
 * and its local chain value equals the copy it left in memory (then both advance). One round
 * runs before ready. SIGHUP (any number of times, e.g. after a checkpoint that let the process
 * run on) runs one more round and writes "PASS" or "FAIL: reason" to FILE.round. After SIGTERM
 * two more rounds must be answered by every worker (within 30 s), /proc/self/task must list
 * exactly N+1 threads, then the workers are told to stop, joined, and the value each returns
 * is checked.
 */
#include "case.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define STOP 0xffffffffu

static int n;
static uint32_t *req, *ans;      /* per worker: the round asked for, the round answered */
static uint64_t *chain_mem;      /* per worker: the copy of its local chain value */
static pid_t *tids;
static char (*fails)[96];        /* per worker: its first failure, "" if none */
static __thread long tls;
static volatile sig_atomic_t round_asked;

static void on_hup(int sig)
{
	(void)sig;
	round_asked = 1;
}

static uint64_t step(uint64_t x)
{
	return x * 6364136223846793005ULL + 1442695040888963407ULL;
}

static int blocked_sig(long i)
{
	return i % 2 ? SIGUSR2 : SIGUSR1;
}

static void wfail(long i, const char *what)
{
	if (!fails[i][0])
		snprintf(fails[i], sizeof fails[i], "%s", what);
}

static void check_self(long i, uint64_t chain, const char *name)
{
	if (tids[i] != (pid_t)syscall(SYS_gettid))
		wfail(i, "tid changed");
	if (tls != 5000 + i)
		wfail(i, "TLS value lost");
	if (chain != chain_mem[i])
		wfail(i, "local chain value differs from its copy in memory (registers or stack lost)");
	char now[16] = "";
	prctl(PR_GET_NAME, now);
	if (strcmp(now, name))
		wfail(i, "name changed");
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	if (!sigismember(&cur, SIGTERM) || !sigismember(&cur, SIGHUP) || !sigismember(&cur, blocked_sig(i)) ||
	    sigismember(&cur, blocked_sig(i + 1)))
		wfail(i, "signal mask changed");
}

static void *worker(void *arg)
{
	long i = (long)arg;
	char name[16];
	snprintf(name, sizeof name, "mt-%ld", i);
	prctl(PR_SET_NAME, name);
	tls = 5000 + i;
	tids[i] = (pid_t)syscall(SYS_gettid);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, blocked_sig(i));
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	uint64_t chain = case_splitmix((uint64_t)i + 1);
	chain_mem[i] = chain;
	uint32_t seen = 0;
	for (;;) {
		uint32_t r = __atomic_load_n(&req[i], __ATOMIC_ACQUIRE);
		if (r == seen) {
			syscall(SYS_futex, &req[i], FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
			continue; /* woken, interrupted or not equal: look again */
		}
		seen = r;
		check_self(i, chain, name);
		if (r == STOP)
			break;
		chain = step(chain);
		chain_mem[i] = chain;
		__atomic_store_n(&ans[i], r, __ATOMIC_RELEASE);
	}
	return (void *)(tls * 3);
}

/* Asks every worker for round r; 0 when all answered before the deadline. */
static int round_trip(uint32_t r, int64_t ms)
{
	for (int i = 0; i < n; i++) {
		__atomic_store_n(&req[i], r, __ATOMIC_RELEASE);
		syscall(SYS_futex, &req[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	int64_t deadline = case_now_ms() + ms;
	for (int i = 0; i < n; i++)
		while (__atomic_load_n(&ans[i], __ATOMIC_ACQUIRE) != r) {
			if (case_now_ms() > deadline) {
				case_fail("worker %d (tid %d) did not answer round %u", i, tids[i], r);
				return -1;
			}
			case_sleep_ms(1);
		}
	return 0;
}

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int c = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			c++;
	closedir(d);
	return c;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	const char *nt = case_arg(argc, argv, "--threads");
	n = nt ? atoi(nt) : 0;
	if (n < 1 || n > 20000)
		case_die_usage(argv[0], "--threads N (1..20000) is required");
	case_install_sigterm(0);
	struct sigaction sa = { .sa_handler = on_hup };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGHUP, &sa, NULL))
		case_setup_fail("sigaction(SIGHUP): %s", strerror(errno));
	req = calloc((size_t)n, sizeof *req);
	ans = calloc((size_t)n, sizeof *ans);
	chain_mem = calloc((size_t)n, sizeof *chain_mem);
	tids = calloc((size_t)n, sizeof *tids);
	fails = calloc((size_t)n, sizeof *fails);
	pthread_t *th = calloc((size_t)n, sizeof *th);
	if (!req || !ans || !chain_mem || !tids || !fails || !th)
		case_setup_fail("out of memory");
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++) {
		int e = pthread_create(&th[i], &attr, worker, (void *)i);
		if (e)
			case_setup_fail("pthread_create %ld: %s", i, strerror(e));
	}
	if (round_trip(1, 30000))
		case_setup_fail("%s", case_fail_msg);
	sigset_t wake, old;
	sigemptyset(&wake);
	sigaddset(&wake, SIGHUP);
	sigaddset(&wake, SIGTERM);
	sigprocmask(SIG_BLOCK, &wake, &old); /* no signal lost between the checks and the wait */
	case_ready();
	uint32_t r = 1;
	while (!case_term) {
		if (!round_asked) {
			sigsuspend(&old);
		} else {
			round_asked = 0;
			int ok = round_trip(++r, 30000) == 0;
			for (int i = 0; i < n && ok; i++)
				if (fails[i][0]) {
					case_fail("worker %d (tid %d): %s", i, tids[i], fails[i]);
					ok = 0;
				}
			char text[sizeof case_fail_msg + 16];
			snprintf(text, sizeof text, ok ? "PASS\n" : "FAIL: %s\n", case_fail_msg);
			case_write_aux(".round", text);
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);

	if (round_trip(r + 1, 30000) == 0)
		round_trip(r + 2, 30000);
	int tasks = count_tasks();
	if (tasks != n + 1)
		case_fail("/proc/self/task lists %d threads, expected %d", tasks, n + 1);
	for (int i = 0; i < n; i++) {
		__atomic_store_n(&req[i], STOP, __ATOMIC_RELEASE);
		syscall(SYS_futex, &req[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	for (int i = 0; i < n; i++) {
		void *r;
		if (pthread_join(th[i], &r))
			case_fail("pthread_join %d failed", i);
		else if ((long)r != (5000 + i) * 3)
			case_fail("worker %d returned %ld", i, (long)r);
		if (fails[i][0])
			case_fail("worker %d (tid %d): %s", i, tids[i], fails[i]);
	}
	case_finish();
}
