// build: gcc -O2 -g -Wall -Wextra -o ttymodes ttymodes.c
/*
 * ttymodes.c - a job on a terminal in raw mode, like vim: its terminal modes come back with it.
 *
 *   ttymodes --out FILE
 *
 * Started as a job in the foreground of a terminal (stdin), it sets the terminal the way a
 * full-screen program does: no canonical input, no echo, no extended input processing, no
 * CR-to-NL and no XON/XOFF flow control, read() returning each byte (VMIN 1, VTIME 0); signals
 * from keys stay on (Ctrl-Z stops it), and a window size of 33 rows by 97 columns. Then it
 * writes FILE.ready and waits for SIGTERM (it may be stopped and continued meanwhile).
 * Verify: stdin is still a terminal whose foreground group is its own, with exactly the modes
 * it set (iflag, oflag, cflag, lflag, VMIN, VTIME, VINTR, VSUSP) and the same window size.
 * With --devtty it also opens /dev/tty (fd 10) first, and verifies that fd 10 is a /dev/tty
 * (5:0) of the terminal it is restarted onto (TIOCGDEV as stdin's, the session's) that writes.
 */
#include "case.h"

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

/* fd 10: a /dev/tty of stdin's terminal and session; NULL: fine */
static const char *devtty_wrong(void)
{
	static char why[160];
	struct stat st;
	unsigned d0 = 0, d10 = 0;
	if (fstat(10, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 0)
		return "fd 10 is not /dev/tty";
	if (ioctl(0, TIOCGDEV, &d0) < 0 || ioctl(10, TIOCGDEV, &d10) < 0 || d0 != d10)
		return snprintf(why, sizeof why, "fd 10 leads to terminal 0x%x, stdin to 0x%x", d10, d0), why;
	if (tcgetsid(10) != getsid(0))
		return "fd 10 is not of its session";
	if (write(10, "", 0) != 0)
		return "cannot write to fd 10";
	return NULL;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int devtty = case_has_flag(argc, argv, "--devtty");
	if (devtty) {
		int t = open("/dev/tty", O_RDWR);
		if (t < 0 || dup2(t, 10) != 10)
			case_setup_fail("/dev/tty: %s", strerror(errno));
		close(t);
	}
	if (!isatty(0))
		case_setup_fail("stdin is not a terminal");
	if (tcgetpgrp(0) != getpgrp())
		case_setup_fail("not in the foreground of its terminal");
	struct termios t;
	if (tcgetattr(0, &t) < 0)
		case_setup_fail("tcgetattr: %s", strerror(errno));
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | IEXTEN);
	t.c_lflag |= ISIG;
	t.c_iflag &= ~(tcflag_t)(ICRNL | IXON | IXOFF | INLCR | IGNCR);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	struct winsize ws = { .ws_row = 33, .ws_col = 97 };
	if (tcsetattr(0, TCSANOW, &t) < 0 || ioctl(0, TIOCSWINSZ, &ws) < 0)
		case_setup_fail("cannot set the terminal's modes: %s", strerror(errno));
	struct termios want;
	if (tcgetattr(0, &want) < 0)
		case_setup_fail("tcgetattr: %s", strerror(errno));
	case_ready();
	while (!case_term)
		pause();

	struct termios now;
	struct winsize nws = { 0 };
	if (!isatty(0) || tcgetattr(0, &now) < 0 || ioctl(0, TIOCGWINSZ, &nws) < 0)
		case_fail("stdin is not a terminal any more");
	else if (tcgetpgrp(0) != getpgrp())
		case_fail("the terminal's foreground group is %d, mine is %d", tcgetpgrp(0), getpgrp());
	else if (now.c_lflag != want.c_lflag)
		case_fail("lflag is 0%o, was 0%o (%s)", now.c_lflag, want.c_lflag, now.c_lflag & ICANON ? "canonical mode: cooked again" : "differs");
	else if (now.c_iflag != want.c_iflag || now.c_oflag != want.c_oflag || now.c_cflag != want.c_cflag)
		case_fail("iflag/oflag/cflag 0%o/0%o/0%o, were 0%o/0%o/0%o", now.c_iflag, now.c_oflag, now.c_cflag, want.c_iflag,
			  want.c_oflag, want.c_cflag);
	else if (now.c_cc[VMIN] != 1 || now.c_cc[VTIME] != 0 || now.c_cc[VINTR] != want.c_cc[VINTR] || now.c_cc[VSUSP] != want.c_cc[VSUSP])
		case_fail("control characters changed (VMIN %d VTIME %d)", now.c_cc[VMIN], now.c_cc[VTIME]);
	else if (nws.ws_row != 33 || nws.ws_col != 97)
		case_fail("window size %dx%d, was 33x97", nws.ws_row, nws.ws_col);
	else if (devtty && devtty_wrong())
		case_fail("%s", devtty_wrong());
	case_finish();
}
