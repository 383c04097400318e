// build: gcc -O2 -g -Wall -Wextra -o subtree subtree.c
/*
 * subtree.c - a tree of which one branch (R and its two children) can be
 * checkpointed and restarted alone, away from the rest.
 *
 *   subtree --out FILE [--same-pids | --any-pids] [--no-subreaper] [--no-r-greeting]
 *
 * Tree (all in the root's session and group):
 *   root          session leader; PR_SET_CHILD_SUBREAPER (unless
 *   |             --no-subreaper), so killed grandchildren are reaped at once
 *   +- L          branch of the tree kit (case.h), blocked in read() on its
 *   |  +- L1, L2  request pipe from the root; leaves, blocked in read() on
 *   |             their request pipes from L
 *   +- R          SIGTERM flag handler, waits in pause(); shares NO fd with
 *      +- R1, R2  the root or L (only stdio): its set-up greeting goes into
 *                 a pipe whose write end it closes at once.  R1, R2 are
 *                 leaves blocked in read() on request pipes from R.
 * Once everything is set up the root writes FILE.branch (R's pid, "%d\n",
 * atomically), then FILE.ready.  Its wait for SIGTERM is a 50 ms nanosleep
 * loop that reaps (WNOHANG) whatever child has ended, so R's pid (and, as a
 * subreaper, R1's and R2's) is freed as soon as they are killed.
 *
 * Protocol of the test:
 *   1. checkpoint R's subtree (R, R1, R2), kill it, restart it (R's parent
 *      is then whoever restarts it);
 *   2. SIGTERM to R: R asks R1 and R2 to verify (each checks getppid() == R's
 *      getpid(), getsid(0) == R's getsid(0), getpgid(0) == R's getpgid(0),
 *      whatever they are now, and, with --same-pids (default), its pid); R
 *      checks their answers, greetings, pipe inodes, reaps them (exit 0) and
 *      writes PASS or FAIL: reason to FILE.R (atomically) and exits 0/1;
 *   3. SIGTERM to the root: it asks L to verify (L, L1, L2 in the root's
 *      session and group, ppid relations, pipes, queued greetings), checks
 *      R's set-up greeting (then EOF) in the pipe it still holds, reaps L,
 *      reaps anything else only with WNOHANG (never waits for R), and writes
 *      FILE.  R's fate does not affect the root's verdict.  (R's greeting pipe
 *      holds queued data and has no writer left; --no-r-greeting skips that
 *      check, e.g. for a restorer that cannot recreate such a pipe.)
 * The whole tree can also be checkpointed and restarted as one (same steps
 * 2 and 3).  The root never signals R: a test that does not SIGTERM (or
 * kill) R leaves it waiting in pause().
 */
#include "case.h"

static pid_t r_pid = -1;

/* Set-up failure in the root: R waits in pause(), so kill it (everything
 * else exits on EOF of its request pipe when the root is gone). */
#define SETUP_FAIL(...)                                                                           \
    do {                                                                                          \
        if (r_pid > 0)                                                                            \
            kill(r_pid, SIGKILL);                                                                 \
        case_setup_fail(__VA_ARGS__);                                                             \
    } while (0)

__attribute__((noreturn)) static void run_r(int gfd)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = case_on_sigterm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0)
        case_child_die("R", "sigaction(SIGTERM): %s", strerror(errno));
    case_close_fds_except(&gfd, 1);
    pid_t pid0 = getpid();

    static const char *const names[2] = {"R1", "R2"};
    int q[2][2], r[2][2];
    pid_t kid[2];
    for (int i = 0; i < 2; i++) {
        if (pipe(q[i]) != 0 || pipe(r[i]) != 0)
            case_child_die("R", "pipe: %s", strerror(errno));
        kid[i] = fork();
        if (kid[i] < 0)
            case_child_die("R", "fork: %s", strerror(errno));
        if (kid[i] == 0) {
            struct case_leaf lf = {names[i], q[i][0], r[i][1], 0, 0};
            case_leaf_main(&lf);
        }
        close(q[i][0]);
        close(r[i][1]);
    }
    for (int i = 0; i < 2; i++) {
        int w = case_wait_readable(r[i][0], 10000);
        if (w != 1)
            case_child_die("R", "%s %s during set-up", names[i], w == 0 ? "timed out" : "died");
    }
    char g[CASE_GREET_LEN + 1];
    case_greeting(g, "R", pid0);
    if (write(gfd, g, CASE_GREET_LEN) != CASE_GREET_LEN)
        case_child_die("R", "greeting write: %s", strerror(errno));
    close(gfd);

    /* ---- checkpointed and restarted (alone) while waiting here ---- */
    case_wait_term();

    pid_t me = getpid(), sid = getsid(0), pg = getpgid(0);
    if (case_same_pids && me != pid0)
        case_fail("R: getpid() = %d but the pid at set-up was %d (--same-pids)", (int)me,
                  (int)pid0);
    uint64_t qi[2], ri[2];
    for (int i = 0; i < 2; i++) {
        char what[64];
        snprintf(what, sizeof what, "R: request pipe to %s", names[i]);
        qi[i] = case_pipe_ino(q[i][1], O_WRONLY, what);
        snprintf(what, sizeof what, "R: result pipe from %s", names[i]);
        ri[i] = case_pipe_ino(r[i][0], O_RDONLY, what);
    }
    if (qi[0] && (qi[0] == qi[1] || qi[0] == ri[0] || qi[0] == ri[1]))
        case_fail("R: two of its pipe fds are the same pipe");
    if (ri[0] && (ri[0] == ri[1] || ri[0] == qi[1]))
        case_fail("R: two of its pipe fds are the same pipe");
    for (int i = 0; i < 2; i++)
        case_send_request(q[i][1], names[i], sid, pg);
    int64_t deadline = case_now_ms() + 10000;
    for (int i = 0; i < 2; i++) {
        struct case_expect e = {me, sid, pg, kid[i], {qi[i], ri[i], 0, 0}};
        struct case_ans a;
        if (case_collect(r[i][0], names[i], deadline, &e, &a))
            case_reap_child(names[i], a.pid, 5000);
    }
    case_kill_stray_children(1);
    case_finish_aux(".R");
}

int main(int argc, char **argv)
{
    case_tree_init(argc, argv);
    int subreaper = !case_has_flag(argc, argv, "--no-subreaper");
    int r_greeting = !case_has_flag(argc, argv, "--no-r-greeting");
    case_become_session_leader();
    case_install_sigterm(0);
    if (subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        case_setup_fail("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
    pid_t root0 = getpid();

    int lq[2], lr[2], rg[2];
    case_pipe(lq, "L request");
    case_pipe(lr, "L result");
    case_pipe(rg, "R greeting");
    pid_t l = fork();
    if (l < 0)
        case_setup_fail("fork L: %s", strerror(errno));
    if (l == 0) {
        struct case_branch b = {"L", lq[0], lr[1], -1, NULL, 0, 0, 2, {"L1", "L2"}, 0};
        case_branch_main(&b);
    }
    r_pid = fork();
    if (r_pid < 0)
        case_setup_fail("fork R: %s", strerror(errno));
    if (r_pid == 0)
        run_r(rg[1]);
    close(lq[0]);
    close(lr[1]);
    close(rg[1]);

    int w = case_wait_readable(lr[0], 10000);
    if (w != 1)
        SETUP_FAIL("child L %s during set-up (see stderr)", w == 0 ? "timed out" : "died");
    w = case_wait_readable(rg[0], 10000);
    if (w != 1)
        SETUP_FAIL("child R %s during set-up (see stderr)", w == 0 ? "timed out" : "died");
    char buf[32];
    snprintf(buf, sizeof buf, "%d\n", (int)r_pid);
    if (case_write_aux(".branch", buf) != 0)
        SETUP_FAIL("cannot write %s.branch: %s", case_out, strerror(errno));

    case_ready();
    while (!case_term) {
        case_reap_nohang_all();
        case_sleep_ms(50);
    }

    /* ---- verify (L's branch only) ---- */
    pid_t me = getpid();
    if (case_same_pids && me != root0)
        case_fail("root: getpid() = %d but the pid at set-up was %d (--same-pids)", (int)me,
                  (int)root0);
    if (getsid(0) != me || getpgid(0) != me)
        case_fail("root: getsid(0) = %d, getpgid(0) = %d, expected its own pid %d",
                  (int)getsid(0), (int)getpgid(0), (int)me);
    uint64_t qi = case_pipe_ino(lq[1], O_WRONLY, "root: request pipe to L");
    uint64_t ri = case_pipe_ino(lr[0], O_RDONLY, "root: result pipe from L");
    uint64_t gi = case_pipe_ino(rg[0], O_RDONLY, "root: R's greeting pipe");
    if ((qi && (qi == ri || qi == gi)) || (ri && ri == gi))
        case_fail("root: two of its pipe fds are the same pipe");

    case_send_request(lq[1], "L", me, me);
    struct case_expect e = {me, me, me, l, {qi, ri, 0, 0}};
    struct case_ans a;
    int got = case_collect(lr[0], "L", case_now_ms() + 10000, &e, &a);

    /* R's set-up greeting is still queued in the root's pipe, without a writer */
    if (r_greeting) {
        char want[CASE_GREET_LEN + 1], g[CASE_GREET_LEN], shown[200];
        case_greeting(want, "R", r_pid);
        errno = 0;
        ssize_t n = case_read_full(rg[0], g, CASE_GREET_LEN, case_now_ms() + 1000);
        if (n != CASE_GREET_LEN)
            case_fail("R's greeting pipe: got %zd of %d bytes (%s)", n, CASE_GREET_LEN,
                      errno == 0 ? "EOF" : errno == ETIMEDOUT ? "timeout" : case_errname(errno));
        else if (memcmp(g, want, CASE_GREET_LEN) != 0)
            case_fail("R's greeting pipe holds \"%s\", expected \"%s\"",
                      case_show(g, CASE_GREET_LEN, shown, sizeof shown), want);
        else
            case_expect_eof(rg[0], "R's greeting pipe (R closed its write end at set-up)", 1000);
    }

    if (got)
        case_reap_child("L", a.pid, 5000);
    case_reap_nohang_all(); /* R (if it has ended), orphans: never waited for */
    case_finish();
}
