// build: gcc -O2 -g -Wall -Wextra -o eof eof.c
/*
 * eof.c - after a restart the restored tree alone holds its files: when the last task holding
 * a pipe's write end exits, the reader sees end of file (nothing else keeps the pipe open).
 *
 *   eof --out FILE
 *
 * Set up: P makes pipe D and forks C, which alone holds D's write end (P closed it) and waits
 * for a byte on a request pipe. After SIGTERM P asks C to exit, reaps it, then must read EOF
 * from D within 5 s. PASS or FAIL: reason.
 */
#include "case.h"

#include <poll.h>

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int d[2], rq[2];
    case_pipe(d, "data");
    case_pipe(rq, "request");
    pid_t c = fork();
    if (c < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (c == 0) {
        int keep[2] = { d[1], rq[0] };
        case_close_fds_except(keep, 2);
        char x;
        _exit(read(rq[0], &x, 1) == 1 ? 0 : 3);
    }
    close(d[1]);
    close(rq[0]);
    case_ready();
    case_wait_term();

    if (write(rq[1], "x", 1) != 1)
        case_fail("cannot ask C to exit");
    case_reap_child("C", c, 5000);
    struct pollfd pf = { .fd = d[0], .events = POLLIN }; /* end of file: POLLHUP */
    if (poll(&pf, 1, 5000) != 1)
        case_fail("no end of file on the pipe 5 s after its last writer exited (someone else holds it)");
    else {
        char b;
        ssize_t n = read(d[0], &b, 1);
        if (n != 0)
            case_fail("read %zd instead of end of file", n);
    }
    case_finish();
}
