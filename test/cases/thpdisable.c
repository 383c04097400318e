// build: gcc -O2 -g -Wall -Wextra -o thpdisable thpdisable.c
/*
 * thpdisable.c - prctl(PR_SET_THP_DISABLE) of a process comes back.
 *
 *   thpdisable --out FILE [--advised]
 *
 * Sets PR_SET_THP_DISABLE to 1 (with --advised: 1 with PR_THP_DISABLE_EXCEPT_ADVISED, kernel
 * 6.18; a kernel without it fails the set-up), forks a child (the flag belongs to the mm and is
 * inherited by fork) and records PR_GET_THP_DISABLE. After SIGTERM both must report the same
 * value again, the child through a pipe; "THP_enabled:" in /proc/self/status must be as before.
 */
#include "case.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#ifndef PR_THP_DISABLE_EXCEPT_ADVISED
#define PR_THP_DISABLE_EXCEPT_ADVISED (1 << 1)
#endif

/* "THP_enabled:" of /proc/self/status, -1 when absent */
static int thp_enabled(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "THP_enabled:", 12))
			v = atoi(line + 12);
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int advised = case_has_flag(argc, argv, "--advised");
	if (prctl(PR_SET_THP_DISABLE, 1, advised ? PR_THP_DISABLE_EXCEPT_ADVISED : 0, 0, 0) < 0)
		case_setup_fail("prctl(PR_SET_THP_DISABLE%s): %s", advised ? ", EXCEPT_ADVISED" : "", strerror(errno));
	int want = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	if (want != (advised ? 3 : 1))
		case_setup_fail("PR_GET_THP_DISABLE gives %d", want);
	int status_line = thp_enabled(); /* 0; 1 with EXCEPT_ADVISED (only "completely" counts) */
	int rq[2], an[2];
	case_pipe(rq, "request");
	case_pipe(an, "answer");
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		char c;
		while (read(rq[0], &c, 1) < 0 && errno == EINTR)
			;
		int v = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
		if (write(an[1], &v, sizeof v) != sizeof v)
			_exit(3);
		_exit(0);
	}
	case_ready();
	case_wait_term();

	int got = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	if (got != want)
		case_fail("PR_GET_THP_DISABLE gives %d, expected %d", got, want);
	if (thp_enabled() != status_line)
		case_fail("THP_enabled in /proc/self/status is %d, expected %d", thp_enabled(), status_line);
	int v = -1;
	if (write(rq[1], "?", 1) != 1 || case_wait_readable(an[0], 10000) != 1 || read(an[0], &v, sizeof v) != sizeof v)
		case_fail("the child did not answer");
	else if (v != want)
		case_fail("the child's PR_GET_THP_DISABLE gives %d, expected %d", v, want);
	case_reap_child("child", child, 5000);
	case_kill_stray_children(1);
	case_finish();
}
