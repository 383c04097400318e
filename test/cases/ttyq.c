// build: gcc -O2 -g -Wall -Wextra -o ttyq ttyq.c
/*
 * ttyq.c - terminals beyond inherited stdio: a pty of the tree with bytes queued both ways, a
 * /dev/tty fd, /dev/null and /dev/urandom fds, /dev/pts/N chmod'ed and chown'ed, and a slave
 * whose master was closed (hung up, its /dev/pts node gone).
 *
 *   ttyq --out FILE
 *
 * Set up: P opens a pty master M (/dev/pts/N, canonical mode with echo, as new), and a second
 * pair whose slave H it keeps while closing its master (H is hung up). C (its child) becomes
 * a session leader with the slave as controlling terminal on fds 0-2, chmods it 0600 and
 * chowns it 4242:4243 (as `mesg n` or grantpt would), opens /dev/tty (fd 10), /dev/null (fd
 * 11, write-only) and /dev/urandom (fd 12). P types "hello\n", "a^V\nb\n" (a newline
 * within the line), "ab^D" (a line ended by EOF), "^D" (an EOF alone) and "wor" into M and
 * reads the echo back: the terminal's input queue holds complete lines and a line not ended. C writes "out\n": the output queue holds "out\r\n". C then waits on a pipe, P too.
 * After SIGTERM: P reads exactly "out\r\n" from M (nothing echoed again), writes "ld\n" and
 * asks C to check: C reads "hello\n", "a\nb\n", "ab", EOF (0) then "world\n" (the line
 * structure kept), finds the
 * terminal's modes as they were, /dev/pts/N 0600 4242:4243, fd 10 a /dev/tty (5:0) of its
 * terminal (TIOCGDEV) and session, writes "T\n" through it, and "done:<checks>\n" on its
 * terminal. P reads "ld\r\nT\r\ndone:ok\r\n" from M. H reads EOF (0) and writes EIO, its path
 * still "(deleted)". A third pair, both ends held by P, its slave in raw mode (cfmakeraw),
 * holds "\003\177\r\000\026z" for the slave and "\n\004" for the master: after the restart
 * each side reads exactly those bytes (no signal, no translation). PASS or FAIL: reason.
 *
 * --notty: C gives its controlling terminal up (TIOCNOTTY) after opening /dev/tty: its fd 10
 * leads to a terminal that is no longer its controlling terminal (a checkpoint refuses it; the
 * verification skips the session check and shows the queued bytes are still there).
 * --hup: C hangs its terminal up (vhangup) after opening /dev/tty: fd 10 leads to a hung up
 * terminal (a checkpoint refuses it).
 * --pkt: the master is in packet mode (a checkpoint refuses the output queued at it).
 * --stopped: P types Ctrl-S once the output is queued: the terminal's output is stopped (a
 * checkpoint refuses the output queued, which it could not write back).
 */
#include "case.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

static char want_tty[64];
static int notty, hup;

/* reads from fd until `want` bytes arrived or 5 s passed */
static size_t read_some(int fd, char *buf, size_t want)
{
    size_t got = 0;
    int64_t deadline = case_now_ms() + 5000;
    while (got < want && case_now_ms() < deadline) {
        if (case_wait_readable(fd, 200) != 1)
            continue;
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    return got;
}

static void c_check(char *out, size_t len)
{
    char buf[64] = { 0 };
    struct termios t;
    struct stat st, tst, nst, ust;
    unsigned dev = 0;
    /* the lines as typed: one with a newline in it (LNEXT), one ended by EOF, an EOF alone */
    static const char *const want[] = { "hello\n", "a\nb\n", "ab", "", "world\n" };
    for (int i = 0; i < 5; i++) {
        memset(buf, 0, sizeof buf);
        ssize_t n = read(0, buf, sizeof buf - 1);
        if (n != (ssize_t)strlen(want[i]) || memcmp(buf, want[i], (size_t)n)) {
            char shown[100];
            snprintf(out, len, "C: line %d is %zd bytes \"%s\", expected %zu", i + 1, n, case_show(buf, n > 0 ? (size_t)n : 0, shown, sizeof shown), strlen(want[i]));
            return;
        }
    }
    if (tcgetattr(0, &t) || (t.c_lflag & (ICANON | ECHO | ISIG)) != (ICANON | ECHO | ISIG) || !(t.c_iflag & ICRNL) || !(t.c_oflag & OPOST))
        snprintf(out, len, "C: terminal modes changed (iflag 0%o oflag 0%o lflag 0%o)", t.c_iflag, t.c_oflag, t.c_lflag);
    else if (fstat(0, &st) || (st.st_mode & 07777) != 0600 || st.st_uid != 4242 || st.st_gid != 4243)
        snprintf(out, len, "C: %s is mode 0%o owner %d:%d, expected 0600 4242:4243", want_tty, st.st_mode & 07777, (int)st.st_uid, (int)st.st_gid);
    else if (fstat(10, &tst) || !S_ISCHR(tst.st_mode) || major(tst.st_rdev) != 5 || minor(tst.st_rdev) != 0)
        snprintf(out, len, "C: fd 10 is not /dev/tty (%s)", strerror(errno));
    else if (ioctl(10, TIOCGDEV, &dev) || dev != (unsigned)((major(st.st_rdev) << 8) | (minor(st.st_rdev) & 0xff) | ((minor(st.st_rdev) & ~0xffu) << 12)))
        snprintf(out, len, "C: fd 10 leads to terminal 0x%x, not %s", dev, want_tty);
    else if (!notty && tcgetsid(10) != getsid(0))
        snprintf(out, len, "C: fd 10's session %d, C's %d", (int)tcgetsid(10), (int)getsid(0));
    else if (write(10, "T\n", 2) != 2)
        snprintf(out, len, "C: cannot write to /dev/tty: %s", strerror(errno));
    else if (fstat(11, &nst) || major(nst.st_rdev) != 1 || minor(nst.st_rdev) != 3 || write(11, "xyz", 3) != 3 || (fcntl(11, F_GETFL) & O_ACCMODE) != O_WRONLY)
        snprintf(out, len, "C: fd 11 is not /dev/null open for writing");
    else if (fstat(12, &ust) || major(ust.st_rdev) != 1 || minor(ust.st_rdev) != 9 || read(12, buf, 16) != 16)
        snprintf(out, len, "C: fd 12 is not /dev/urandom");
    else
        snprintf(out, len, "ok");
}

/* C: session leader on the pty; answers "k" once set up and its output is queued */
__attribute__((noreturn)) static void c_main(int rq, int an)
{
    /* the pipes out of the way of fds 0-2 and 10-12 */
    if (dup2(rq, 20) != 20 || dup2(an, 21) != 21)
        _exit(9);
    if (rq != 20)
        close(rq);
    if (an != 21)
        close(an);
    rq = 20, an = 21;
    if (setsid() < 0)
        _exit(10);
    int s = open(want_tty, O_RDWR); /* without O_NOCTTY: becomes the controlling terminal */
    if (s < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
        _exit(11);
    if (s > 2)
        close(s);
    if (fchmod(0, 0600) || fchown(0, 4242, 4243))
        _exit(12);
    int t = open("/dev/tty", O_RDWR), nul = open("/dev/null", O_WRONLY), ur = open("/dev/urandom", O_RDONLY);
    if (t < 0 || nul < 0 || ur < 0 || dup2(t, 10) != 10 || dup2(nul, 11) != 11 || dup2(ur, 12) != 12)
        _exit(13);
    close(t), close(nul), close(ur);
    if (notty && (signal(SIGHUP, SIG_IGN) == SIG_ERR || ioctl(0, TIOCNOTTY) < 0))
        _exit(17);
    char x = 'r';
    if (write(an, &x, 1) != 1 || read(rq, &x, 1) != 1 || x != 'w' || write(1, "out\n", 4) != 4)
        _exit(14);
    if (hup && (signal(SIGHUP, SIG_IGN) == SIG_ERR || vhangup() < 0))
        _exit(18);
    if (write(an, "k", 1) != 1)
        _exit(14);
    if (read(rq, &x, 1) != 1)
        _exit(15);
    char out[200];
    c_check(out, sizeof out);
    char line[220];
    snprintf(line, sizeof line, "done:%s\n", out);
    _exit(write(1, line, strlen(line)) > 0 && write(an, out, strlen(out)) > 0 ? 0 : 16);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    notty = case_has_flag(argc, argv, "--notty");
    hup = case_has_flag(argc, argv, "--hup");
    int pkt = case_has_flag(argc, argv, "--pkt"), stopped = case_has_flag(argc, argv, "--stopped");
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m) || !ptsname(m))
        case_setup_fail("posix_openpt: %s", strerror(errno));
    snprintf(want_tty, sizeof want_tty, "%s", ptsname(m));
    /* the hung up slave */
    int m2 = posix_openpt(O_RDWR | O_NOCTTY);
    int h = m2 < 0 || grantpt(m2) || unlockpt(m2) || !ptsname(m2) ? -1 : open(ptsname(m2), O_RDWR | O_NOCTTY);
    if (h < 0)
        case_setup_fail("second pty: %s", strerror(errno));
    close(m2);
    /* the raw pair */
    static const char raw_in[] = "\003\177\r\000\026z", raw_out[] = "\n\004";
    int m3 = posix_openpt(O_RDWR | O_NOCTTY);
    int s3 = m3 < 0 || grantpt(m3) || unlockpt(m3) || !ptsname(m3) ? -1 : open(ptsname(m3), O_RDWR | O_NOCTTY | O_NONBLOCK);
    struct termios rt;
    if (s3 < 0 || tcgetattr(s3, &rt))
        case_setup_fail("third pty: %s", strerror(errno));
    cfmakeraw(&rt);
    if (tcsetattr(s3, TCSANOW, &rt) || write(m3, raw_in, sizeof raw_in - 1) != sizeof raw_in - 1 || write(s3, raw_out, sizeof raw_out - 1) != sizeof raw_out - 1)
        case_setup_fail("third pty: %s", strerror(errno));
    int rq[2], an[2];
    int64_t until = case_now_ms() + 5000; /* the raw input is taken in (FIONREAD counts it) */
    while (case_queued(s3) < (int)sizeof raw_in - 1 && case_now_ms() < until)
        case_sleep_ms(10);
    pid_t c = case_fork_talker(rq, an, NULL, 0); /* C closes the masters and H with the rest */
    if (c == 0)
        c_main(rq[0], an[1]);
    char buf[256], x;
    if (case_wait_readable(an[0], 10000) != 1 || read(an[0], &x, 1) != 1)
        case_setup_fail("C did not take its terminal");
    static const char typed[] = "hello\na\026\nb\nab\004\004wor";
    if (write(m, typed, sizeof typed - 1) != sizeof typed - 1)
        case_setup_fail("cannot write to the master: %s", strerror(errno));
    size_t echoed = 0; /* the echo, whatever ECHOCTL makes of ^V and ^J, ends with "wor" */
    int64_t deadline = case_now_ms() + 5000;
    while ((echoed < 3 || memcmp(buf + echoed - 3, "wor", 3)) && echoed < sizeof buf - 1 && case_now_ms() < deadline)
        echoed += read_some(m, buf + echoed, 1);
    if (echoed < 3 || memcmp(buf + echoed - 3, "wor", 3) || strncmp(buf, "hello\r\n", 7))
        case_setup_fail("echo \"%s\"", buf);
    if (pkt && ioctl(m, TIOCPKT, &pkt) < 0)
        case_setup_fail("TIOCPKT: %s", strerror(errno));
    if (write(rq[1], "w", 1) != 1 || case_wait_readable(an[0], 10000) != 1 || read(an[0], &x, 1) != 1)
        case_setup_fail("C did not set up its terminal");
    if (stopped) { /* Ctrl-S, then wait until the slave cannot write */
        int sl = open(want_tty, O_RDWR | O_NOCTTY | O_NONBLOCK);
        struct pollfd pw = { .fd = sl, .events = POLLOUT };
        int64_t until = case_now_ms() + 5000;
        if (sl < 0 || write(m, "\023", 1) != 1)
            case_setup_fail("Ctrl-S: %s", strerror(errno));
        while (poll(&pw, 1, 0) == 1 && (pw.revents & POLLOUT) && case_now_ms() < until)
            case_sleep_ms(10);
        if (poll(&pw, 1, 0) != 0)
            case_setup_fail("the terminal's output did not stop");
        close(sl);
    }
    case_ready();
    case_wait_term();

    char link[128] = { 0 }, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", h);
    if (readlink(path, link, sizeof link - 1) < 0 || !strstr(link, "/dev/pts/") || !strstr(link, " (deleted)"))
        case_fail("the hung up slave is \"%s\"", link);
    else if (read(h, buf, 1) != 0)
        case_fail("the hung up slave does not read EOF");
    else if (write(h, "a", 1) != -1 || errno != EIO)
        case_fail("writing the hung up slave: %s, expected EIO", strerror(errno));
    char raw[32];
    ssize_t rn = read(s3, raw, sizeof raw);
    if (rn != sizeof raw_in - 1 || memcmp(raw, raw_in, (size_t)rn))
        case_fail("the raw slave reads %zd bytes", rn);
    else if (read_some(m3, raw, 2) != 2 || memcmp(raw, raw_out, 2))
        case_fail("the raw master reads \"%s\"", raw);
    if (read_some(m, buf, 5) != 5 || strcmp(buf, "out\r\n"))
        case_fail("the output queued: \"%s\", expected \"out\\r\\n\"", buf);
    if (write(m, "ld\n", 3) != 3 || write(rq[1], "c", 1) != 1)
        case_fail("cannot write to the master or to C");
    const char *want = "ld\r\nT\r\ndone:ok\r\n";
    size_t got = read_some(m, buf, strlen(want));
    if (got != strlen(want) || strcmp(buf, want)) {
        char shown[200];
        case_fail("through the terminal: \"%s\"", case_show(buf, got, shown, sizeof shown));
    }
    memset(buf, 0, sizeof buf);
    if (case_wait_readable(an[0], 5000) != 1 || read(an[0], buf, sizeof buf - 1) <= 0)
        case_fail("C did not answer");
    else if (strcmp(buf, "ok"))
        case_fail("%s", buf);
    case_reap_child("C", c, 5000);
    case_finish();
}
