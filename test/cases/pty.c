// build: gcc -O2 -g -Wall -Wextra -o pty pty.c
/*
 * pty.c - a pseudo-terminal pair inside the tree, with its session, settings and queued-free
 * traffic, comes back at its number.
 *
 *   pty --out FILE
 *
 * Set up: P opens a pty master M (/dev/pts/N) and sets its window to 40x100; C (its child)
 * becomes a session leader, opens the slave as its controlling terminal on fds 0-2, puts it in
 * raw mode without echo (VMIN 1), makes a new process group G (its own child D, which blocks
 * reading the terminal in the foreground), and makes G the terminal's foreground group.
 * After SIGTERM: M still is /dev/pts/N; P writes "hi" to M: D (foreground) reads "hi" raw and
 * answers "ok:<checks>" on the terminal, where the checks are made after restart by D: ECHO off,
 * window 40x100, ttyname(0) = /dev/pts/N, getsid = C, tcgetpgrp = its group, /dev/tty opens.
 * P reads "ok" from M (nothing echoed), then asks C (pipe) to check its own session and
 * terminal too. PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/ioctl.h>
#include <termios.h>

static char want_tty[64];

/* D: blocked reading the terminal; answers with what it finds */
__attribute__((noreturn)) static void d_main(void)
{
    char buf[8] = { 0 };
    ssize_t n = read(0, buf, 2);
    char out[200];
    struct termios t;
    struct winsize ws;
    const char *tn = ttyname(0);
    int tty = open("/dev/tty", O_RDWR);
    if (n != 2 || memcmp(buf, "hi", 2))
        snprintf(out, sizeof out, "D read %zd bytes \"%.2s\"", n, buf);
    else if (tcgetattr(0, &t) || (t.c_lflag & (ECHO | ICANON)) || t.c_cc[VMIN] != 1)
        snprintf(out, sizeof out, "D: terminal mode lost (lflag 0%o)", t.c_lflag);
    else if (ioctl(0, TIOCGWINSZ, &ws) || ws.ws_row != 40 || ws.ws_col != 100)
        snprintf(out, sizeof out, "D: window %ux%u, expected 40x100", ws.ws_row, ws.ws_col);
    else if (!tn || strcmp(tn, want_tty))
        snprintf(out, sizeof out, "D: ttyname %s, expected %s", tn ? tn : "(none)", want_tty);
    else if (tcgetpgrp(0) != getpgrp())
        snprintf(out, sizeof out, "D: foreground group %d, D's group %d", (int)tcgetpgrp(0), (int)getpgrp());
    else if (getsid(0) != getppid())
        snprintf(out, sizeof out, "D: session %d, expected its parent's %d", (int)getsid(0), (int)getppid());
    else if (tty < 0)
        snprintf(out, sizeof out, "D: /dev/tty: %s", strerror(errno));
    else
        snprintf(out, sizeof out, "ok");
    size_t len = strlen(out);
    if (write(1, out, len) != (ssize_t)len || write(1, "\n", 1) != 1)
        _exit(3);
    _exit(0);
}

/* C: session leader; after restart checks it still leads the session of that terminal */
__attribute__((noreturn)) static void c_main(int rq, int an)
{
    if (setsid() < 0)
        _exit(10);
    int s = open(want_tty, O_RDWR); /* without O_NOCTTY: becomes the controlling terminal */
    if (s < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
        _exit(11);
    if (s > 2)
        close(s);
    struct termios t;
    tcgetattr(0, &t);
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(0, TCSANOW, &t))
        _exit(12);
    pid_t d = fork();
    if (d == 0) {
        setpgid(0, 0);
        close(rq);
        close(an);
        d_main();
    }
    setpgid(d, d);
    signal(SIGTTOU, SIG_IGN);
    if (tcsetpgrp(0, d))
        _exit(13);
    char x = 'r';
    if (write(an, &x, 1) != 1 || read(rq, &x, 1) != 1)
        _exit(14);
    char out[160] = "ok";
    if (getsid(0) != getpid())
        snprintf(out, sizeof out, "C: session %d, expected its own", (int)getsid(0));
    else if (tcgetsid(0) != getpid())
        snprintf(out, sizeof out, "C: the terminal's session is %d, not C's", (int)tcgetsid(0));
    int st;
    if (!strcmp(out, "ok") && (waitpid(d, &st, 0) != d || !WIFEXITED(st) || WEXITSTATUS(st)))
        snprintf(out, sizeof out, "C: D ended with status 0x%x", st);
    _exit(write(an, out, strlen(out)) > 0 ? 0 : 15);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m) || !ptsname(m))
        case_setup_fail("posix_openpt: %s", strerror(errno));
    snprintf(want_tty, sizeof want_tty, "%s", ptsname(m));
    struct winsize ws = { 40, 100, 0, 0 };
    if (ioctl(m, TIOCSWINSZ, &ws))
        case_setup_fail("TIOCSWINSZ: %s", strerror(errno));
    int rq[2], an[2];
    pid_t c = case_fork_talker(rq, an, NULL, 0); /* C closes the master with the rest */
    if (c == 0)
        c_main(rq[0], an[1]);
    char x;
    if (case_wait_readable(an[0], 10000) != 1 || read(an[0], &x, 1) != 1)
        case_setup_fail("C did not set up its terminal");
    case_ready();
    case_wait_term();

    char name[64] = { 0 };
    if (ptsname_r(m, name, sizeof name) || strcmp(name, want_tty))
        case_fail("the master is now %s, expected %s", name, want_tty);
    if (write(m, "hi", 2) != 2)
        case_fail("cannot write to the master: %s", strerror(errno));
    char buf[256] = { 0 };
    size_t got = 0;
    int64_t deadline = case_now_ms() + 5000;
    while (got < sizeof buf - 1 && !memchr(buf, '\n', got) && case_now_ms() < deadline) {
        if (case_wait_readable(m, 200) != 1)
            continue;
        ssize_t n = read(m, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (strncmp(buf, "ok\n", 3) && strncmp(buf, "ok\r\n", 4))
        case_fail("through the terminal: \"%s\"", buf);
    if (write(rq[1], "c", 1) != 1)
        case_fail("cannot ask C");
    memset(buf, 0, sizeof buf);
    if (case_wait_readable(an[0], 5000) != 1 || read(an[0], buf, sizeof buf - 1) <= 0)
        case_fail("C did not answer");
    else if (strcmp(buf, "ok"))
        case_fail("%s", buf);
    case_reap_child("C", c, 5000);
    case_finish();
}
