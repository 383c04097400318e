// build: gcc -O2 -g -Wall -Wextra -o highfd highfd.c
/*
 * highfd.c - an fd far above the usual limits must come back at its number.
 *
 *   highfd --out FILE [--fd N]
 *
 * Raises its own RLIMIT_NOFILE (soft and hard) to N + 1 (default 60000 + 1; root may raise the
 * hard limit), creates a pipe, moves its read end to fd N with dup2 and keeps the write end at
 * fd N - 1, and writes "hello" into it. After SIGTERM: fd N is the read end of a pipe holding
 * "hello", fd N - 1 its write end (same pipe: a byte written there is read from fd N), and the
 * limit is still N + 1.
 */
#include "case.h"

#include <sys/resource.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    const char *a = case_arg(argc, argv, "--fd");
    int n = a ? atoi(a) : 60000;
    struct rlimit l = { (rlim_t)n + 1, (rlim_t)n + 1 };
    if (setrlimit(RLIMIT_NOFILE, &l) < 0)
        case_setup_fail("setrlimit(RLIMIT_NOFILE, %d): %s", n + 1, strerror(errno));
    int p[2];
    if (pipe(p) < 0 || dup2(p[0], n) != n || dup2(p[1], n - 1) != n - 1)
        case_setup_fail("pipe/dup2 to %d: %s", n, strerror(errno));
    close(p[0]);
    close(p[1]);
    if (write(n - 1, "hello", 5) != 5)
        case_setup_fail("write: %s", strerror(errno));
    case_ready();
    case_wait_term();

    struct rlimit now;
    if (getrlimit(RLIMIT_NOFILE, &now) < 0 || now.rlim_cur != (rlim_t)n + 1)
        case_fail("RLIMIT_NOFILE is %llu, expected %d", (unsigned long long)now.rlim_cur, n + 1);
    struct stat r, w;
    if (fstat(n, &r) < 0 || fstat(n - 1, &w) < 0 || !S_ISFIFO(r.st_mode) || r.st_ino != w.st_ino)
        case_fail("fds %d and %d are not the two ends of one pipe", n, n - 1);
    char buf[8] = { 0 };
    if (read(n, buf, 5) != 5 || memcmp(buf, "hello", 5))
        case_fail("fd %d reads \"%s\", expected hello", n, buf);
    if (write(n - 1, "x", 1) != 1 || read(n, buf, 1) != 1 || buf[0] != 'x')
        case_fail("a byte written to fd %d is not read from fd %d", n - 1, n);
    case_finish();
}
