// build: gcc -O2 -g -Wall -Wextra -o sigsuspend_wait sigsuspend_wait.c
/*
 * sigsuspend_wait.c - a process waiting in sigsuspend() must survive, and
 * its real signal mask must come back after sigsuspend returns.
 *
 *   sigsuspend_wait --out FILE
 *
 * SIGTERM and SIGUSR1 are blocked; the SIGTERM handler (sa_flags 0) sets
 * the flag; the program loops sigsuspend(mask without SIGTERM) until the
 * flag is set.  Every return must be -1/EINTR, and afterwards the blocked
 * mask must be exactly {SIGTERM, SIGUSR1} (the actual set is reported).
 */
#include "case.h"

/* " TERM USR1 ..." for the members of set. */
static void describe(const sigset_t *set, char *out, size_t outsz)
{
    size_t len = 0;
    out[0] = 0;
    for (int s = 1; s < NSIG; s++) {
        if (sigismember(set, s) != 1)
            continue;
        const char *name = sigabbrev_np(s);
        int w;
        if (name)
            w = snprintf(out + len, outsz - len, " %s", name);
        else if (s >= SIGRTMIN && s <= SIGRTMAX)
            w = snprintf(out + len, outsz - len, " RTMIN+%d", s - SIGRTMIN);
        else
            w = snprintf(out + len, outsz - len, " %d", s);
        if (w < 0 || (size_t)w >= outsz - len)
            break;
        len += (size_t)w;
    }
    if (len == 0)
        snprintf(out, outsz, " (none)");
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);

    sigset_t block, waitmask, expected;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &block, NULL) != 0)
        case_setup_fail("sigprocmask: %s", strerror(errno));
    if (sigprocmask(SIG_BLOCK, NULL, &expected) != 0)
        case_setup_fail("sigprocmask query: %s", strerror(errno));
    waitmask = expected;
    sigdelset(&waitmask, SIGTERM);

    /* The launcher starts us with an empty mask; insist on exactly {TERM, USR1}. */
    char desc[512];
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&expected, s) != (s == SIGTERM || s == SIGUSR1)) {
            describe(&expected, desc, sizeof desc);
            case_setup_fail("initial blocked mask is {%s } (launch with an empty mask)", desc);
        }

    case_ready();

    unsigned long calls = 0, bad_call = 0;
    int bad_r = 0, bad_errno = 0;
    while (!case_term) {
        calls++;
        int r = sigsuspend(&waitmask);
        int e = errno;
        if ((r != -1 || e != EINTR) && !bad_call) {
            bad_call = calls;
            bad_r = r;
            bad_errno = e;
        }
    }

    /* the mask check is reported first */
    sigset_t now;
    if (sigprocmask(SIG_BLOCK, NULL, &now) != 0) {
        case_fail("sigprocmask query: %s", strerror(errno));
    } else {
        int same = 1;
        for (int s = 1; s < NSIG; s++)
            if (sigismember(&now, s) != sigismember(&expected, s))
                same = 0;
        if (!same) {
            describe(&now, desc, sizeof desc);
            case_fail("after sigsuspend the blocked mask is {%s }, expected { USR1 TERM }", desc);
        }
    }
    if (bad_call && bad_r != -1)
        case_fail("sigsuspend call %lu returned %d, expected -1", bad_call, bad_r);
    else if (bad_call)
        case_fail("sigsuspend call %lu failed with errno %d (%s), expected EINTR", bad_call,
                  bad_errno, case_errname(bad_errno));
    case_finish();
}
