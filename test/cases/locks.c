// build: gcc -O2 -g -Wall -Wextra -o locks locks.c
/*
 * locks.c - file locks come back with their owners.
 *
 *   locks --out FILE
 *
 * Set up on FILE.lk: the parent P takes an exclusive flock through fd A (its child C shares
 * that open file by fork), an OFD write lock on bytes 0-9 through fd B, a POSIX read lock on
 * bytes 100-199 through fd P1; C takes a POSIX write lock from byte 300 to the end through its
 * own fd C1.
 * After SIGTERM P opens the file again (a new open file) and checks with flock and F_OFD_GETLK:
 * the flock is held, bytes 0-9 are locked by an OFD lock (pid -1), 100-199 by P, 300- by C,
 * 200-299 free. PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/file.h>

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lk", case_out);
    int a = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), b = open(path, O_RDWR), p1 = open(path, O_RDWR);
    struct flock ofd = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    struct flock px = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 100 };
    if (a < 0 || b < 0 || p1 < 0 || flock(a, LOCK_EX | LOCK_NB) || fcntl(b, F_OFD_SETLK, &ofd) || fcntl(p1, F_SETLK, &px))
        case_setup_fail("locks: %s", strerror(errno));
    int rq[2], an[2];
    pid_t c = case_fork_talker(rq, an, &a, 1); /* C keeps A: the flocked open file is shared */
    if (c == 0) {
        int c1 = open(path, O_RDWR);
        struct flock cl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 300, .l_len = 0 };
        char x = 'r';
        if (c1 < 0 || fcntl(c1, F_SETLK, &cl) || write(an[1], &x, 1) != 1)
            _exit(3);
        _exit(read(rq[0], &x, 1) == 1 ? 0 : 4); /* holds its lock until P is done */
    }
    char x;
    if (case_wait_readable(an[0], 10000) != 1 || read(an[0], &x, 1) != 1)
        case_setup_fail("the child did not lock");
    case_ready();
    case_wait_term();

    int e = open(path, O_RDWR);
    if (e < 0)
        case_fail("reopen: %s", strerror(errno));
    if (flock(e, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
        case_fail("the exclusive flock is gone");
    case_lock_probe(e, F_WRLCK, 0, 10, -1, F_WRLCK, "bytes 0-9 (OFD lock)");
    case_lock_probe(e, F_WRLCK, 100, 100, getpid(), F_RDLCK, "bytes 100-199 (P's POSIX lock)");
    case_lock_probe(e, F_WRLCK, 300, 50, c, F_WRLCK, "bytes 300- (C's POSIX lock)");
    case_lock_probe(e, F_WRLCK, 200, 100, 0, F_UNLCK, "bytes 200-299 (free)");
    if (write(rq[1], "d", 1) != 1)
        case_fail("cannot release C");
    case_reap_child("C", c, 5000);
    unlink(path);
    case_finish();
}
