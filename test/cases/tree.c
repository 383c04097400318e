// build: gcc -O2 -g -Wall -Wextra -o tree tree.c
/*
 * tree.c - a process tree with two sessions and three process groups must
 * come back with the same parent/child links, sessions, groups and pipes
 * (including the bytes queued in them).
 *
 *   tree --out FILE [--same-pids | --any-pids]
 *
 * Tree (the root is a session leader, made so by the launcher):
 *   root            sid root, pgid root
 *   +- A            sid root, pgid root
 *   |  +- A1        sid root, pgid root
 *   +- B            setsid(): sid B, pgid B
 *      +- B1        setpgid(0, 0): sid B, pgid B1
 * Pipes: root<->A, root<->B, A<->A1, B<->B1 (a request and a result pipe
 * each, protocol of the tree kit in case.h: every child's 37-byte greeting
 * stays queued in its result pipe until verify time), plus one pipe shared
 * by three tasks: the root keeps the read end, A and B the write end, and
 * each writes a 10-byte chunk into it before ready ("A:xxxxxxxx",
 * "B:xxxxxxxx"), read by the root only after SIGTERM (either order).
 *
 * The root writes FILE.ready once all five tasks are set up, then waits for
 * SIGTERM (flag handler; children keep SIGTERM at SIG_DFL).  At verify time
 * the root sends a request to A and B, which forward one to A1 and B1; every
 * task checks its getppid(), getsid(0), getpgid(0) against its parent's
 * values at that time (with --same-pids, the default, also getpid() against
 * its pid at set-up, and the parent checks the reported pids against what
 * fork() returned); pipe ends must still be pipes with the right access
 * mode, and each child reports the inodes of its pipe ends, which must be
 * those of the parent's ends.  Answers are collected with a 10 s timeout (a
 * missing answer is a FAIL naming the child); the root then reaps A and B
 * (exit status 0), kills any child left, and requires EOF on the shared
 * pipe (nobody else holds a write end). The root has no parent-death signal
 * (the restorer's own is not left to it).
 */
#include "case.h"

#include <sys/prctl.h>

/* The 10-byte chunk task NAME writes into the shared pipe. */
static void chunk(char out[11], const char *name)
{
    uint32_t v = (uint32_t)(case_splitmix(case_token ^ (uint64_t)(unsigned char)name[0]) >> 32);
    snprintf(out, 11, "%.1s:%08x", name, v);
}

int main(int argc, char **argv)
{
    case_tree_init(argc, argv);
    case_become_session_leader();
    case_install_sigterm(0);
    pid_t root0 = getpid();

    int sh[2], aq[2], ar[2], bq[2], br[2];
    case_pipe(sh, "shared");
    case_pipe(aq, "A request");
    case_pipe(ar, "A result");
    case_pipe(bq, "B request");
    case_pipe(br, "B result");
    char ca[11], cb[11];
    chunk(ca, "A");
    chunk(cb, "B");

    pid_t a = fork();
    if (a < 0)
        case_setup_fail("fork A: %s", strerror(errno));
    if (a == 0) {
        struct case_branch b = {"A", aq[0], ar[1], sh[1], ca, 10, 0, 1, {"A1"}, 0};
        case_branch_main(&b);
    }
    pid_t b = fork();
    if (b < 0)
        case_setup_fail("fork B: %s", strerror(errno));
    if (b == 0) {
        struct case_branch bb = {"B", bq[0], br[1], sh[1], cb, 10, 1, 1, {"B1"}, 1};
        case_branch_main(&bb);
    }
    close(aq[0]);
    close(ar[1]);
    close(bq[0]);
    close(br[1]);
    close(sh[1]);

    int w = case_wait_readable(ar[0], 10000);
    if (w != 1)
        case_setup_fail("child A %s during set-up (see stderr)", w == 0 ? "timed out" : "died");
    w = case_wait_readable(br[0], 10000);
    if (w != 1)
        case_setup_fail("child B %s during set-up (see stderr)", w == 0 ? "timed out" : "died");
    int q = case_queued(sh[0]);
    if (q != 20)
        case_setup_fail("shared pipe holds %d bytes after set-up, expected 20", q);
    if (getsid(b) != b || getpgid(b) != b)
        case_setup_fail("B: sid %d pgid %d after setsid(), expected %d", (int)getsid(b),
                        (int)getpgid(b), (int)b);

    case_ready();
    case_wait_term();

    /* ---- verify ---- */
    pid_t me = getpid();
    int pdeath = -1; /* it never asked for one: the restorer's own is not left behind */
    if (prctl(PR_GET_PDEATHSIG, &pdeath) < 0 || pdeath != 0)
        case_fail("root: parent-death signal %d, expected none", pdeath);
    if (case_same_pids && me != root0)
        case_fail("root: getpid() = %d but the pid at set-up was %d (--same-pids)", (int)me,
                  (int)root0);
    if (getsid(0) != me)
        case_fail("root: getsid(0) = %d, expected its own pid %d (session leader)", (int)getsid(0),
                  (int)me);
    if (getpgid(0) != me)
        case_fail("root: getpgid(0) = %d, expected its own pid %d (group leader)",
                  (int)getpgid(0), (int)me);

    uint64_t ino[5] = {
        case_pipe_ino(aq[1], O_WRONLY, "root: request pipe to A"),
        case_pipe_ino(ar[0], O_RDONLY, "root: result pipe from A"),
        case_pipe_ino(bq[1], O_WRONLY, "root: request pipe to B"),
        case_pipe_ino(br[0], O_RDONLY, "root: result pipe from B"),
        case_pipe_ino(sh[0], O_RDONLY, "root: shared pipe"),
    };
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (ino[i] && ino[i] == ino[j])
                case_fail("root: two of its pipe fds (#%d and #%d) are the same pipe (inode %llu)",
                          i, j, (unsigned long long)ino[i]);

    case_send_request(aq[1], "A", me, me);
    case_send_request(bq[1], "B", CASE_OWN_PID, CASE_OWN_PID);
    int64_t deadline = case_now_ms() + 10000;
    struct case_expect ea = {me, me, me, a, {ino[0], ino[1], ino[4], 0}};
    struct case_expect eb = {me, CASE_OWN_PID, CASE_OWN_PID, b, {ino[2], ino[3], ino[4], 0}};
    struct case_ans ansa, ansb;
    int gota = case_collect(ar[0], "A", deadline, &ea, &ansa);
    int gotb = case_collect(br[0], "B", deadline, &eb, &ansb);
    if (gotb && ansb.sid == me)
        case_fail("B (pid %d) is in the root's session %d", ansb.pid, (int)me);

    /* the shared pipe: both chunks, atomic writes, either order, nothing more */
    char buf[20], shown[200];
    errno = 0;
    ssize_t n = case_read_full(sh[0], buf, 20, case_now_ms() + 1000);
    if (n != 20)
        case_fail("shared pipe: got %zd of the 20 bytes written before ready (%s)", n,
                  errno == 0 ? "EOF" : errno == ETIMEDOUT ? "timeout" : case_errname(errno));
    else if (!((memcmp(buf, ca, 10) == 0 && memcmp(buf + 10, cb, 10) == 0) ||
               (memcmp(buf, cb, 10) == 0 && memcmp(buf + 10, ca, 10) == 0)))
        case_fail("shared pipe holds \"%s\", expected \"%s\" and \"%s\" in either order",
                  case_show(buf, 20, shown, sizeof shown), ca, cb);
    else if ((q = case_queued(sh[0])) != 0)
        case_fail("shared pipe holds %d more bytes after the 20 expected", q);

    if (gota)
        case_reap_child("A", ansa.pid, 5000);
    if (gotb)
        case_reap_child("B", ansb.pid, 5000);
    case_kill_stray_children(1);
    case_expect_eof(sh[0], "shared pipe after A and B exited", 2000);
    case_finish();
}
