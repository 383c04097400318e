// build: gcc -O2 -g -Wall -Wextra -pthread -o affinity affinity.c
/*
 * affinity.c - each thread's CPU affinity (sched_setaffinity) comes back.
 *
 *   affinity --out FILE
 *
 * The main thread is bound to the last CPU it may use, a second thread T to the first one
 * (both the same CPU on a one-CPU machine). After SIGTERM, sched_getaffinity of each must give
 * exactly the mask it had. PASS or FAIL: reason.
 */
#include "case.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

static volatile int stop;
static pid_t t_tid;
static cpu_set_t t_want;

static void *thread_main(void *arg)
{
    (void)arg;
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, NULL);
    t_tid = (pid_t)syscall(SYS_gettid);
    if (sched_setaffinity(0, sizeof t_want, &t_want))
        t_tid = -1;
    while (!stop)
        pause();
    return NULL;
}

static void expect_mask(pid_t tid, const cpu_set_t *want, const char *who)
{
    cpu_set_t got;
    if (sched_getaffinity(tid, sizeof got, &got)) {
        case_fail("%s: sched_getaffinity: %s", who, strerror(errno));
        return;
    }
    if (!CPU_EQUAL(&got, want))
        case_fail("%s: affinity has %d CPUs (first %d), expected %d CPUs (first %d)", who, CPU_COUNT(&got),
                  CPU_ISSET(0, &got) ? 0 : 1, CPU_COUNT(want), CPU_ISSET(0, want) ? 0 : 1);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    cpu_set_t all, m_want;
    if (sched_getaffinity(0, sizeof all, &all))
        case_setup_fail("sched_getaffinity: %s", strerror(errno));
    int first = -1, last = -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &all)) {
            if (first < 0)
                first = i;
            last = i;
        }
    CPU_ZERO(&m_want);
    CPU_SET(last, &m_want);
    CPU_ZERO(&t_want);
    CPU_SET(first, &t_want);
    if (sched_setaffinity(0, sizeof m_want, &m_want))
        case_setup_fail("sched_setaffinity: %s", strerror(errno));
    pthread_t th;
    if (pthread_create(&th, NULL, thread_main, NULL))
        case_setup_fail("pthread_create");
    while (!t_tid)
        case_sleep_ms(1);
    if (t_tid < 0)
        case_setup_fail("the thread's sched_setaffinity failed");
    case_ready();
    case_wait_term();
    expect_mask(0, &m_want, "main thread");
    expect_mask(t_tid, &t_want, "thread T");
    case_finish();
}
