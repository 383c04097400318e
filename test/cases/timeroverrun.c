// build: gcc -O2 -g -Wall -Wextra -o timeroverrun timeroverrun.c -lrt
/*
 * timeroverrun.c - the overrun count of a POSIX timer's last delivered signal
 * (timer_getoverrun) comes back.
 *
 *   timeroverrun --out FILE
 *
 * A periodic CLOCK_MONOTONIC timer (interval 20 s, signal SIGRTMIN blocked) is armed with an
 * absolute first expiry 5.5 intervals in the past: it fires at once and its signal, taken with
 * sigwaitinfo, carries 5 overruns; timer_getoverrun says 5 and the next expiry is ~10 s away.
 * After SIGTERM timer_getoverrun must still say 5, and the timer must still be armed with the
 * same interval and at most its interval left.
 */
#include "case.h"

#include <time.h>

#define IV 20

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &s, NULL);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN };
    timer_t t;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t))
        case_setup_fail("timer_create: %s", strerror(errno));
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec its = { .it_interval = { IV, 0 } };
    its.it_value.tv_sec = now.tv_sec - 5 * IV - IV / 2;
    its.it_value.tv_nsec = now.tv_nsec;
    if (its.it_value.tv_sec <= 0)
        case_setup_fail("the monotonic clock is too young");
    if (timer_settime(t, TIMER_ABSTIME, &its, NULL))
        case_setup_fail("timer_settime: %s", strerror(errno));
    siginfo_t si;
    if (sigwaitinfo(&s, &si) != SIGRTMIN)
        case_setup_fail("sigwaitinfo: %s", strerror(errno));
    int ov = timer_getoverrun(t);
    if (si.si_overrun != 5 || ov != 5)
        case_setup_fail("overruns %d / %d, expected 5", si.si_overrun, ov);
    case_ready();
    case_wait_term();

    ov = timer_getoverrun(t);
    if (ov != 5)
        case_fail("timer_getoverrun says %d, expected 5", ov);
    struct itimerspec cur;
    if (timer_gettime(t, &cur))
        case_fail("timer_gettime: %s", strerror(errno));
    else if (cur.it_interval.tv_sec != IV || cur.it_value.tv_sec >= IV ||
             (cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0))
        case_fail("the timer is %lld s + %lld s interval", (long long)cur.it_value.tv_sec,
                  (long long)cur.it_interval.tv_sec);
    case_finish();
}
