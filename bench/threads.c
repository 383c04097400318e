/*
 * threads.c - benchmark workload: one process with many threads.
 *
 *   threads --out FILE --threads N
 *
 * N threads in all: the main one and N-1 others (64 KiB stacks), each waiting on one shared
 * futex word after recording its tid and a thread-local value. Ready once all wait. On SIGTERM
 * the main thread wakes them; each checks that its tid and thread-local value are still its
 * own and returns; the main thread joins them all and writes PASS if every one checked out.
 */
#include "../test/cases/case.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

static int stop; /* the futex word */
static int started;
static pid_t *tids;
static char *oks;
static __thread long tls;

static void *worker(void *arg)
{
	long i = (long)arg;
	tls = 1000 + i;
	tids[i] = (pid_t)syscall(SYS_gettid);
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &stop, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	oks[i] = tids[i] == (pid_t)syscall(SYS_gettid) && tls == 1000 + i;
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_close_fds_except(NULL, 0);
	const char *t = case_arg(argc, argv, "--threads");
	long n = t ? atol(t) : 0;
	if (n < 1 || n > 100000)
		case_die_usage(argv[0], "--threads 1..100000");
	case_install_sigterm(0);
	pid_t self = getpid();
	tids = calloc((size_t)n, sizeof *tids);
	oks = calloc((size_t)n, 1);
	pthread_t *th = calloc((size_t)n, sizeof *th);
	if (!tids || !oks || !th)
		case_setup_fail("out of memory");
	/* the workers never take SIGTERM: the main thread does */
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 1; i < n; i++) {
		int e = pthread_create(&th[i], &attr, worker, (void *)i);
		if (e)
			case_setup_fail("thread %ld of %ld: %s", i, n, strerror(e));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < n - 1)
		usleep(1000);
	case_ready();
	case_wait_term();
	if (getpid() != self)
		case_fail("pid changed");
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &stop, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	for (long i = 1; i < n; i++) {
		pthread_join(th[i], NULL);
		if (!oks[i])
			case_fail("thread %ld (tid %d) lost its tid or thread-local value", i, tids[i]);
	}
	case_finish();
}
