// build: gcc -O2 -g -Wall -Wextra -o traphandler traphandler.c
/*
 * traphandler.c - a checkpoint leaves a running process's SIGTRAP action as it was (the
 * helper's injected calls end with int3, whose trap, with every signal blocked, made the
 * kernel reset the handler to SIG_DFL).
 *
 *   traphandler --out FILE [--ignore]
 *
 * Set up: SIGTRAP handled (SA_RESTART | SA_SIGINFO, SIGUSR2 in its mask), or with --ignore
 * SIG_IGN. After SIGTERM: the same action, and raise(SIGTRAP) runs the handler (or, ignored,
 * does nothing).
 */
#include "case.h"

static volatile sig_atomic_t traps;

static void on_trap(int s, siginfo_t *si, void *u)
{
	(void)s, (void)si, (void)u;
	traps++;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int ignore = case_has_flag(argc, argv, "--ignore");
	struct sigaction sa = { .sa_flags = SA_SIGINFO | SA_RESTART };
	if (ignore)
		sa.sa_handler = SIG_IGN, sa.sa_flags = 0;
	else
		sa.sa_sigaction = on_trap;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(SIGTRAP, &sa, NULL))
		case_setup_fail("sigaction: %s", strerror(errno));
	case_ready();
	case_wait_term();
	struct sigaction cur;
	sigaction(SIGTRAP, NULL, &cur);
	if (ignore && cur.sa_handler != SIG_IGN)
		case_fail("SIGTRAP is no longer ignored (%s)", cur.sa_handler == SIG_DFL ? "SIG_DFL" : "a handler");
	if (!ignore && cur.sa_sigaction != on_trap)
		case_fail("the SIGTRAP handler is gone (%s)", cur.sa_handler == SIG_DFL ? "SIG_DFL" : "another one");
	if (!ignore && (cur.sa_flags & (SA_SIGINFO | SA_RESTART)) != (SA_SIGINFO | SA_RESTART))
		case_fail("SIGTRAP's flags changed: %#x", (unsigned)cur.sa_flags);
	if (!sigismember(&cur.sa_mask, SIGUSR2))
		case_fail("SIGTRAP's mask lost SIGUSR2");
	if (!case_failed) {
		raise(SIGTRAP);
		if (!ignore && traps != 1)
			case_fail("raise(SIGTRAP) ran the handler %d times", (int)traps);
	}
	case_finish();
	return 0;
}
