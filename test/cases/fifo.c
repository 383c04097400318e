// build: gcc -O2 -g -Wall -Wextra -o fifo fifo.c
/*
 * fifo.c - named pipes keep their queued bytes and their ends.
 *
 *   fifo --out FILE
 *
 * Set up: FIFO FILE.fifo1 read by the parent P (O_RDONLY|O_NONBLOCK) and written by the child
 * C (O_WRONLY), with "hello, " queued; FIFO FILE.fifo2 opened O_RDWR by P alone, with
 * "rdwr-data" queued. C waits for a request on an anonymous pipe.
 * After SIGTERM: P reads "hello, " from fifo1, then EAGAIN (non-blocking kept); asks C to write
 * "world"; reads it; checks fifo1's path in /proc/self/fd, both access modes, and reads
 * "rdwr-data" back from fifo2 (then EAGAIN: it is still O_NONBLOCK... it was opened without it,
 * so P sets O_NONBLOCK itself before the second read). P reaps C and writes PASS or FAIL.
 */
#include "case.h"

#include <sys/stat.h>

static void expect_read(int fd, const char *want, const char *what)
{
    char buf[64] = { 0 };
    size_t n = strlen(want);
    if (case_wait_readable(fd, 5000) != 1) {
        case_fail("%s: nothing to read", what);
        return;
    }
    ssize_t got = read(fd, buf, n);
    if (got != (ssize_t)n || memcmp(buf, want, n))
        case_fail("%s: read %zd bytes \"%.*s\", expected \"%s\"", what, got, got > 0 ? (int)got : 0, buf, want);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char f1[PATH_MAX + 8], f2[PATH_MAX + 8];
    snprintf(f1, sizeof f1, "%s.fifo1", case_out);
    snprintf(f2, sizeof f2, "%s.fifo2", case_out);
    unlink(f1);
    unlink(f2);
    if (mkfifo(f1, 0600) || mkfifo(f2, 0600))
        case_setup_fail("mkfifo: %s", strerror(errno));
    int rd = open(f1, O_RDONLY | O_NONBLOCK);
    int rw = open(f2, O_RDWR);
    int rq[2];
    case_pipe(rq, "request");
    if (rd < 0 || rw < 0 || write(rw, "rdwr-data", 9) != 9)
        case_setup_fail("open FIFOs: %s", strerror(errno));
    pid_t c = fork();
    if (c < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (c == 0) {
        int w = open(f1, O_WRONLY);
        int keep[2] = { rq[0], w };
        case_close_fds_except(keep, 2);
        if (w < 0 || write(w, "hello, ", 7) != 7)
            _exit(3);
        char x;
        if (read(rq[0], &x, 1) != 1) /* the parent's request, after restart */
            _exit(4);
        _exit(write(w, "world", 5) == 5 ? 0 : 5);
    }
    close(rq[0]);
    if (case_wait_readable(rd, 10000) != 1)
        case_setup_fail("the child wrote nothing");
    case_ready();
    case_wait_term();

    expect_read(rd, "hello, ", "fifo1 queued bytes");
    char x;
    if (read(rd, &x, 1) != -1 || errno != EAGAIN)
        case_fail("fifo1: read end is no longer non-blocking and empty");
    if (write(rq[1], "w", 1) != 1)
        case_fail("cannot ask the child to write");
    expect_read(rd, "world", "fifo1 written by the child after restart");
    char link[PATH_MAX + 8] = { 0 }, self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", rd);
    if (readlink(self, link, sizeof link - 1) < 0 || strcmp(link, f1))
        case_fail("fifo1 fd is now \"%s\"", link);
    int fl1 = fcntl(rd, F_GETFL), fl2 = fcntl(rw, F_GETFL);
    if ((fl1 & O_ACCMODE) != O_RDONLY || !(fl1 & O_NONBLOCK))
        case_fail("fifo1 fd flags 0%o", fl1);
    if ((fl2 & O_ACCMODE) != O_RDWR || (fl2 & O_NONBLOCK))
        case_fail("fifo2 fd flags 0%o", fl2);
    expect_read(rw, "rdwr-data", "fifo2 queued bytes");
    fcntl(rw, F_SETFL, fl2 | O_NONBLOCK);
    if (read(rw, &x, 1) != -1 || errno != EAGAIN)
        case_fail("fifo2 holds more than was queued");
    int st = 0;
    if (case_reap(c, 5000, &st) != 1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        case_fail("the child ended with status 0x%x", st);
    unlink(f1);
    unlink(f2);
    case_finish();
}
