// build: gcc -O2 -g -Wall -Wextra -o sleeper sleeper.c
/*
 * sleeper.c - a process sleeping in nanosleep() must survive.
 *
 *   sleeper --out FILE
 *
 * Right after ready: one 300 ms clock_nanosleep(CLOCK_MONOTONIC) that must
 * complete (return 0 after >= 300 ms; EINTR is accepted only if SIGTERM was
 * handled).  Then loop nanosleep(3600 s) until the SIGTERM handler
 * (installed without SA_RESTART) sets the flag.  Every
 * nanosleep that returns -1 must have errno EINTR (anything else, e.g. a
 * leaked kernel-internal 512/516, fails), and none may return 0 (a one
 * hour sleep cannot complete during a test).
 */
#include "case.h"

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);

    case_ready();

    /* Right after ready, so a checkpoint taken at once catches it: a 300 ms
     * relative sleep that must complete (return 0, after >= 300 ms of
     * CLOCK_MONOTONIC); only a real SIGTERM may cut it short. */
    struct timespec t0, t1, req = {0, 300 * 1000 * 1000}, rem;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (r == 0) {
        if (ms < 300)
            case_fail("300 ms clock_nanosleep returned 0 after only %lld ms", ms);
    } else if (r == EINTR) {
        if (!case_term)
            case_fail("300 ms clock_nanosleep returned EINTR after %lld ms but no signal "
                      "was handled (restart lost)", ms);
    } else {
        case_fail("300 ms clock_nanosleep returned %d (%s), expected 0", r, case_errname(r));
    }

    unsigned long calls = 0;
    while (!case_term) {
        struct timespec hour = {3600, 0};
        calls++;
        r = nanosleep(&hour, &rem);
        if (r == -1) {
            int e = errno;
            if (e != EINTR)
                case_fail("nanosleep call %lu returned -1 errno %d (%s), expected EINTR", calls,
                          e, case_errname(e));
        } else if (r == 0) {
            case_fail("nanosleep(3600 s) call %lu returned 0 (sleep completed)", calls);
        } else {
            case_fail("nanosleep call %lu returned %d", calls, r);
        }
    }
    case_finish();
}
