// build: gcc -O2 -g -Wall -Wextra -o flockshare flockshare.c
/*
 * flockshare.c - a flock held through an open file that a parent and its child share (by fork)
 * stays the open file's: it is released only when both have closed it.
 *
 *   flockshare --out FILE
 *
 * P opens FILE.lk (fd A), flock(A, LOCK_EX), forks C which keeps A. After SIGTERM, P checks with a
 * new open file that the lock is held, and shown taken by P (its fdinfo "lock:" line, as
 * /proc/locks), closes A: still held (C has A); asks C to close A: now free. PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/file.h>

/* The pid the "lock:" line of fd's fdinfo gives the flock (who took it, as /proc/locks shows
 * it), -1: none. */
static int taker(int fd)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    if (case_read_text(path, buf, sizeof buf) <= 0)
        return -1;
    const char *l = strstr(buf, "FLOCK");
    int pid = -1;
    if (!l || sscanf(l, "FLOCK %*s %*s %d", &pid) != 1)
        return -1;
    return pid;
}

static int held(const char *path)
{
    int e = open(path, O_RDWR);
    if (e < 0)
        return -1;
    int r = flock(e, LOCK_EX | LOCK_NB);
    int busy = r < 0 && errno == EWOULDBLOCK;
    close(e); /* releases it if we got it */
    return busy;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lk", case_out);
    int a = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (a < 0 || flock(a, LOCK_EX | LOCK_NB))
        case_setup_fail("flock: %s", strerror(errno));
    int rq[2], an[2];
    pid_t c = case_fork_talker(rq, an, &a, 1);
    if (c == 0) {
        char x;
        if (read(rq[0], &x, 1) != 1) /* close A when asked */
            _exit(3);
        close(a);
        _exit(write(an[1], "c", 1) == 1 && read(rq[0], &x, 1) >= 0 ? 0 : 4);
    }
    case_ready();
    case_wait_term();

    if (held(path) != 1)
        case_fail("the flock is not held after the restart");
    else if (taker(a) != getpid())
        case_fail("the flock is shown taken by process %d, not by P (%d) which took it", taker(a), (int)getpid());
    close(a);
    if (held(path) != 1)
        case_fail("the flock went with the parent's close: the child's fd does not hold it");
    char x;
    if (write(rq[1], "c", 1) != 1 || case_wait_readable(an[0], 10000) != 1 || read(an[0], &x, 1) != 1)
        case_fail("C did not close its fd");
    else if (held(path) != 0)
        case_fail("the flock is still held after both closed the open file");
    close(rq[1]);
    case_reap_child("C", c, 5000);
    unlink(path);
    case_finish();
}
