// build: gcc -O2 -g -Wall -Wextra -o zombie_stopped zombie_stopped.c
/*
 * zombie_stopped.c - a zombie child must come back as a zombie (same exit
 * status) and a stopped child as stopped.
 *
 *   zombie_stopped --out FILE [--same-pids | --any-pids] [--no-farewell]
 *
 * The root (a session leader) forks
 *   Z: writes a 37-byte farewell (the greeting of "Z") into a pipe whose read
 *      end only the root keeps, then _exit(42).  The root waits for it with
 *      waitid(WEXITED | WNOWAIT): Z stays an unreaped zombie.
 *   S: a leaf of the tree kit (case.h): writes its greeting into its result
 *      pipe, then raise(SIGSTOP).  The root waits for the stop with
 *      waitpid(S, WUNTRACED), sends it a second SIGSTOP (pending while it is
 *      stopped), then writes FILE.ready.
 * Then the root waits for SIGTERM (flag handler; S keeps SIGTERM at SIG_DFL).
 *
 * Verify: the root finds its children in /proc (ppid == its pid now): there
 * must be exactly two, one in state 'Z' and one in state 'T' (with
 * --same-pids, the default, at the pids fork() returned).  It sends SIGCONT
 * to the stopped one and a verify request over its request pipe; S checks
 * getppid(), getsid(0), getpgid(0) (the root's) and, with --same-pids, its
 * pid, and answers (10 s timeout; the root also checks S's greeting, its
 * pipe inodes and reported ids).  Then the zombie: /proc state 'Z', ppid the
 * root, reaped with waitpid: WIFEXITED, status 42.  Then the farewell pipe
 * must hold exactly Z's 37 bytes followed by EOF (a pipe with queued data
 * and no writer left; --no-farewell skips this check).  Finally S is reaped
 * (exit 0) and anything else left is a failure (killed).
 */
#include "case.h"

static pid_t s_pid = -1;

/* Set-up failure: do not leave S stopped forever. */
#define SETUP_FAIL(...)                                                                           \
    do {                                                                                          \
        if (s_pid > 0) {                                                                          \
            kill(s_pid, SIGKILL);                                                                 \
            waitpid(s_pid, NULL, 0);                                                              \
        }                                                                                         \
        case_setup_fail(__VA_ARGS__);                                                             \
    } while (0)

int main(int argc, char **argv)
{
    case_tree_init(argc, argv);
    int farewell = !case_has_flag(argc, argv, "--no-farewell");
    case_become_session_leader();
    case_install_sigterm(0);
    pid_t root0 = getpid();

    /* ---- Z ---- */
    int fw[2];
    case_pipe(fw, "farewell");
    pid_t z = fork();
    if (z < 0)
        case_setup_fail("fork Z: %s", strerror(errno));
    if (z == 0) {
        signal(SIGTERM, SIG_DFL);
        case_close_fds_except(&fw[1], 1);
        char g[CASE_GREET_LEN + 1];
        case_greeting(g, "Z", getpid());
        if (write(fw[1], g, CASE_GREET_LEN) != CASE_GREET_LEN)
            _exit(3);
        _exit(42);
    }
    close(fw[1]);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT) != 0)
        if (errno != EINTR)
            case_setup_fail("waitid(Z, WNOWAIT): %s", strerror(errno));
    if (si.si_code != CLD_EXITED || si.si_status != 42)
        case_setup_fail("Z ended with si_code %d status %d, expected exit 42", si.si_code,
                        si.si_status);
    char st;
    pid_t pp;
    if (case_proc_stat(z, &st, &pp) != 0 || st != 'Z')
        case_setup_fail("Z (pid %d) is not a zombie after exiting", (int)z);

    /* ---- S ---- */
    int sq[2], sr[2];
    case_pipe(sq, "S request");
    case_pipe(sr, "S result");
    s_pid = fork();
    if (s_pid < 0)
        case_setup_fail("fork S: %s", strerror(errno));
    if (s_pid == 0) {
        struct case_leaf lf = {"S", sq[0], sr[1], 0, 1};
        case_leaf_main(&lf);
    }
    close(sq[0]);
    close(sr[1]);
    int wst;
    pid_t r;
    while ((r = waitpid(s_pid, &wst, WUNTRACED)) < 0 && errno == EINTR)
        ;
    if (r != s_pid) {
        s_pid = -1;
        case_setup_fail("waitpid(S, WUNTRACED): %s", strerror(errno));
    }
    if (!WIFSTOPPED(wst)) {
        s_pid = -1; /* it has ended (and is reaped) */
        case_setup_fail("S ended during set-up (status 0x%x, see stderr)", wst);
    }
    if (WSTOPSIG(wst) != SIGSTOP)
        SETUP_FAIL("S stopped by signal %d, expected SIGSTOP", WSTOPSIG(wst));
    /* a second SIGSTOP stays pending while S is stopped (the checkpoint's injected calls used
     * to be stopped by it: zdtm stopped01) */
    if (kill(s_pid, SIGSTOP) < 0)
        SETUP_FAIL("kill(S, SIGSTOP): %s", strerror(errno));
    if (case_wait_readable(sr[0], 1000) != 1)
        SETUP_FAIL("S is stopped but its greeting is not in its result pipe");
    if (case_proc_stat(s_pid, &st, &pp) != 0 || st != 'T')
        SETUP_FAIL("S (pid %d) is in state %c after stopping, expected T", (int)s_pid, st);

    case_ready();
    case_wait_term();

    /* ---- verify ---- */
    pid_t me = getpid(), sid = getsid(0), pg = getpgid(0);
    if (case_same_pids && me != root0)
        case_fail("root: getpid() = %d but the pid at set-up was %d (--same-pids)", (int)me,
                  (int)root0);
    if (sid != me || pg != me)
        case_fail("root: getsid(0) = %d, getpgid(0) = %d, expected its own pid %d", (int)sid,
                  (int)pg, (int)me);
    uint64_t qi = case_pipe_ino(sq[1], O_WRONLY, "root: request pipe to S");
    uint64_t ri = case_pipe_ino(sr[0], O_RDONLY, "root: result pipe from S");
    uint64_t fi = case_pipe_ino(fw[0], O_RDONLY, "root: farewell pipe");
    if ((qi && (qi == ri || qi == fi)) || (ri && ri == fi))
        case_fail("root: two of its pipe fds are the same pipe (inodes %llu %llu %llu)",
                  (unsigned long long)qi, (unsigned long long)ri, (unsigned long long)fi);

    /* find the zombie and the stopped child as they are now */
    pid_t kids[8];
    char kst[8];
    int nk = case_children_of(me, kids, kst, 8);
    pid_t zc = -1, sc = -1;
    char list[256] = "";
    for (int i = 0; i < nk && i < 8; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, " %d(%c)", (int)kids[i], kst[i]);
        if (kst[i] == 'Z' && zc < 0)
            zc = kids[i];
        else if (kst[i] != 'Z' && sc < 0)
            sc = kids[i];
    }
    if (nk != 2 || zc < 0 || sc < 0)
        case_fail("root has %d children in /proc:%s; expected 2, a zombie (Z) and a stopped task (S)",
                  nk, nk ? list : " none");
    if (case_same_pids) {
        if (zc >= 0 && zc != z)
            case_fail("the zombie child is pid %d but Z was pid %d (--same-pids)", (int)zc, (int)z);
        if (sc >= 0 && sc != s_pid)
            case_fail("the live child is pid %d but S was pid %d (--same-pids)", (int)sc,
                      (int)s_pid);
        if (zc < 0)
            zc = z;
        if (sc < 0)
            sc = s_pid;
    }

    /* S: must still be stopped; continue it and have it verify */
    struct case_ans ans;
    int gots = 0;
    if (sc > 0) {
        if (case_proc_stat(sc, &st, &pp) != 0)
            case_fail("S (pid %d): /proc/%d/stat unreadable", (int)sc, (int)sc);
        else if (st != 'T')
            case_fail("S (pid %d) is in state '%c' before SIGCONT, expected 'T' (stopped)", (int)sc,
                      st);
        if (kill(sc, SIGCONT) != 0)
            case_fail("kill(S %d, SIGCONT): %s", (int)sc, strerror(errno));
    }
    case_send_request(sq[1], "S", sid, pg);
    struct case_expect es = {me, sid, pg, s_pid, {qi, ri, 0, 0}};
    gots = case_collect(sr[0], "S", case_now_ms() + 10000, &es, &ans);

    /* Z: still a zombie child of ours, exit status 42 */
    if (zc > 0) {
        if (case_proc_stat(zc, &st, &pp) != 0)
            case_fail("Z (pid %d): /proc/%d/stat unreadable", (int)zc, (int)zc);
        else if (st != 'Z' || pp != me)
            case_fail("Z (pid %d) is in state '%c' with ppid %d, expected a zombie child of %d",
                      (int)zc, st, (int)pp, (int)me);
        int zs = 0;
        int rr = case_reap(zc, 2000, &zs);
        if (rr < 0)
            case_fail("waitpid(Z %d): %s", (int)zc, strerror(errno));
        else if (rr == 0)
            case_fail("Z (pid %d) could not be reaped within 2 s (not a zombie)", (int)zc);
        else if (WIFSIGNALED(zs))
            case_fail("Z was killed by signal %d, expected exit status 42", WTERMSIG(zs));
        else if (!WIFEXITED(zs) || WEXITSTATUS(zs) != 42)
            case_fail("Z exit status is %d, expected 42", WIFEXITED(zs) ? WEXITSTATUS(zs) : -1);
    }

    /* Z's farewell: queued bytes in a pipe without a writer */
    if (farewell) {
        char want[CASE_GREET_LEN + 1], got[CASE_GREET_LEN], shown[200];
        case_greeting(want, "Z", z);
        errno = 0;
        ssize_t n = case_read_full(fw[0], got, CASE_GREET_LEN, case_now_ms() + 1000);
        if (n != CASE_GREET_LEN)
            case_fail("farewell pipe: got %zd of the %d bytes Z wrote before exiting (%s)", n,
                      CASE_GREET_LEN,
                      errno == 0 ? "EOF" : errno == ETIMEDOUT ? "timeout" : case_errname(errno));
        else if (memcmp(got, want, CASE_GREET_LEN) != 0)
            case_fail("farewell pipe holds \"%s\", expected \"%s\"",
                      case_show(got, CASE_GREET_LEN, shown, sizeof shown), want);
        else
            case_expect_eof(fw[0], "farewell pipe (Z is dead, no writer may be left)", 1000);
    }

    if (gots)
        case_reap_child("S", ans.pid, 5000);
    case_kill_stray_children(1);
    case_finish();
}
