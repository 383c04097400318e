// build: gcc -O2 -g -Wall -Wextra -o stopsig stopsig.c
/*
 * stopsig.c - a stopped process comes back stopped by the signal that stopped it: its parent's
 * waitid(WSTOPPED) reports that signal again.
 *
 *   stopsig --out FILE
 *
 * The root R (a session leader) forks M, which leads a group of its own (so the group is not
 * orphaned: R, its parent, is in another group of the same session, and the kernel acts on
 * SIGTSTP, SIGTTIN, SIGTTOU in it). M forks A, B, D in its group and stops them with SIGTSTP,
 * SIGTTOU and SIGSTOP, each seen with waitid(WSTOPPED | WNOWAIT). After SIGTERM R asks M: each
 * child must be in state T and waitid(WSTOPPED | WNOWAIT) must report CLD_STOPPED with its
 * signal; M then continues them (SIGCONT), they exit 0, M reaps them and answers (0: all as
 * expected, else the first wrong one) and exits.
 */
#include "case.h"

#include <sys/wait.h>

static const int sigs[3] = { SIGTSTP, SIGTTOU, SIGSTOP };

/* One stopped child: waits to be continued, then exits 0. */
static void child(void)
{
	for (;;)
		pause();
}

/* 0 when waitid(WSTOPPED|WNOWAIT) on pid reports CLD_STOPPED with sig, else a code */
static int check_stop(pid_t pid, int sig, int *got)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	*got = -1;
	for (int64_t end = case_now_ms() + 5000;;) {
		if (waitid(P_PID, (id_t)pid, &si, WSTOPPED | WNOWAIT | WNOHANG) < 0)
			return 1;
		if (si.si_pid == pid)
			break;
		if (case_now_ms() > end)
			return 2;
		case_sleep_ms(5);
	}
	*got = si.si_status;
	return si.si_code == CLD_STOPPED && si.si_status == sig ? 0 : 3;
}

static void middle(int rq, int an)
{
	if (setpgid(0, 0) < 0)
		_exit(80);
	pid_t kids[3];
	for (int i = 0; i < 3; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			_exit(81);
		if (kids[i] == 0) {
			signal(SIGCONT, SIG_DFL);
			child();
		}
		int got;
		if (kill(kids[i], sigs[i]) < 0 || check_stop(kids[i], sigs[i], &got) != 0)
			_exit(82 + i);
	}
	int ok = 1;
	if (write(an, &ok, sizeof ok) != sizeof ok)
		_exit(85);
	char c;
	while (read(rq, &c, 1) < 0 && errno == EINTR)
		;
	int res[2] = { 0, 0 }; /* first wrong child (1-based), the signal it reported */
	for (int i = 0; i < 3 && !res[0]; i++) {
		char st = 0;
		pid_t ppid = 0;
		int got = 0;
		if (case_proc_stat(kids[i], &st, &ppid) < 0 || st != 'T' || check_stop(kids[i], sigs[i], &got) != 0)
			res[0] = i + 1, res[1] = st == 'T' ? got : -100 - st;
	}
	for (int i = 0; i < 3; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	if (write(an, res, sizeof res) != sizeof res)
		_exit(86);
	_exit(0);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_become_session_leader();
	case_install_sigterm(0);
	int rq[2], an[2];
	case_pipe(rq, "M request");
	case_pipe(an, "M answer");
	pid_t m = fork();
	if (m < 0)
		case_setup_fail("fork M: %s", strerror(errno));
	if (m == 0)
		middle(rq[0], an[1]);
	int ok = 0;
	if (case_wait_readable(an[0], 10000) != 1 || read(an[0], &ok, sizeof ok) != sizeof ok || ok != 1)
		case_setup_fail("M did not stop its children");
	case_ready();
	case_wait_term();

	int res[2];
	if (write(rq[1], "?", 1) != 1 || case_wait_readable(an[0], 20000) != 1 || read(an[0], res, sizeof res) != sizeof res) {
		case_fail("M did not answer");
	} else if (res[0]) {
		if (res[1] <= -100)
			case_fail("child %d (stopped with signal %d) is in state '%c', expected T", res[0], sigs[res[0] - 1], -100 - res[1]);
		else
			case_fail("child %d (stopped with signal %d): waitid reports signal %d", res[0], sigs[res[0] - 1], res[1]);
	}
	case_reap_child("M", m, 5000);
	case_kill_stray_children(1);
	case_finish();
}
