// build: gcc -O2 -g -Wall -Wextra -o foreground foreground.c
/*
 * foreground.c - restarted into the session of a terminal, the job is in the foreground.
 *
 *   foreground --out FILE
 *
 * Waits for SIGTERM, then checks that its stdin is a terminal, that the terminal belongs to its
 * session, and that its process group is the terminal's foreground group (a job started from a
 * shell without &). Its stdin at checkpoint time is whatever the harness gave it (inherited,
 * "external"): the restart connects it to the restarting process's terminal.
 */
#include "case.h"

#include <termios.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	case_ready();
	while (!case_term)
		pause();
	if (!isatty(0))
		case_fail("stdin is not a terminal");
	else if (tcgetsid(0) != getsid(0))
		case_fail("the terminal's session is %d, mine is %d", tcgetsid(0), getsid(0));
	else if (tcgetpgrp(0) != getpgrp())
		case_fail("foreground group is %d, mine is %d", tcgetpgrp(0), getpgrp());
	case_finish();
}
