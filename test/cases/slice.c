// build: gcc -O2 -g -Wall -Wextra -pthread -o slice slice.c
/*
 * slice.c - each thread's time slice (Linux 6.12 on: sched_setattr with a sched_runtime for
 * SCHED_OTHER and SCHED_BATCH) comes back, and so does the default one.
 *
 *   slice --out FILE
 *
 * The main thread takes a slice of 3 ms, a thread of its own 5 ms, a SCHED_BATCH thread 2 ms,
 * a thread started with the main thread's 3 ms (inherited) keeps it, and one thread goes back
 * to the default (sched_setattr without a runtime). Each thread's sched_getattr is recorded;
 * after SIGTERM every thread must report the same policy and runtime. A restart that dropped
 * the slices (or made the default one a slice of its own value) fails it only where they
 * differ: the 3, 5 and 2 ms ones.
 */
#include "case.h"

#include <pthread.h>
#include <sys/syscall.h>

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t umin, umax;
};

#define NT 4
static pid_t tids[NT + 1];
static volatile int ready;

static int get(pid_t tid, struct attr *a)
{
	memset(a, 0, sizeof *a);
	return (int)syscall(SYS_sched_getattr, tid, a, sizeof *a, 0);
}

static int set_self(uint32_t policy, uint64_t runtime)
{
	struct attr a = { .size = sizeof a, .policy = policy, .runtime = runtime };
	return (int)syscall(SYS_sched_setattr, 0, &a, 0);
}

static void *worker(void *arg)
{
	long i = (long)arg;
	int r = 0;
	if (i == 1)
		r = set_self(0, 5000000);
	else if (i == 2)
		r = set_self(3, 2000000);
	else if (i == 4)
		r = set_self(0, 0); /* the default again */
	if (r)
		case_setup_fail("thread %ld: sched_setattr: %s", i, strerror(errno));
	tids[i] = (pid_t)syscall(SYS_gettid);
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
	case_thread_idle();
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	struct attr a;
	if (get(0, &a) || a.runtime == 0)
		case_setup_fail("no time slices on this kernel (sched_getattr reports none: Linux 6.12 or later)");
	if (set_self(0, 3000000))
		case_setup_fail("sched_setattr: %s", strerror(errno));
	tids[0] = getpid();
	for (long i = 1; i <= NT; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, worker, (void *)i))
			case_setup_fail("pthread_create");
	}
	while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < NT)
		usleep(1000);
	struct attr before[NT + 1];
	for (int i = 0; i <= NT; i++)
		if (get(tids[i], &before[i]))
			case_setup_fail("sched_getattr %d: %s", tids[i], strerror(errno));
	if (before[0].runtime != 3000000 || before[1].runtime != 5000000 || before[2].runtime != 2000000 || before[3].runtime != 3000000 ||
	    before[4].runtime == 3000000)
		case_setup_fail("the slices are not as set: %llu %llu %llu %llu %llu", (unsigned long long)before[0].runtime,
				(unsigned long long)before[1].runtime, (unsigned long long)before[2].runtime,
				(unsigned long long)before[3].runtime, (unsigned long long)before[4].runtime);
	case_ready();
	while (!case_term)
		pause();
	for (int i = 0; i <= NT && !case_failed; i++) {
		struct attr now;
		if (get(tids[i], &now))
			case_fail("sched_getattr %d: %s", tids[i], strerror(errno));
		else if (now.policy != before[i].policy || now.runtime != before[i].runtime || now.nice != before[i].nice)
			case_fail("thread %d: policy %u runtime %llu nice %d, expected policy %u runtime %llu nice %d", tids[i], now.policy,
				  (unsigned long long)now.runtime, now.nice, before[i].policy, (unsigned long long)before[i].runtime,
				  before[i].nice);
	}
	case_finish();
}
