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

#endif /* UCR_TEST_CASE_H */
