// build: gcc -O2 -g -Wall -Wextra -o lease lease.c
/*
 * lease.c - file leases (F_SETLEASE) come back, held by the restored process: it gets SIGIO
 * when another process opens the file in a conflicting way, as before.
 *
 *   lease --out FILE [--breaking]
 *
 * Set up: FILE.r opened O_RDONLY with a read lease, FILE.w opened O_RDWR with a write lease;
 * SIGIO blocked (taken with sigtimedwait).
 * After SIGTERM: F_GETLEASE gives F_RDLCK and F_WRLCK; a child opening FILE.r for writing
 * (O_NONBLOCK) gets EWOULDBLOCK and the process gets SIGIO; the lease is released; the same
 * with FILE.w opened for reading. PASS or FAIL: reason.
 * --breaking: before ready, a child opens FILE.r for writing (blocking) and the SIGIO of the
 * break is taken: the lease is being broken (the checkpoint refuses it). After SIGTERM the
 * lease is released, and the child's open completes.
 */
#include "case.h"

#include <sys/wait.h>

static sigset_t io;

/* a child opens path with flags; its exit status: 0 opened, 1 EWOULDBLOCK, 2 other error */
static pid_t opener(const char *path, int flags)
{
    pid_t c = fork();
    if (c == 0) {
        int fd = open(path, flags);
        _exit(fd >= 0 ? 0 : errno == EWOULDBLOCK ? 1 : 2);
    }
    return c;
}

static int waited(pid_t c)
{
    int st;
    return waitpid(c, &st, 0) == c && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void got_sigio(const char *what)
{
    struct timespec ts = { 10, 0 };
    siginfo_t si;
    if (sigtimedwait(&io, &si, &ts) != SIGIO)
        case_fail("%s: no SIGIO (%s)", what, strerror(errno));
}

static void breaks(int fd, const char *path, int flags, const char *what)
{
    int st = waited(opener(path, flags | O_NONBLOCK));
    if (st != 1)
        case_fail("%s: the conflicting open gave status %d, not EWOULDBLOCK", what, st);
    got_sigio(what);
    if (fcntl(fd, F_SETLEASE, F_UNLCK))
        case_fail("%s: releasing the lease: %s", what, strerror(errno));
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int breaking = 0;
    for (int i = 1; i < argc; i++)
        breaking |= !strcmp(argv[i], "--breaking");
    char r[PATH_MAX + 8], w[PATH_MAX + 8];
    snprintf(r, sizeof r, "%s.r", case_out);
    snprintf(w, sizeof w, "%s.w", case_out);
    sigemptyset(&io);
    sigaddset(&io, SIGIO);
    sigprocmask(SIG_BLOCK, &io, NULL);
    int c1 = open(r, O_CREAT | O_WRONLY | O_TRUNC, 0600), c2 = open(w, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (c1 < 0 || c2 < 0 || close(c1) || close(c2))
        case_setup_fail("create: %s", strerror(errno));
    int R = open(r, O_RDONLY), W = open(w, O_RDWR);
    if (R < 0 || W < 0 || fcntl(R, F_SETLEASE, F_RDLCK) || fcntl(W, F_SETLEASE, F_WRLCK))
        case_setup_fail("leases: %s", strerror(errno));
    pid_t blocked = 0;
    if (breaking) {
        blocked = opener(r, O_WRONLY);
        got_sigio("the break before checkpoint");
    }
    case_ready();
    case_wait_term();

    if (breaking) {
        if (fcntl(R, F_SETLEASE, F_UNLCK))
            case_fail("releasing the lease being broken: %s", strerror(errno));
        int st = waited(blocked);
        if (st != 0)
            case_fail("the blocked open ended with status %d", st);
        case_finish();
    }
    if (fcntl(R, F_GETLEASE) != F_RDLCK || fcntl(W, F_GETLEASE) != F_WRLCK)
        case_fail("leases after restart: %d %d, expected F_RDLCK F_WRLCK", fcntl(R, F_GETLEASE), fcntl(W, F_GETLEASE));
    breaks(R, r, O_WRONLY, "the read lease");
    breaks(W, w, O_RDONLY, "the write lease");
    unlink(r);
    unlink(w);
    case_finish();
}
