// build: gcc -O2 -g -Wall -Wextra -o launcher launcher.c
/*
 * launcher.c - start a test program with clean process state.
 *
 *   launcher --stdin FILE|- --stdout FILE --stderr FILE -- prog [args...]
 *
 * Opens FILE onto fd 0 (O_RDONLY; "-" keeps the inherited stdin; a fifo
 * blocks here until a writer opens it), --stdout and --stderr files onto
 * fds 1 and 2 (O_WRONLY|O_CREAT|O_TRUNC, 0644), closes every other fd,
 * calls setsid() (EPERM, i.e. already a group leader, is ignored), empties
 * the signal mask, resets every signal disposition to SIG_DFL and execvp()s
 * prog, so the program keeps the launcher's pid.  On any failure it
 * writes a message to stderr and exits 127.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/wait.h>
#include <time.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, "launcher: ", 10);
    w = write(2, buf, (size_t)n);
    (void)w;
    _exit(127);
}

static void usage(void)
{
    die("usage: launcher --stdin FILE|- --stdout FILE --stderr FILE -- prog [args...]");
}

/* Put fd onto target (closing fd unless it already is target). */
static void place(int fd, int target, const char *what)
{
    if (fd == target)
        return;
    if (dup2(fd, target) != target)
        die("dup2 %s onto fd %d: %s", what, target, strerror(errno));
    close(fd);
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *err = NULL;
    long hold_ms = -1;
    int no_setsid = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--stdin") == 0)
            in = argv[++i];
        else if (strcmp(argv[i], "--stdout") == 0)
            out = argv[++i];
        else if (strcmp(argv[i], "--stderr") == 0)
            err = argv[++i];
        else if (strcmp(argv[i], "--hold-zombie") == 0)
            hold_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--no-setsid") == 0) {
            no_setsid = 1; /* stay in the caller's session, in a group of our own (a shell job) */
            continue;
        }
        else
            usage();
    }
    if (!in || !out || !err || i >= argc)
        usage();
    char **prog = &argv[i];

    /* Open everything first so that errors still reach the original stderr. */
    int infd = -1;
    if (strcmp(in, "-") != 0) {
        infd = open(in, O_RDONLY);
        if (infd < 0)
            die("open stdin %s: %s", in, strerror(errno));
    }
    int outfd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (outfd < 0)
        die("open stdout %s: %s", out, strerror(errno));
    int errfd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (errfd < 0)
        die("open stderr %s: %s", err, strerror(errno));
    /* Move them above 2 so that placing one cannot clobber another. */
    if (infd >= 0 && infd <= 2)
        infd = fcntl(infd, F_DUPFD, 3);
    if (outfd <= 2)
        outfd = fcntl(outfd, F_DUPFD, 3);
    if (errfd <= 2)
        errfd = fcntl(errfd, F_DUPFD, 3);
    if ((strcmp(in, "-") != 0 && infd < 0) || outfd < 0 || errfd < 0)
        die("fcntl(F_DUPFD): %s", strerror(errno));
    place(errfd, 2, "stderr");
    place(outfd, 1, "stdout");
    if (infd >= 0)
        place(infd, 0, "stdin");

    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        struct rlimit rl;
        long max = 65536;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            max = (long)rl.rlim_cur;
        for (long fd = 3; fd < max; fd++)
            close((int)fd);
    }

    /* --hold-zombie MS: run the program as our child and, once it has died, keep it a
     * zombie for MS ms before reaping it (a parent that reaps late, like a busy init). */
    if (hold_ms >= 0) {
        pid_t child = fork();
        if (child < 0)
            die("fork: %s", strerror(errno));
        if (child > 0) {
            /* hold nothing of the child's: its stdio files must be its own */
            int null = open("/dev/null", O_RDWR);
            for (int fd = 0; fd <= 2; fd++)
                dup2(null, fd);
            if (null > 2)
                close(null);
            siginfo_t si;
            while (waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
                ;
            struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000L };
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
            int st;
            waitpid(child, &st, 0);
            _exit(0);
        }
    }

    if (no_setsid) {
        if (setpgid(0, 0) < 0)
            die("setpgid: %s", strerror(errno));
    } else if (setsid() < 0 && errno != EPERM)
        die("setsid: %s", strerror(errno));

    /* Raw syscalls: glibc refuses to touch its internal signals 32 and 33. */
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        unsigned long mask;
    } ksa = {SIG_DFL, 0, NULL, 0};
    for (int s = 1; s <= 64; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        if (syscall(SYS_rt_sigaction, s, &ksa, NULL, sizeof ksa.mask) != 0)
            die("rt_sigaction(%d, SIG_DFL): %s", s, strerror(errno));
    }
    unsigned long none = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none) != 0)
        die("rt_sigprocmask: %s", strerror(errno));

    execvp(prog[0], prog);
    die("execvp %s: %s", prog[0], strerror(errno));
}
