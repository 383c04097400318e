// build: gcc -O2 -g -Wall -Wextra -o selfckpt selfckpt.c
/*
 * selfckpt.c - a program that checkpoints itself (and its child) by running
 * `ucr checkpoint` on its own pid through system(), and learns from the
 * call's status whether it is the original or a restarted copy.
 *
 *   selfckpt --out FILE --cmd "COMMAND with {pid}"
 *
 * Set-up: fills 4 MiB with a pattern, forks a child that waits, writes
 * FILE.ready.  On SIGUSR1 it runs system(COMMAND) with {pid} replaced by its
 * own pid, and writes what system() returned to FILE.status as
 * "exited N" / "signaled N" / "error E" (the original gets "exited 0" unless
 * --kill killed it first; a restarted copy gets "exited 99", ucr's
 * documented status for "you were restarted").  On SIGTERM it verifies the
 * pattern, that the child is still its own live child (and not reaped by
 * anyone), and that the call's status was one of those two.
 */
#include "case.h"

#include <sys/wait.h>

#define MEM (4u << 20)

static volatile sig_atomic_t go;
static void on_usr1(int sig)
{
    (void)sig;
    go = 1;
}

static uint64_t pattern(uint64_t i)
{
    return case_splitmix(i * 0x9e3779b97f4a7c15ULL + 7);
}

static void write_status(const char *text)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s.status.tmp", case_out);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    case_write_all(fd, text, strlen(text));
    close(fd);
    char fin[PATH_MAX + 16];
    snprintf(fin, sizeof fin, "%s.status", case_out);
    rename(path, fin);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    const char *tmpl = case_arg(argc, argv, "--cmd");
    if (!tmpl)
        case_die_usage(argv[0], "missing --cmd");

    uint64_t *mem = malloc(MEM);
    if (!mem)
        case_setup_fail("malloc: %s", strerror(errno));
    for (size_t i = 0; i < MEM / 8; i++)
        mem[i] = pattern(i);

    pid_t child = fork();
    if (child < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (child == 0) {
        for (;;)
            pause();
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        case_setup_fail("sigaction(SIGUSR1): %s", strerror(errno));
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);

    /* the command, {pid} replaced by our pid */
    char cmd[4096], pidtext[16];
    snprintf(pidtext, sizeof pidtext, "%d", (int)getpid());
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 16 < sizeof cmd;) {
        if (!strncmp(p, "{pid}", 5)) {
            o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s", pidtext);
            p += 5;
        } else
            cmd[o++] = *p++;
    }
    cmd[o] = 0;

    case_ready();
    while (!go && !case_term)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);

    int st = system(cmd);
    int called_errno = errno;
    char text[64];
    if (st == -1)
        snprintf(text, sizeof text, "error %s\n", case_errname(called_errno));
    else if (WIFEXITED(st))
        snprintf(text, sizeof text, "exited %d\n", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(text, sizeof text, "signaled %d\n", WTERMSIG(st));
    else
        snprintf(text, sizeof text, "status 0x%x\n", st);
    write_status(text);

    case_wait_term();

    for (size_t i = 0; i < MEM / 8; i++)
        if (mem[i] != pattern(i)) {
            case_fail("memory word %zu is %016llx, expected %016llx", i, (unsigned long long)mem[i],
                      (unsigned long long)pattern(i));
            break;
        }
    int wst;
    pid_t w = waitpid(child, &wst, WNOHANG);
    if (w != 0)
        case_fail("child %d: waitpid(WNOHANG) returned %d (%s): it should be our live child", (int)child, (int)w,
                  w < 0 ? case_errname(errno) : "exited");
    else {
        kill(child, SIGKILL);
        if (waitpid(child, &wst, 0) != child || !WIFSIGNALED(wst) || WTERMSIG(wst) != SIGKILL)
            case_fail("child %d did not end by our SIGKILL", (int)child);
    }
    if (st == -1 || !WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 99))
        case_fail("the ucr call returned %s", text);
    /* no other child may be left (the call was our only other one) */
    if (waitpid(-1, &wst, WNOHANG) != -1 || errno != ECHILD)
        case_fail("a child other than %d is left", (int)child);
    case_finish();
}
