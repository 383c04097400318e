// build: gcc -O2 -g -Wall -Wextra -o timers timers.c -lrt
/*
 * timers.c - POSIX timers keep their ids, notification and time.
 *
 *   timers --out FILE [--expect-fired]
 *
 * Set up: timer P (CLOCK_MONOTONIC, SIGRTMIN+2 with value 77) firing every 30 ms; timer L
 * (CLOCK_MONOTONIC, one-shot in 5 s); timer A (CLOCK_REALTIME, SIGRTMIN+3, one-shot in 600 ms).
 * After SIGTERM: P still fires with value 77 and L is still armed (at most 5 s left), both at
 * their ids; with --expect-fired (a restart with --timers=absolute long after the checkpoint)
 * A must have fired within 100 ms.
 */
#include "case.h"

#include <time.h>

static volatile sig_atomic_t p_count, p_bad, a_fired;

static void on_p(int s, siginfo_t *si, void *u)
{
	(void)s, (void)u;
	if (si->si_value.sival_int == 77)
		p_count++;
	else
		p_bad++;
}

static void on_a(int s) { (void)s; a_fired = 1; }

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int expect_fired = 0;
	for (int i = 1; i < argc; i++)
		expect_fired |= !strcmp(argv[i], "--expect-fired");
	struct sigaction sa = { .sa_sigaction = on_p, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGRTMIN + 2, &sa, NULL);
	signal(SIGRTMIN + 3, on_a);
	timer_t p, l, a;
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 2, .sigev_value.sival_int = 77 };
	struct sigevent none = { .sigev_notify = SIGEV_NONE };
	struct sigevent ea = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 3 };
	if (timer_create(CLOCK_MONOTONIC, &ev, &p) || timer_create(CLOCK_MONOTONIC, &none, &l) ||
	    timer_create(CLOCK_REALTIME, &ea, &a))
		case_setup_fail("timer_create: %s", strerror(errno));
	struct itimerspec pi = { { 0, 30000000 }, { 0, 30000000 } }, li = { { 0, 0 }, { 5, 0 } }, ai = { { 0, 0 }, { 0, 600000000 } };
	timer_settime(p, 0, &pi, NULL);
	timer_settime(l, 0, &li, NULL);
	timer_settime(a, 0, &ai, NULL);
	case_ready();
	while (!case_term)
		pause();
	if (expect_fired) {
		for (int i = 0; i < 10 && !a_fired; i++)
			usleep(10000);
		if (!a_fired)
			case_fail("the missed 600 ms timer did not fire at once");
	}
	int c0 = p_count;
	for (int i = 0; i < 50 && p_count < c0 + 3; i++)
		usleep(10000);
	if (p_count < c0 + 3)
		case_fail("periodic timer stopped (%d deliveries in 500 ms)", p_count - c0);
	if (p_bad)
		case_fail("periodic timer delivered %d signals with the wrong value", (int)p_bad);
	struct itimerspec now;
	if (timer_gettime(l, &now))
		case_fail("timer_gettime(L): %s (id lost)", strerror(errno));
	else if ((now.it_value.tv_sec == 0 && now.it_value.tv_nsec == 0) || now.it_value.tv_sec >= 5)
		case_fail("L has %ld.%09ld s left, expected between 0 and 5", (long)now.it_value.tv_sec, now.it_value.tv_nsec);
	case_finish();
}
