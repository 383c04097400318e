/* The interrupts: SIGTERM (the coordinator's death, PR_SET_PDEATHSIG, or a service manager),
 * SIGINT, SIGQUIT and SIGHUP (a terminal's Ctrl-C, Ctrl-\ and hang-up, sent to the whole
 * process group the helper shares with the coordinator). One list for every place that
 * handles, blocks or ignores them (main.c, restore/). */
#define _GNU_SOURCE
#include <signal.h>

#include "helper.h"

static const int interrupt_sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP };
#define NINTERRUPTS ((int)(sizeof interrupt_sigs / sizeof interrupt_sigs[0]))

void interrupts(sigset_t *set)
{
	sigemptyset(set);
	for (int i = 0; i < NINTERRUPTS; i++)
		sigaddset(set, interrupt_sigs[i]);
}

void interrupts_handled(void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };
	interrupts(&sa.sa_mask); /* one handler at a time: a second signal in it would run it again */
	for (int i = 0; i < NINTERRUPTS; i++)
		sigaction(interrupt_sigs[i], &sa, NULL);
}

void interrupts_blocked(int block)
{
	sigset_t set;
	interrupts(&set);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* from: 0 every interrupt, 1 the terminal's only (SIGTERM, first in the list, kept) */
static void ignored_from(int from)
{
	for (int i = from; i < NINTERRUPTS; i++)
		signal(interrupt_sigs[i], SIG_IGN); /* drops one pending too */
}

void interrupts_ignored(void)
{
	ignored_from(0);
}

void terminal_interrupts_ignored(void)
{
	ignored_from(1);
}
