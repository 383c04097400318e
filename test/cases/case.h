/*
 * case.h - shared helpers for the ucr self-checking test programs.
 *
 * Protocol (every program in this directory):
 *   prog --out FILE [extra args]
 *   - once its state is set up, the program writes its pid in decimal
 *     (followed by '\n') to FILE.ready.tmp and renames it to FILE.ready;
 *   - it then waits (normally for SIGTERM, see each program);
 *   - it verifies its state and writes exactly "PASS\n" or
 *     "FAIL: <one-line reason>\n" to FILE, exiting 0 on PASS, 1 on FAIL;
 *   - a failure during set-up (before ready) writes "FAIL: setup: ...\n"
 *     to FILE and exits 2 without writing FILE.ready;
 *   - bad command line: message on stderr, exit 2.
 *
 * Header-only; everything is static.  Results are written with open/write
 * only (no stdio).
 */
#ifndef UCR_TEST_CASE_H
#define UCR_TEST_CASE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* All helpers are static; "unused" keeps -Wall quiet in programs that
 * do not use every one of them. */
#define CASE_FN static __attribute__((unused))

/* Absolute path of the result file (FILE from --out). */
static char case_out[PATH_MAX];
/* Set by the SIGTERM handler installed with case_install_sigterm(). */
static volatile sig_atomic_t case_term;
/* First recorded failure (only the first one is reported). */
static char case_fail_msg[768];
static int case_failed;

CASE_FN void case_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Message to stderr (used only for usage errors). */
__attribute__((noreturn))
CASE_FN void case_die_usage(const char *prog, const char *msg)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s: %s\nusage: %s --out FILE [extra args]\n",
                     prog, msg, prog);
    if (n > 0)
        case_write_all(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    _exit(2);
}

/* Value of "--name VALUE" in argv, or NULL. */
CASE_FN const char *case_arg(int argc, char **argv, const char *name)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

/* Parse --out and make it absolute (programs may chdir later). */
CASE_FN void case_init(int argc, char **argv)
{
    const char *out = case_arg(argc, argv, "--out");
    if (!out || !*out)
        case_die_usage(argv[0], "missing --out FILE");
    if (out[0] == '/') {
        if (strlen(out) >= sizeof case_out - 32)
            case_die_usage(argv[0], "--out path too long");
        strcpy(case_out, out);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            case_die_usage(argv[0], "getcwd failed");
        if (strlen(cwd) + 1 + strlen(out) >= sizeof case_out - 32)
            case_die_usage(argv[0], "--out path too long");
        size_t cl = strlen(cwd);
        memcpy(case_out, cwd, cl);
        case_out[cl] = '/';
        strcpy(case_out + cl + 1, out);
    }
}

/* Record a failure; only the first one is kept.  Newlines become spaces. */
__attribute__((format(printf, 1, 2)))
CASE_FN void case_fail(const char *fmt, ...)
{
    if (case_failed)
        return;
    case_failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(case_fail_msg, sizeof case_fail_msg, fmt, ap);
    va_end(ap);
    for (char *p = case_fail_msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

/* A file lock seen from fd (F_OFD_GETLK for a lock of type over [start, start + len)): fails
 * unless the lock in the way is of want_type held by want_pid (F_UNLCK: none in the way). */
CASE_FN void case_lock_probe(int fd, short type, off_t start, off_t len, pid_t want_pid, short want_type, const char *what)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        case_fail("%s: F_OFD_GETLK: %s", what, strerror(errno));
        return;
    }
    if (fl.l_type != want_type || (want_type != F_UNLCK && fl.l_pid != want_pid))
        case_fail("%s: lock type %d held by pid %d, expected type %d by %d", what, fl.l_type, (int)fl.l_pid, want_type,
                  (int)want_pid);
}

/* One read of a small text file (of /proc) into buf, NUL-terminated (empty on failure): the
 * bytes read, or -1. */
CASE_FN ssize_t case_read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n;
}

CASE_FN void case_write_result_file(const char *text)
{
    int fd = open(case_out, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        _exit(3);
    case_write_all(fd, text, strlen(text));
    fsync(fd);
    close(fd);
}

/* Write PASS or FAIL: <reason> to the result file and exit (0 / 1). */
__attribute__((noreturn))
CASE_FN void case_finish(void)
{
    char buf[sizeof case_fail_msg + 16];
    if (case_failed) {
        snprintf(buf, sizeof buf, "FAIL: %s\n", case_fail_msg);
        case_write_result_file(buf);
        _exit(1);
    }
    case_write_result_file("PASS\n");
    _exit(0);
}

/* Set-up failure (before ready): write FAIL and exit 2. */
__attribute__((format(printf, 1, 2), noreturn))
CASE_FN void case_setup_fail(const char *fmt, ...)
{
    char msg[sizeof case_fail_msg];
    char buf[sizeof case_fail_msg + 32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    snprintf(buf, sizeof buf, "FAIL: setup: %s\n", msg);
    case_write_result_file(buf);
    _exit(2);
}

/* Announce readiness: pid into FILE.ready, atomically (tmp + rename). */
CASE_FN void case_ready(void)
{
    char tmp[PATH_MAX + 16], fin[PATH_MAX + 16], buf[32];
    snprintf(tmp, sizeof tmp, "%s.ready.tmp", case_out);
    snprintf(fin, sizeof fin, "%s.ready", case_out);
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        case_setup_fail("cannot create %s: %s", tmp, strerror(errno));
    case_write_all(fd, buf, (size_t)n);
    close(fd);
    if (rename(tmp, fin) != 0)
        case_setup_fail("rename %s -> %s: %s", tmp, fin, strerror(errno));
}

CASE_FN void case_on_sigterm(int sig)
{
    (void)sig;
    case_term = 1;
}

/* SIGTERM handler that sets case_term; flags e.g. 0 or SA_RESTART. */
CASE_FN void case_install_sigterm(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = case_on_sigterm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = flags;
    if (sigaction(SIGTERM, &sa, NULL) != 0)
        case_setup_fail("sigaction(SIGTERM): %s", strerror(errno));
}

CASE_FN void case_wait_term(void)
{
    while (!case_term)
        pause();
}

/* errno name, including the kernel-internal restart codes (512-517) that
 * must never reach user space but may leak from a broken restore. */
CASE_FN const char *case_errname(int e)
{
    switch (e) {
    case 512: return "ERESTARTSYS";
    case 513: return "ERESTARTNOINTR";
    case 514: return "ERESTARTNOHAND";
    case 515: return "ENOIOCTLCMD";
    case 516: return "ERESTART_RESTARTBLOCK";
    case 517: return "EPROBE_DEFER";
    }
    const char *s = strerrorname_np(e);
    return s ? s : "?";
}

/* ---- PRNG (xorshift64*) and hash ---- */

static uint64_t case_rng;

CASE_FN uint64_t case_splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

CASE_FN void case_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    case_rng = case_splitmix(((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec * 1000000007ULL ^
                             (uint64_t)ts.tv_nsec);
    if (case_rng == 0)
        case_rng = 0x2545f4914f6cdd1dULL;
}

CASE_FN inline uint64_t case_rand(void)
{
    uint64_t x = case_rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    case_rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Fill len bytes at p with pseudo-random data. */
CASE_FN void case_fill(void *p, size_t len)
{
    unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = case_rand();
        memcpy(b + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = case_rand();
        memcpy(b + i, &v, len - i);
    }
}

/* FNV-1a over 8-byte words (tail bytes one by one), length mixed in. */
CASE_FN uint64_t case_hash(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return case_splitmix(h);
}

/* ---- descriptors in flight over a unix socket (SCM_RIGHTS) ---- */

#include <sys/socket.h>

/* One sendmsg over the unix socket s: len bytes of data with the n descriptors fds (0: none, at
 * most 8) in flight with them.  sendmsg's result. */
CASE_FN ssize_t case_send_fds(int s, const void *data, size_t len, const int *fds, int n)
{
    union {
        char buf[CMSG_SPACE(8 * sizeof(int))];
        struct cmsghdr align;
    } cb;
    if (n < 0 || n > 8) {
        errno = EINVAL;
        return -1;
    }
    memset(&cb, 0, sizeof cb);
    struct iovec iov = {(void *)data, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        mh.msg_control = cb.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    }
    return sendmsg(s, &mh, 0);
}

/* One recvmsg (MSG_DONTWAIT) of a message of at most len bytes into buf; *fd: the one descriptor
 * in flight with it, or -1 (none, another kind of control message, or cut off).  recvmsg's
 * result. */
CASE_FN ssize_t case_recv_fd(int s, void *buf, size_t len, int *fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cb;
    struct iovec iov = {buf, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf,
                        .msg_controllen = sizeof cb.buf};
    ssize_t n = recvmsg(s, &mh, MSG_DONTWAIT);
    struct cmsghdr *c = n >= 0 && !(mh.msg_flags & MSG_CTRUNC) ? CMSG_FIRSTHDR(&mh) : NULL;
    *fd = -1;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return n;
}

/* ======================================================================
 * Process-tree kit (used by tree.c, zombie_stopped.c, subtree.c).
 *
 * A parent talks to each child over two pipes made before the fork: a
 * request pipe (parent -> child) and a result pipe (child -> parent).
 *   - Right after its set-up the child writes a 37-byte greeting (see
 *     case_greeting) into its result pipe in one write().  The parent only
 *     poll()s for it, to know the child is set up, and reads it byte for
 *     byte at verify time: it stays queued across the checkpoint.
 *   - The child then blocks in read() on its request pipe (no timeout; EOF,
 *     i.e. the parent is gone, makes it _exit(1) silently).
 *   - At verify time the parent sends a struct case_req; the child checks
 *     itself (and, for a branch, its own children), answers with one
 *     struct case_ans (< PIPE_BUF, so atomic) and exits 0.
 * Pids are checked as relations at verify time (the child's getppid() ==
 * the parent's getpid() then, ...).  Remembered pids (fork() results, the
 * pid at set-up) are compared only with case_same_pids: option --same-pids
 * (the default); --any-pids turns it off, for restarts with other pids.
 * Failures inside a child go through case_fail() in that child and come
 * back as its verdict; the parent prefixes the child's name.
 * Children reset SIGTERM to SIG_DFL and install no handler, so their blocked
 * read() must never return EINTR (that is a failure).  A task that sends
 * requests sets SIGPIPE to SIG_IGN at that moment (verify time only), so a
 * dead child is reported as a failure instead of killing the sender.
 * ====================================================================== */

#include <dirent.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#define CASE_GREET_LEN 37
#define CASE_REQ_MAGIC 0x51455251u /* "QREQ" */
#define CASE_ANS_MAGIC 0x534e4141u /* "AANS" */

/* Random per run, inherited by every task: part of greetings and chunks. */
static uint64_t case_token;
/* --same-pids (default) / --any-pids */
static int case_same_pids = 1;

/* In a request: the child must lead its own session / group. */
#define CASE_OWN_PID (-1)

struct case_req {
    uint32_t magic;
    int32_t parent;   /* getpid() of the sender when it sent this */
    int32_t exp_sid;  /* session the child must be in; CASE_OWN_PID: its own pid (0 is a real
                          answer: a session whose leader is outside our pid namespace) */
    int32_t exp_pgid; /* process group the child must be in; CASE_OWN_PID: its own pid */
};

struct case_ans {
    uint32_t magic;
    int32_t pid, ppid, sid, pgid; /* the child's, at verify time */
    int32_t pad;
    uint64_t ino[4];   /* inodes of the child's pipe fds: request, result, extra; 0: none */
    char verdict[224]; /* "PASS" or "FAIL: reason" */
};

/* The inode slots of struct case_ans, for messages. */
static const char *const case_ino_label[4] = {"request pipe", "result pipe", "shared pipe",
                                              "pipe #4"};

/* Is the bare flag NAME (e.g. "--any-pids") in argv? */
CASE_FN int case_has_flag(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

/* case_init + --same-pids/--any-pids + the random token. */
CASE_FN void case_tree_init(int argc, char **argv)
{
    case_init(argc, argv);
    int same = case_has_flag(argc, argv, "--same-pids");
    int any = case_has_flag(argc, argv, "--any-pids");
    if (same && any)
        case_die_usage(argv[0], "--same-pids and --any-pids are exclusive");
    case_same_pids = !any;
    case_seed();
    case_token = case_rand();
}

CASE_FN int64_t case_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

CASE_FN void case_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* an interrupting signal just ends it early */
}

/* Write TEXT to FILE<suffix> atomically (tmp + rename).  0, or -1 + errno. */
CASE_FN int case_write_aux(const char *suffix, const char *text)
{
    char tmp[PATH_MAX + 64], fin[PATH_MAX + 64];
    snprintf(fin, sizeof fin, "%s%s", case_out, suffix);
    snprintf(tmp, sizeof tmp, "%s%s.tmp", case_out, suffix);
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    case_write_all(fd, text, strlen(text));
    fsync(fd);
    close(fd);
    return rename(tmp, fin);
}

/* Like case_finish(), but the verdict goes to FILE<suffix> (atomically). */
__attribute__((noreturn))
CASE_FN void case_finish_aux(const char *suffix)
{
    char buf[sizeof case_fail_msg + 16];
    if (case_failed)
        snprintf(buf, sizeof buf, "FAIL: %s\n", case_fail_msg);
    else
        snprintf(buf, sizeof buf, "PASS\n");
    if (case_write_aux(suffix, buf) != 0)
        _exit(3);
    _exit(case_failed ? 1 : 0);
}

/* Set-up failure inside a child (not the root): message on stderr, exit 2.
 * Its parent sees the result pipe close without a greeting. */
__attribute__((format(printf, 2, 3), noreturn))
CASE_FN void case_child_die(const char *name, const char *fmt, ...)
{
    char msg[512], buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n = snprintf(buf, sizeof buf, "case task %s (pid %d): setup: %s\n", name, (int)getpid(),
                     msg);
    if (n > 0)
        case_write_all(2, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    _exit(2);
}

/* The root of a tree must lead its own session (the launcher makes it so). */
CASE_FN void case_become_session_leader(void)
{
    if (getsid(0) == getpid())
        return;
    if (setsid() < 0)
        case_setup_fail("not a session leader and setsid() failed: %s", strerror(errno));
}

/* Close every fd >= 3 except those in keep[0..n) (negative entries ignored). */
CASE_FN void case_close_fds_except(const int *keep, int n)
{
    int k[16], m = 0;
    for (int i = 0; i < n && m < 16; i++)
        if (keep[i] >= 3)
            k[m++] = keep[i];
    for (int i = 1; i < m; i++) /* insertion sort */
        for (int j = i; j > 0 && k[j - 1] > k[j]; j--) {
            int t = k[j];
            k[j] = k[j - 1];
            k[j - 1] = t;
        }
    unsigned lo = 3;
    for (int i = 0; i <= m; i++) {
        unsigned hi = i < m ? (unsigned)k[i] - 1 : ~0U;
        if (i < m && (unsigned)k[i] < lo) /* duplicate */
            continue;
        if (hi >= lo && syscall(SYS_close_range, lo, hi, 0U) != 0) {
            unsigned top = hi > 65535 ? 65535 : hi;
            for (unsigned fd = lo; fd <= top; fd++)
                close((int)fd);
        }
        if (i < m)
            lo = (unsigned)k[i] + 1;
    }
}

CASE_FN void case_pipe(int fds[2], const char *what)
{
    if (pipe(fds) != 0)
        case_setup_fail("pipe (%s): %s", what, strerror(errno));
}

/* A child that talks with its parent over two pipes made here: requests (parent -> child, rq)
 * and answers (child -> parent, an). In the child every fd above 2 but rq[0], an[1] and
 * keep[] (may be NULL) is closed; in the parent rq[0] and an[1] are. Returns the child's pid,
 * 0 in the child; a failed fork fails the set-up. */
CASE_FN pid_t case_fork_talker(int rq[2], int an[2], const int *keep, int nkeep)
{
    case_pipe(rq, "request");
    case_pipe(an, "answer");
    pid_t c = fork();
    if (c < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (c == 0) {
        int k[16] = { rq[0], an[1] }, n = 2;
        for (int i = 0; i < nkeep && n < 16; i++)
            k[n++] = keep[i];
        case_close_fds_except(k, n);
    } else {
        close(rq[0]);
        close(an[1]);
    }
    return c;
}

/* Wait until fd has data to read: 1 data, 0 timeout, -1 hang-up/error
 * without data (the writer is gone). */
CASE_FN int case_wait_readable(int fd, int timeout_ms)
{
    int64_t end = case_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = end - case_now_ms();
        int r = poll(&p, 1, left < 0 ? 0 : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (p.revents & POLLIN)
            return 1;
        return -1;
    }
}

/* Read exactly len bytes unless EOF, error or the deadline (case_now_ms()
 * value; < 0: none).  Returns the count read; if short, errno is 0 for EOF,
 * ETIMEDOUT for the deadline, else the read()/poll() error. */
CASE_FN ssize_t case_read_full(int fd, void *buf, size_t len, int64_t deadline)
{
    size_t got = 0;
    while (got < len) {
        if (deadline >= 0) {
            struct pollfd p = {fd, POLLIN, 0};
            int64_t left = deadline - case_now_ms();
            int r = poll(&p, 1, left < 0 ? 0 : (int)left);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return (ssize_t)got;
            if (r == 0) {
                errno = ETIMEDOUT;
                return (ssize_t)got;
            }
        }
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            errno = 0;
            return (ssize_t)got;
        }
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return (ssize_t)got;
    }
    return (ssize_t)got;
}

/* Printable rendering of n bytes (for messages), into out. */
CASE_FN const char *case_show(const void *buf, size_t n, char *out, size_t outsz)
{
    const unsigned char *b = buf;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < outsz; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\' && b[i] != '"')
            out[k++] = (char)b[i];
        else
            k += (size_t)snprintf(out + k, outsz - k, "\\x%02x", b[i]);
    }
    out[k] = 0;
    return out;
}

/* The 37-byte greeting of task NAME whose pid at set-up was PID:
 * "hello NNN PPPPPPPPPP TTTTTTTTTTTTTTTT" (out needs 38 bytes). */
CASE_FN void case_greeting(char out[CASE_GREET_LEN + 1], const char *name, long pid)
{
    char tmp[96];
    snprintf(tmp, sizeof tmp, "hello %-3.3s %010ld %016llx", name, pid,
             (unsigned long long)case_token);
    memcpy(out, tmp, CASE_GREET_LEN); /* exact for pids < 10^10 */
    out[CASE_GREET_LEN] = 0;
}

/* fd must be a pipe end opened with access mode acc (O_RDONLY/O_WRONLY);
 * returns its inode (0 after recording a failure). */
CASE_FN uint64_t case_pipe_ino(int fd, int acc, const char *what)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        case_fail("%s: fstat(fd %d): %s", what, fd, strerror(errno));
        return 0;
    }
    if (!S_ISFIFO(st.st_mode)) {
        case_fail("%s: fd %d is not a pipe (st_mode 0%o)", what, fd, (unsigned)st.st_mode);
        return 0;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != acc) {
        case_fail("%s: fd %d has access mode %d, expected %s", what, fd, fl < 0 ? -1 : fl & O_ACCMODE,
                  acc == O_RDONLY ? "O_RDONLY" : "O_WRONLY");
        return 0;
    }
    return (uint64_t)st.st_ino;
}

/* Bytes queued in a pipe (FIONREAD), -1 on error. */
CASE_FN int case_queued(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

/* State letter and ppid of pid from /proc/PID/stat.  0, or -1 if absent. */
CASE_FN int case_proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    char st;
    int pp;
    if (!p || sscanf(p + 1, " %c %d", &st, &pp) != 2)
        return -1;
    if (state)
        *state = st;
    if (ppid)
        *ppid = (pid_t)pp;
    return 0;
}

/* The open fd numbers, as a comma list ("0,1,2,5") in buf: to compare the set before and after
 * a restart (nothing of the restorer may be left open in the task). */
CASE_FN void case_fd_set(char *buf, size_t len)
{
    buf[0] = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int dfd = dirfd(d), fds[1024], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 1024) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (!*end && e->d_name[0] && v != dfd)
            fds[n++] = (int)v;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: readdir order is not numeric */
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    size_t o = 0;
    for (int i = 0; i < n && o + 12 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%d", i ? "," : "", fds[i]);
}

/* 0 if no mapping of the process is registered with a userfaultfd (VmFlags um/uw/ui in
 * /proc/self/smaps), else -1 with the first such mapping's start in *where. */
CASE_FN int case_no_userfault(unsigned long *where)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return 0;
    char line[512];
    unsigned long start = 0, s, e;
    int bad = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
            start = s;
        else if (!strncmp(line, "VmFlags:", 8) &&
                 (strstr(line, " um") || strstr(line, " uw") || strstr(line, " ui")))
            bad = 1;
    }
    fclose(f);
    *where = start;
    return bad ? -1 : 0;
}

/* len bytes of private anonymous memory, read-write, in 4 KiB pages (no transparent huge
 * pages: the cases count and compare pages), with extra mmap flags (MAP_NORESERVE...); a
 * failure is the set-up's. */
CASE_FN unsigned char *case_map_small_pages(size_t len, int extra)
{
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
    if (p == MAP_FAILED)
        case_setup_fail("mmap %zu: %s", len, strerror(errno));
    madvise(p, len, MADV_NOHUGEPAGE);
    return p;
}

/* The rest of a helper thread's life: every signal blocked (SIGTERM is the main thread's: its
 * pause() must see it), paused. */
CASE_FN void case_thread_idle(void)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;)
        pause();
}

/* The lines of a /proc status file (path) that start with one of the NULL-terminated
 * prefixes, concatenated with a space after each, into out (cap bytes; "" when unreadable). */
CASE_FN void case_status_lines(const char *path, const char *const *prefixes, char *out, size_t cap)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    out[0] = 0;
    if (n <= 0)
        return;
    buf[n] = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        for (const char *const *p = prefixes; *p; p++)
            if (!strncmp(l, *p, strlen(*p)) && strlen(out) + strlen(l) + 2 < cap) {
                strcat(strcat(out, l), " ");
                break;
            }
}

/* The Rss (KiB) of the process's mapping that starts at base, from /proc/self/smaps; -1 if
 * there is no such mapping. */
CASE_FN long case_rss_kib(const void *base)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return -1;
    char line[512];
    unsigned long s, e;
    long rss = -1;
    int in = 0;
    while (rss < 0 && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
            in = s == (unsigned long)(uintptr_t)base;
        else if (in && !strncmp(line, "Rss:", 4))
            rss = strtol(line + 4, NULL, 10);
    }
    fclose(f);
    return rss;
}

/* The children of parent found in /proc (pid and state); returns the count
 * (at most max are stored). */
CASE_FN int case_children_of(pid_t parent, pid_t *pids, char *states, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end || v <= 0)
            continue;
        char st;
        pid_t pp;
        if (case_proc_stat((pid_t)v, &st, &pp) != 0 || pp != parent)
            continue;
        if (n < max) {
            pids[n] = (pid_t)v;
            if (states)
                states[n] = st;
        }
        n++;
    }
    closedir(d);
    return n;
}

/* waitpid(pid) for at most timeout_ms: 1 reaped (*status set), 0 still
 * there, -1 error (errno, e.g. ECHILD). */
CASE_FN int case_reap(pid_t pid, int timeout_ms, int *status)
{
    int64_t end = case_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (case_now_ms() >= end)
            return 0;
        case_sleep_ms(5);
    }
}

/* Reap child NAME (its current pid) that must exit 0 within timeout_ms; if
 * it does not, record a failure and SIGKILL it. */
CASE_FN void case_reap_child(const char *name, pid_t pid, int timeout_ms)
{
    int st = 0;
    int r = case_reap(pid, timeout_ms, &st);
    if (r < 0) {
        case_fail("%s: waitpid(%d): %s", name, (int)pid, strerror(errno));
    } else if (r == 0) {
        case_fail("%s (pid %d) answered but did not exit within %d ms", name, (int)pid, timeout_ms);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    } else if (WIFSIGNALED(st)) {
        case_fail("%s (pid %d) was killed by signal %d (%s)", name, (int)pid, WTERMSIG(st),
                  sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        case_fail("%s (pid %d) exited with status %d, expected 0", name, (int)pid,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
}

/* Reap every child that has already ended (never blocks); returns how many. */
CASE_FN int case_reap_nohang_all(void)
{
    int n = 0, st;
    for (;;) {
        pid_t r = waitpid(-1, &st, WNOHANG);
        if (r > 0) {
            n++;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return n;
    }
}

/* After verification: reap ended children, then SIGKILL and reap any child
 * still there (with report, it is also a failure: nothing should be left). */
CASE_FN void case_kill_stray_children(int report)
{
    case_reap_nohang_all();
    pid_t pids[32];
    char states[32];
    int n = case_children_of(getpid(), pids, states, 32);
    for (int i = 0; i < n && i < 32; i++) {
        if (report)
            case_fail("unexpected child pid %d (state %c) still there after verification",
                      (int)pids[i], states[i]);
        kill(pids[i], SIGKILL);
        int st;
        waitpid(pids[i], &st, 0);
    }
}

/* Wait (at most timeout_ms) until the read end fd reports EOF: every writer
 * gone and nothing left queued. */
CASE_FN void case_expect_eof(int fd, const char *what, int timeout_ms)
{
    char buf[64], shown[300];
    errno = 0;
    ssize_t n = case_read_full(fd, buf, sizeof buf, case_now_ms() + timeout_ms);
    if (n > 0)
        case_fail("%s: %zd unexpected extra bytes \"%s\"", what, n,
                  case_show(buf, (size_t)n, shown, sizeof shown));
    else if (errno == ETIMEDOUT)
        case_fail("%s: no EOF within %d ms: some task still holds its write end", what,
                  timeout_ms);
    else if (errno != 0)
        case_fail("%s: read: %s", what, case_errname(errno));
}

/* ---- child side ---- */

/* Block in read() for the verify request.  1: valid request; 0: failure
 * recorded.  EOF before any byte (the parent is gone): _exit(1). */
CASE_FN int case_child_request(int fd, struct case_req *rq)
{
    size_t got = 0;
    int eintr = 0;
    memset(rq, 0, sizeof *rq);
    while (got < sizeof *rq) {
        ssize_t n = read(fd, (char *)rq + got, sizeof *rq - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            if (got == 0)
                _exit(1);
            case_fail("request pipe: EOF after %zu of %zu bytes", got, sizeof *rq);
            return 0;
        }
        if (errno == EINTR) {
            /* no handler is installed: a blocked read must never see EINTR */
            if (!eintr++)
                case_fail("read on the request pipe returned EINTR with no signal handler");
            continue;
        }
        case_fail("read on the request pipe: -1 errno %d (%s)", errno, case_errname(errno));
        return 0;
    }
    if (rq->magic != CASE_REQ_MAGIC) {
        case_fail("request has bad magic %08x", rq->magic);
        return 0;
    }
    return 1;
}

/* The child's own checks against a request; pid0: its pid at set-up. */
CASE_FN void case_check_self(pid_t pid0, const struct case_req *rq)
{
    pid_t me = getpid(), pp = getppid(), sid = getsid(0), pg = getpgid(0);
    pid_t es = rq->exp_sid != CASE_OWN_PID ? rq->exp_sid : me,
          eg = rq->exp_pgid != CASE_OWN_PID ? rq->exp_pgid : me;
    if (case_same_pids && me != pid0)
        case_fail("getpid() = %d but the pid at set-up was %d (--same-pids)", (int)me, (int)pid0);
    if (pp != rq->parent)
        case_fail("getppid() = %d but the parent's getpid() is %d", (int)pp, (int)rq->parent);
    if (sid != es)
        case_fail("getsid(0) = %d, expected %d (%s)", (int)sid, (int)es,
                  rq->exp_sid != CASE_OWN_PID ? "the parent's session" : "own pid: session leader");
    if (pg != eg)
        case_fail("getpgid(0) = %d, expected %d (%s)", (int)pg, (int)eg,
                  rq->exp_pgid != CASE_OWN_PID ? "the parent's group" : "own pid: group leader");
}

/* Send the answer (verdict from case_failed) in one write. */
CASE_FN void case_child_answer(int fd, const uint64_t ino[4])
{
    struct case_ans a;
    memset(&a, 0, sizeof a);
    a.magic = CASE_ANS_MAGIC;
    a.pid = getpid();
    a.ppid = getppid();
    a.sid = getsid(0);
    a.pgid = getpgid(0);
    for (int i = 0; i < 4; i++)
        a.ino[i] = ino[i];
    if (case_failed) {
        size_t l = strlen(case_fail_msg);
        if (l > sizeof a.verdict - 7)
            l = sizeof a.verdict - 7;
        memcpy(a.verdict, "FAIL: ", 6);
        memcpy(a.verdict + 6, case_fail_msg, l);
        a.verdict[6 + l] = 0;
    } else {
        memcpy(a.verdict, "PASS", 5);
    }
    ssize_t n;
    do
        n = write(fd, &a, sizeof a);
    while (n < 0 && errno == EINTR);
}

struct case_leaf {
    const char *name;
    int req_fd, res_fd; /* read end of the request pipe, write end of the result pipe */
    int own_group;      /* setpgid(0, 0) before the greeting */
    int stop_self;      /* raise(SIGSTOP) after the greeting */
};

/* A leaf task: greeting, (stop), wait for the request, check, answer, exit 0. */
__attribute__((noreturn))
CASE_FN void case_leaf_main(const struct case_leaf *lf)
{
    signal(SIGTERM, SIG_DFL);
    int keep[2] = {lf->req_fd, lf->res_fd};
    case_close_fds_except(keep, 2);
    pid_t pid0 = getpid();
    if (lf->own_group && setpgid(0, 0) != 0)
        case_child_die(lf->name, "setpgid(0, 0): %s", strerror(errno));
    char g[CASE_GREET_LEN + 1];
    case_greeting(g, lf->name, pid0);
    if (write(lf->res_fd, g, CASE_GREET_LEN) != CASE_GREET_LEN)
        case_child_die(lf->name, "greeting write: %s", strerror(errno));
    if (lf->stop_self && raise(SIGSTOP) != 0)
        case_fail("raise(SIGSTOP) failed: %s", strerror(errno));
    struct case_req rq;
    if (case_child_request(lf->req_fd, &rq))
        case_check_self(pid0, &rq);
    uint64_t ino[4] = {case_pipe_ino(lf->req_fd, O_RDONLY, "request pipe"),
                       case_pipe_ino(lf->res_fd, O_WRONLY, "result pipe"), 0, 0};
    case_child_answer(lf->res_fd, ino);
    _exit(0);
}

/* ---- parent side ---- */

/* Send the verify request (SIGPIPE is ignored from now on so a gone child
 * is an error, not death).  1 sent, 0 failure recorded. */
CASE_FN int case_send_request(int fd, const char *name, pid_t exp_sid, pid_t exp_pgid)
{
    signal(SIGPIPE, SIG_IGN);
    struct case_req rq = {CASE_REQ_MAGIC, (int32_t)getpid(), (int32_t)exp_sid, (int32_t)exp_pgid};
    ssize_t n;
    do
        n = write(fd, &rq, sizeof rq);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof rq) {
        case_fail("%s: cannot send the verify request: %s (did %s die?)", name,
                  n < 0 ? strerror(errno) : "short write", name);
        return 0;
    }
    return 1;
}

struct case_expect {
    pid_t ppid;      /* required getppid() of the child */
    pid_t sid, pgid; /* required; CASE_OWN_PID: the child's own (reported) pid */
    pid_t fork_pid;  /* what fork() returned: the greeting's pid; with case_same_pids also
                        the pid the child must report */
    uint64_t ino[4]; /* required pipe inodes (the parent's ends), 0: unchecked */
};

/* Read child NAME's greeting and answer from its result pipe (deadline:
 * case_now_ms() value) and check them.  Returns 1 if an answer arrived
 * (a->pid is then the child's current pid, for reaping), else 0; every
 * problem is recorded with case_fail naming the child. */
CASE_FN int case_collect(int fd, const char *name, int64_t deadline, const struct case_expect *e,
                         struct case_ans *a)
{
    char want[CASE_GREET_LEN + 1], got[CASE_GREET_LEN + 1], shown[200];
    case_greeting(want, name, e->fork_pid);
    errno = 0;
    ssize_t n = case_read_full(fd, got, CASE_GREET_LEN, deadline);
    if (n != CASE_GREET_LEN) {
        case_fail("%s: greeting queued before ready: got %zd of %d bytes (%s)", name, n,
                  CASE_GREET_LEN,
                  errno == 0 ? "EOF" : errno == ETIMEDOUT ? "timeout" : case_errname(errno));
        return 0;
    }
    if (memcmp(got, want, CASE_GREET_LEN) != 0) {
        case_fail("%s: greeting queued before ready is \"%s\", expected \"%s\"", name,
                  case_show(got, CASE_GREET_LEN, shown, sizeof shown), want);
        return 0;
    }
    memset(a, 0, sizeof *a);
    errno = 0;
    n = case_read_full(fd, a, sizeof *a, deadline);
    if (n != (ssize_t)sizeof *a) {
        if (n == 0 && errno == 0)
            case_fail("%s is missing: its result pipe closed without an answer (%s died?)", name,
                      name);
        else if (errno == ETIMEDOUT)
            case_fail("%s is missing: no answer before the timeout (%zd of %zu bytes)", name, n,
                      sizeof *a);
        else
            case_fail("%s: short answer, %zd of %zu bytes (%s)", name, n, sizeof *a,
                      errno ? case_errname(errno) : "EOF");
        return 0;
    }
    if (a->magic != CASE_ANS_MAGIC) {
        case_fail("%s: answer has bad magic %08x (pipe data out of order?)", name, a->magic);
        return 0;
    }
    a->verdict[sizeof a->verdict - 1] = 0;
    if (strcmp(a->verdict, "PASS") != 0)
        case_fail("%s: %s", name, strncmp(a->verdict, "FAIL: ", 6) == 0 ? a->verdict + 6 : a->verdict);
    pid_t es = e->sid != CASE_OWN_PID ? e->sid : a->pid,
          eg = e->pgid != CASE_OWN_PID ? e->pgid : a->pid;
    if (a->ppid != e->ppid)
        case_fail("%s (pid %d) reports getppid() = %d, expected %d", name, a->pid, a->ppid,
                  (int)e->ppid);
    if (a->sid != es)
        case_fail("%s (pid %d) reports getsid(0) = %d, expected %d", name, a->pid, a->sid, (int)es);
    if (a->pgid != eg)
        case_fail("%s (pid %d) reports getpgid(0) = %d, expected %d", name, a->pid, a->pgid,
                  (int)eg);
    if (case_same_pids && a->pid != e->fork_pid)
        case_fail("%s reports getpid() = %d but fork() returned %d (--same-pids)", name, a->pid,
                  (int)e->fork_pid);
    for (int i = 0; i < 4; i++)
        if (e->ino[i] && a->ino[i] != e->ino[i])
            case_fail("%s: its %s is pipe inode %llu, but the parent's end is inode %llu", name,
                      case_ino_label[i], (unsigned long long)a->ino[i],
                      (unsigned long long)e->ino[i]);
    return 1;
}

/* ---- branch: a middle task with leaf children ---- */

struct case_branch {
    const char *name;
    int req_fd, res_fd;     /* read end of its request pipe, write end of its result pipe */
    int extra_fd;           /* a write end it keeps (reported as ino[2]), or -1 */
    const char *extra_data; /* written to extra_fd in one write at set-up, or NULL */
    size_t extra_len;
    int new_session;        /* setsid() first */
    int nleaves;            /* 0..4 */
    const char *leaf_name[4];
    int leaf_own_group;     /* the leaves call setpgid(0, 0) */
};

/* A branch: set up (session, extra data, leaves), greeting, wait for the
 * request, check itself, have every leaf verify (5 s), reap them, answer,
 * exit 0.  The leaves must be in the branch's session and (unless
 * leaf_own_group) its group. */
__attribute__((noreturn))
CASE_FN void case_branch_main(const struct case_branch *br)
{
    signal(SIGTERM, SIG_DFL);
    int keep[3] = {br->req_fd, br->res_fd, br->extra_fd};
    case_close_fds_except(keep, 3);
    if (br->new_session && setsid() < 0)
        case_child_die(br->name, "setsid: %s", strerror(errno));
    pid_t pid0 = getpid();
    if (br->extra_data && write(br->extra_fd, br->extra_data, br->extra_len) != (ssize_t)br->extra_len)
        case_child_die(br->name, "write to the shared pipe: %s", strerror(errno));

    int lq[4], lr[4];
    pid_t lpid[4];
    int nl = br->nleaves > 4 ? 4 : br->nleaves;
    for (int i = 0; i < nl; i++) {
        int q[2], r[2];
        if (pipe(q) != 0 || pipe(r) != 0)
            case_child_die(br->name, "pipe: %s", strerror(errno));
        pid_t p = fork();
        if (p < 0)
            case_child_die(br->name, "fork: %s", strerror(errno));
        if (p == 0) {
            struct case_leaf lf = {br->leaf_name[i], q[0], r[1], br->leaf_own_group, 0};
            case_leaf_main(&lf);
        }
        close(q[0]);
        close(r[1]);
        lq[i] = q[1];
        lr[i] = r[0];
        lpid[i] = p;
    }
    for (int i = 0; i < nl; i++) {
        int w = case_wait_readable(lr[i], 10000);
        if (w != 1)
            case_child_die(br->name, "leaf %s %s during set-up", br->leaf_name[i],
                           w == 0 ? "timed out" : "died");
        if (br->leaf_own_group && getpgid(lpid[i]) != lpid[i])
            case_child_die(br->name, "leaf %s is in group %d after setpgid(0, 0)",
                           br->leaf_name[i], (int)getpgid(lpid[i]));
    }
    char g[CASE_GREET_LEN + 1];
    case_greeting(g, br->name, pid0);
    if (write(br->res_fd, g, CASE_GREET_LEN) != CASE_GREET_LEN)
        case_child_die(br->name, "greeting write: %s", strerror(errno));

    /* ---- checkpoint/restart happens while blocked here ---- */
    struct case_req rq;
    if (case_child_request(br->req_fd, &rq))
        case_check_self(pid0, &rq);

    uint64_t ino[4] = {case_pipe_ino(br->req_fd, O_RDONLY, "request pipe"),
                       case_pipe_ino(br->res_fd, O_WRONLY, "result pipe"),
                       br->extra_fd >= 0 ? case_pipe_ino(br->extra_fd, O_WRONLY, "shared pipe") : 0,
                       0};
    pid_t me = getpid(), sid = getsid(0), pg = getpgid(0);
    uint64_t qi[4], ri[4];
    for (int i = 0; i < nl; i++) {
        char what[64];
        snprintf(what, sizeof what, "request pipe to %s", br->leaf_name[i]);
        qi[i] = case_pipe_ino(lq[i], O_WRONLY, what);
        snprintf(what, sizeof what, "result pipe from %s", br->leaf_name[i]);
        ri[i] = case_pipe_ino(lr[i], O_RDONLY, what);
    }
    for (int i = 0; i < nl; i++)
        case_send_request(lq[i], br->leaf_name[i], sid, br->leaf_own_group ? CASE_OWN_PID : pg);
    int64_t deadline = case_now_ms() + 5000;
    for (int i = 0; i < nl; i++) {
        struct case_expect e = {me, sid, br->leaf_own_group ? CASE_OWN_PID : pg, lpid[i], {qi[i], ri[i], 0, 0}};
        struct case_ans a;
        if (case_collect(lr[i], br->leaf_name[i], deadline, &e, &a))
            case_reap_child(br->leaf_name[i], a.pid, 3000);
    }
    case_kill_stray_children(1);
    case_child_answer(br->res_fd, ino);
    _exit(0);
}

#endif /* UCR_TEST_CASE_H */
