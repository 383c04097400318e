// build: gcc -O2 -g -Wall -Wextra -o memfdexec memfdexec.c
/*
 * memfdexec.c - a sealed memfd holding a program can still be executed after a restart (the
 * way runc runs its own copy): no writable fd to it is left open by the restorer, and its
 * seals come back.
 *
 *   memfdexec --out FILE
 *
 * memfd_create(MFD_ALLOW_SEALING), /bin/true copied into it, sealed (SEAL|SHRINK|GROW|WRITE|EXEC),
 * reopened read-only through /proc/self/fd and the writable fd closed; executed once by a child
 * with execveat(fd, "", AT_EMPTY_PATH) before the checkpoint. After SIGTERM the seals must be the
 * same and a child's execveat must run it again (exit 0; ETXTBSY if a writable fd is open).
 * --rdwr: no seals, and memfd_create's own read-write fd (O_APPEND set) is the one kept and
 * executed (memfd_create's file is no writer of the inode; a reopened read-write one would be):
 * after the restart it still runs, and a byte appended through it lands at the end.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_EXEC)

/* 0: ran and exited 0; otherwise the errno of execveat, or 1000 + status */
static int run(int fd)
{
    pid_t c = fork();
    if (c < 0)
        return errno;
    if (c == 0) {
        char *argv[] = { "true", NULL }, *envp[] = { NULL };
        syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
        _exit(errno < 256 ? errno : 255);
    }
    int st;
    if (waitpid(c, &st, 0) != c)
        return errno;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + st;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int rdwr = case_has_flag(argc, argv, "--rdwr"), r0 = 0;
    int w = memfd_create("ucr-exec", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    int src = open("/bin/true", O_RDONLY | O_CLOEXEC);
    if (w < 0 || src < 0)
        case_setup_fail("memfd_create/open: %s", strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0)
        if (write(w, buf, (size_t)n) != n)
            case_setup_fail("write: %s", strerror(errno));
    close(src);
    if (rdwr) {
        off_t size = lseek(w, 0, SEEK_END);
        if (fcntl(w, F_SETFL, O_APPEND) < 0 || (r0 = run(w)) != 0)
            case_setup_fail("execveat of the read-write memfd before the checkpoint: %s", r0 < 1000 ? case_errname(r0) : "status");
        case_ready();
        case_wait_term();
        if ((r0 = run(w)) != 0)
            case_fail("execveat of the read-write memfd after the restart: %s", r0 < 256 ? case_errname(r0) : "exit status");
        else if (write(w, "x", 1) != 1 || lseek(w, 0, SEEK_END) != size + 1 || pread(w, buf, 1, size) != 1 || buf[0] != 'x')
            case_fail("the read-write memfd lost its contents, size or O_APPEND");
        case_finish();
    }
    if (fcntl(w, F_ADD_SEALS, SEALS))
        case_setup_fail("F_ADD_SEALS: %s", strerror(errno));
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", w);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        case_setup_fail("reopen read-only: %s", strerror(errno));
    close(w);
    int want = fcntl(fd, F_GET_SEALS); /* F_SEAL_EXEC implies the write seals, FUTURE_WRITE too */
    int r = run(fd);
    if (r)
        case_setup_fail("execveat before the checkpoint: %s", r < 1000 ? case_errname(r) : "status");
    case_ready();
    case_wait_term();

    int seals = fcntl(fd, F_GET_SEALS);
    if (seals != want)
        case_fail("seals 0x%x, expected 0x%x", seals, want);
    r = run(fd);
    if (r)
        case_fail("execveat after the restart: %s", r < 256 ? case_errname(r) : "exit status");
    case_finish();
}
