// build: gcc -O2 -g -Wall -Wextra -pthread -o thrtimers thrtimers.c -lrt
/*
 * thrtimers.c - POSIX timers that a thread created, aimed at a thread (SIGEV_THREAD_ID), keep
 * their ids, their target thread and their value.
 *
 *   thrtimers --out FILE
 *
 * Set up: worker A creates timer TA (CLOCK_MONOTONIC, every 20 ms, SIGRTMIN+3 to itself with
 * value 11); the main thread creates TB (every 25 ms, SIGRTMIN+4 to worker B, value 22). Every
 * thread blocks both signals; each worker takes its own with sigtimedwait and checks si_timerid,
 * si_value and that nothing else arrives. After SIGTERM: both timers are still at their ids
 * with their intervals (timer_gettime), and each worker receives at least three more of its
 * timer's signals, never the other's.
 */
#include "case.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

static timer_t ta, tb;
static volatile int count[2], bad[2], stop;
static volatile pid_t tid[2];
static pthread_barrier_t ready;

static void *worker(void *arg)
{
	long i = (long)arg;
	tid[i] = (pid_t)syscall(SYS_gettid);
	if (i == 0) {
		struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 3, .sigev_value.sival_int = 11 };
		ev._sigev_un._tid = tid[0];
		struct itimerspec it = { { 0, 20000000 }, { 0, 20000000 } };
		if (timer_create(CLOCK_MONOTONIC, &ev, &ta) || timer_settime(ta, 0, &it, NULL))
			case_setup_fail("timer A: %s", strerror(errno));
	}
	pthread_barrier_wait(&ready);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 3);
	sigaddset(&s, SIGRTMIN + 4);
	while (!stop) {
		siginfo_t si;
		struct timespec t = { 0, 50000000 };
		int r = sigtimedwait(&s, &si, &t);
		if (r < 0)
			continue;
		int want_sig = i ? SIGRTMIN + 4 : SIGRTMIN + 3, want_val = i ? 22 : 11;
		timer_t want_id = i ? tb : ta;
		if (r == want_sig && si.si_value.sival_int == want_val && si.si_timerid == (int)(intptr_t)want_id && si.si_code == SI_TIMER)
			count[i]++;
		else
			bad[i]++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 3);
	sigaddset(&s, SIGRTMIN + 4);
	sigaddset(&s, SIGTERM);
	sigprocmask(SIG_BLOCK, &s, NULL); /* inherited by the workers: SIGTERM is the main thread's */
	pthread_barrier_init(&ready, NULL, 3);
	pthread_t th[2];
	for (long i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			case_setup_fail("pthread_create");
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	while (!tid[1] || !tid[0])
		case_sleep_ms(1);
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 4, .sigev_value.sival_int = 22 };
	ev._sigev_un._tid = tid[1];
	struct itimerspec it = { { 0, 25000000 }, { 0, 25000000 } };
	if (timer_create(CLOCK_MONOTONIC, &ev, &tb) || timer_settime(tb, 0, &it, NULL))
		case_setup_fail("timer B: %s", strerror(errno));
	pthread_barrier_wait(&ready);
	while (count[0] < 2 || count[1] < 2)
		case_sleep_ms(5);
	case_ready();
	case_wait_term();

	int c0 = count[0], c1 = count[1];
	int64_t end = case_now_ms() + 5000;
	while ((count[0] < c0 + 3 || count[1] < c1 + 3) && case_now_ms() < end)
		case_sleep_ms(5);
	if (count[0] < c0 + 3)
		case_fail("worker A got %d signals of its timer after the restart", count[0] - c0);
	if (count[1] < c1 + 3)
		case_fail("worker B got %d signals of its timer after the restart", count[1] - c1);
	struct itimerspec now;
	if (timer_gettime(ta, &now) || now.it_interval.tv_nsec != 20000000)
		case_fail("timer A lost (id or interval)");
	if (timer_gettime(tb, &now) || now.it_interval.tv_nsec != 25000000)
		case_fail("timer B lost (id or interval)");
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	if (bad[0] || bad[1])
		case_fail("signals that were not the thread's own timer's: %d at A, %d at B", bad[0], bad[1]);
	case_finish();
	return 0;
}
