// build: gcc -O2 -g -Wall -Wextra -o notify notify.c
/*
 * notify.c - a C/R-aware program: it catches SIGUSR2 (ucr --notify-signal
 * SIGUSR2) and tells ucr's notifications apart by their siginfo: si_code
 * SI_QUEUE, si_value 1 before a checkpoint, 2 after a restart.
 *
 *   notify --out FILE [--expect PRE,POST]
 *
 * Waits for SIGTERM, then checks that it got exactly PRE "checkpoint" and
 * POST "restarted" notifications (default 1,1), each from a sender other
 * than itself, the restarted one after the checkpoint one, and no SIGUSR2
 * that was not a ucr notification.
 */
#include "case.h"

static volatile sig_atomic_t pre, post, other, order_ok = 1, self_sent;
static volatile sig_atomic_t seq, pre_seq;

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    if (si->si_code != SI_QUEUE) {
        other++;
        return;
    }
    if (si->si_pid == getpid())
        self_sent = 1;
    if (si->si_value.sival_int == 1) {
        pre++;
        pre_seq = ++seq;
    } else if (si->si_value.sival_int == 2) {
        post++;
        if (!pre_seq)
            order_ok = 0;
        ++seq;
    } else
        other++;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int want_pre = 1, want_post = 1;
    const char *e = case_arg(argc, argv, "--expect");
    if (e && sscanf(e, "%d,%d", &want_pre, &want_post) != 2)
        case_die_usage(argv[0], "--expect PRE,POST");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, NULL) != 0)
        case_setup_fail("sigaction(SIGUSR2): %s", strerror(errno));
    case_ready();
    case_wait_term();
    if (pre != want_pre || post != want_post)
        case_fail("got %d checkpoint and %d restarted notifications, expected %d and %d", (int)pre, (int)post,
                  want_pre, want_post);
    if (other)
        case_fail("%d SIGUSR2 that were not ucr notifications", (int)other);
    if (!order_ok)
        case_fail("the restarted notification came before the checkpoint one");
    if (self_sent)
        case_fail("a notification claims to come from the process itself");
    case_finish();
}
