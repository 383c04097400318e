// build: gcc -O2 -g -Wall -Wextra -o inheritlocks inheritlocks.c
/*
 * inheritlocks.c - large fd tables inherited over two generations keep each task's own
 *                  close-on-exec bits, its locks taken through inherited fds, and a number
 *                  pointed at another inherited file.
 *
 *   inheritlocks --out FILE
 *
 * The parent P opens FILE.lk three times (A, F, O) and makes 40 pipes (80 fds from 100 up, a
 * byte queued in each, close-on-exec on the even fds). P takes an exclusive flock through A.
 * Its child C inherits everything, toggles close-on-exec on every fd whose number is a multiple
 * of 3, and takes a POSIX write lock on bytes 300-399 through the inherited F. C's child G
 * inherits C's table, toggles close-on-exec on every fd whose number is 1 mod 5, takes a POSIX
 * write lock on bytes 500-599 through F and an OFD write lock on bytes 700-799 through O,
 * makes its fd of pipe 39's write end a second fd of pipe 0's write end (dup2), and sets
 * O_NONBLOCK on pipe 5's read end (an open file all three share).
 * (Tables of 80+ fds: the checkpoint leaves the fdinfo of a task's inherited fds unread and asks
 * the task for their close-on-exec bits, kernel/fd-prefetch.ts.)
 *
 * After SIGTERM each task checks its own table: every fd's close-on-exec bit, pipe 5's read end
 * non-blocking, pipe 39's write end (G: pipe 0's); P also checks the locks from a new open file
 * (flock held, 300-399 by C, 500-599 by G, 700-799 by an OFD lock, 0-99 free) and the queued
 * bytes, then ends C, which ends G; each child's verdict is its exit status (FILE.child,
 * FILE.grand). PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define NPIPES 40
static int pfd[NPIPES][2];
static char lk[PATH_MAX + 8];

/* the close-on-exec bit each task gave fd */
static int want_cloexec(int fd, int gen)
{
    int on = fd % 2 == 0;
    if (gen >= 1 && fd % 3 == 0)
        on = !on;
    if (gen >= 2 && fd % 5 == 1)
        on = !on;
    return on;
}

/* toggles close-on-exec on every pipe fd whose number is rem mod mod */
static void toggle(int mod, int rem, const char *who)
{
    for (int i = 0; i < NPIPES; i++)
        for (int e = 0; e < 2; e++) {
            int fd = pfd[i][e], fl = fd % mod == rem ? fcntl(fd, F_GETFD) : 0;
            if (fd % mod == rem && (fl < 0 || fcntl(fd, F_SETFD, fl ^ FD_CLOEXEC) < 0))
                case_child_die(who, "F_SETFD %d: %s", fd, strerror(errno));
        }
}

static ino_t ino_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static void check_table(int gen)
{
    for (int i = 0; i < NPIPES; i++)
        for (int e = 0; e < 2; e++) {
            int fd = pfd[i][e];
            int fl = fcntl(fd, F_GETFD);
            if (fl < 0)
                case_fail("gen %d: F_GETFD %d: %s", gen, fd, strerror(errno));
            else if (!!(fl & FD_CLOEXEC) != want_cloexec(fd, gen))
                case_fail("gen %d: fd %d: close-on-exec %d, expected %d", gen, fd, !!(fl & FD_CLOEXEC), want_cloexec(fd, gen));
        }
    int st = fcntl(pfd[5][0], F_GETFL);
    if (st < 0 || !(st & O_NONBLOCK))
        case_fail("gen %d: pipe 5's read end (fd %d) is not non-blocking", gen, pfd[5][0]);
    int same = ino_of(pfd[39][1]) == ino_of(pfd[0][1]);
    if (same != (gen == 2))
        case_fail("gen %d: fd %d is %s pipe 0's write end", gen, pfd[39][1], same ? "" : "not");
}

/* Ends a child with SIGTERM and takes its verdict (its exit status, its aux file). */
static void end_child(pid_t pid, const char *suffix)
{
    int status = 0;
    if (kill(pid, SIGTERM) < 0 || waitpid(pid, &status, 0) != pid) {
        case_fail("child %d: %s", (int)pid, strerror(errno));
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[512] = "", p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s%s", case_out, suffix);
        case_read_text(p, why, sizeof why);
        why[strcspn(why, "\n")] = 0;
        case_fail("%s: status 0x%x: %s", suffix, status, why);
    }
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    snprintf(lk, sizeof lk, "%s.lk", case_out);
    int a = open(lk, O_RDWR | O_CREAT | O_TRUNC, 0600), f = open(lk, O_RDWR), o = open(lk, O_RDWR);
    if (a < 0 || f < 0 || o < 0 || flock(a, LOCK_EX | LOCK_NB))
        case_setup_fail("%s: %s", lk, strerror(errno));
    for (int i = 0; i < NPIPES; i++) {
        int p[2];
        char c = (char)('A' + i % 26);
        if (pipe(p) < 0 || write(p[1], &c, 1) != 1)
            case_setup_fail("pipe: %s", strerror(errno));
        for (int e = 0; e < 2; e++) {
            int to = 100 + 2 * i + e;
            if (dup2(p[e], to) != to || close(p[e]) < 0 || fcntl(to, F_SETFD, want_cloexec(to, 0) ? FD_CLOEXEC : 0) < 0)
                case_setup_fail("fd %d: %s", to, strerror(errno));
            pfd[i][e] = to;
        }
    }
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        case_setup_fail("pipe: %s", strerror(errno));

    pid_t c = fork();
    if (c < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (c == 0) {
        toggle(3, 0, "C");
        struct flock cl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 300, .l_len = 100 };
        if (fcntl(f, F_SETLK, &cl) < 0)
            case_child_die("C", "POSIX lock: %s", strerror(errno));
        pid_t g = fork();
        if (g < 0)
            case_child_die("C", "fork: %s", strerror(errno));
        if (g == 0) {
            toggle(5, 1, "G");
            struct flock gl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 500, .l_len = 100 };
            struct flock ol = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 700, .l_len = 100 };
            if (fcntl(f, F_SETLK, &gl) < 0 || fcntl(o, F_OFD_SETLK, &ol) < 0)
                case_child_die("G", "locks: %s", strerror(errno));
            /* pipe 39's write end number now holds pipe 0's write end, with G's bit for it */
            int keep = fcntl(pfd[39][1], F_GETFD);
            if (dup2(pfd[0][1], pfd[39][1]) != pfd[39][1] || fcntl(pfd[39][1], F_SETFD, keep) < 0)
                case_child_die("G", "dup2: %s", strerror(errno));
            int st = fcntl(pfd[5][0], F_GETFL);
            if (st < 0 || fcntl(pfd[5][0], F_SETFL, st | O_NONBLOCK) < 0)
                case_child_die("G", "F_SETFL: %s", strerror(errno));
            if (write(ready[1], "g", 1) != 1)
                _exit(3);
            while (!case_term)
                pause();
            check_table(2);
            case_finish_aux(".grand");
        }
        if (write(ready[1], "c", 1) != 1)
            _exit(3);
        while (!case_term)
            pause();
        check_table(1);
        end_child(g, ".grand");
        case_finish_aux(".child");
    }
    char x[2];
    for (int got = 0; got < 2;) {
        if (case_wait_readable(ready[0], 10000) != 1)
            case_setup_fail("the children did not get ready");
        ssize_t n = read(ready[0], x, sizeof x - (size_t)got);
        if (n <= 0)
            case_setup_fail("the children did not get ready");
        got += (int)n;
    }
    case_ready();
    case_wait_term();

    check_table(0);
    int e = open(lk, O_RDWR);
    if (e < 0)
        case_fail("reopen: %s", strerror(errno));
    else {
        if (flock(e, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
            case_fail("the exclusive flock is gone");
        case_lock_probe(e, F_WRLCK, 0, 100, 0, F_UNLCK, "bytes 0-99 (free)");
        case_lock_probe(e, F_WRLCK, 300, 100, c, F_WRLCK, "bytes 300-399 (C's POSIX lock)");
        /* G's pid: C's only child */
        char kids[64] = "", p[64];
        snprintf(p, sizeof p, "/proc/%d/task/%d/children", (int)c, (int)c);
        case_read_text(p, kids, sizeof kids);
        case_lock_probe(e, F_WRLCK, 500, 100, (pid_t)atoi(kids), F_WRLCK, "bytes 500-599 (G's POSIX lock)");
        case_lock_probe(e, F_WRLCK, 700, 100, -1, F_WRLCK, "bytes 700-799 (G's OFD lock)");
    }
    for (int i = 0; i < NPIPES && !case_failed; i++) {
        char b = 0, want = (char)('A' + i % 26);
        if (read(pfd[i][0], &b, 1) != 1 || b != want)
            case_fail("pipe %d (fd %d): no byte %c", i, pfd[i][0], want);
    }
    end_child(c, ".child"); /* C ends G: nothing is left running, whatever failed */
    unlink(lk);
    case_finish();
}
