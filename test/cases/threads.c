// build: gcc -O2 -g -Wall -Wextra -pthread -o threads threads.c
/*
 * threads.c - four pthreads with TLS and a shared mutex-protected counter survive.
 *
 *   threads --out FILE
 *
 * Four workers each keep a name, a __thread value and their own count, and add to a shared counter
 * under a mutex, sleeping 1 ms between rounds. Ready once all run. After SIGTERM (handled by
 * the main thread; workers block it) the workers are stopped and joined: each must still have
 * its tid and TLS value, must have advanced after the restart, and returns a value the main
 * thread checks; the shared counter must equal the sum of the counts (the mutex still works).
 */
#include "case.h"

#include <pthread.h>
#include <sys/syscall.h>

#define N 4
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long shared;
static volatile int stop;
static volatile long counts[N];
static pid_t tids[N];
static __thread long tls;

static void *worker(void *arg)
{
	long i = (long)arg;
	char name[16];
	snprintf(name, sizeof name, "worker-%ld", i);
	pthread_setname_np(pthread_self(), name);
	tls = 1000 + i;
	tids[i] = (pid_t)syscall(SYS_gettid);
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	while (!stop) {
		pthread_mutex_lock(&lock);
		shared++;
		counts[i]++;
		pthread_mutex_unlock(&lock);
		struct timespec t = { 0, 1000000 };
		nanosleep(&t, NULL);
	}
	if (tids[i] != (pid_t)syscall(SYS_gettid))
		return (void *)-1L;
	if (tls != 1000 + i)
		return (void *)-2L;
	char now[16];
	pthread_getname_np(pthread_self(), now, sizeof now);
	if (strcmp(now, name))
		return (void *)-3L;
	return (void *)(tls * 7);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	pthread_t th[N];
	for (long i = 0; i < N; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			case_setup_fail("pthread_create");
	for (int i = 0; i < N; i++)
		while (!counts[i])
			usleep(1000);
	case_ready();
	while (!case_term)
		pause();
	long at_term[N];
	for (int i = 0; i < N; i++)
		at_term[i] = counts[i];
	usleep(50000); /* they must still be advancing */
	for (int i = 0; i < N; i++)
		if (counts[i] == at_term[i])
			case_fail("thread %d (tid %d) stopped advancing", i, tids[i]);
	stop = 1;
	long sum = 0;
	for (int i = 0; i < N; i++) {
		void *r;
		if (pthread_join(th[i], &r))
			case_fail("pthread_join %d failed", i);
		else if ((long)r != (1000 + i) * 7)
			case_fail("thread %d returned %ld (tid or TLS lost)", i, (long)r);
		sum += counts[i];
	}
	if (sum != shared)
		case_fail("shared counter %ld != sum of counts %ld", shared, sum);
	case_finish();
}
