// build: gcc -O2 -g -Wall -Wextra -o orphans orphans.c
/*
 * orphans.c - a session whose leader's child died and left grandchildren under init.
 *
 *   orphans --out FILE
 *
 * The root L (session leader through the launcher) forks M, which forks G1 and G2 and exits;
 * L reaps M, so G1 and G2 are orphans (reparented to init or a subreaper) that stay in L's
 * session and process group. Each G writes a greeting into its own result pipe, then blocks
 * reading its request pipe. After SIGTERM, L sends each G its own pid; G checks that its
 * session and group are L's, and that its parent is neither L nor M; it answers PASS or a
 * reason, and exits. L checks the greetings (queued across the checkpoint), the answers, and
 * writes the verdict.
 */
#include "case.h"

#include <poll.h>

struct kid {
	const char *name;
	int req[2], res[2];
};

static void kid_main(struct kid *k, pid_t m)
{
	char greet[32];
	int n = snprintf(greet, sizeof greet, "hello from %s\n", k->name);
	if (write(k->res[1], greet, (size_t)n) != n)
		_exit(2);
	pid_t l;
	ssize_t got;
	while ((got = read(k->req[0], &l, sizeof l)) < 0 && errno == EINTR)
		;
	char ans[256];
	if (got != sizeof l)
		n = snprintf(ans, sizeof ans, "FAIL: %s: request read returned %zd errno %d\n", k->name, got, errno);
	else if (getsid(0) != l || getpgid(0) != l)
		n = snprintf(ans, sizeof ans, "FAIL: %s: sid %d pgid %d, expected %d\n", k->name, getsid(0), getpgid(0), l);
	else if (getppid() == l || getppid() == m)
		n = snprintf(ans, sizeof ans, "FAIL: %s: parent %d is not an adopter\n", k->name, getppid());
	else
		n = snprintf(ans, sizeof ans, "PASS\n");
	if (write(k->res[1], ans, (size_t)n) != n)
		_exit(2);
	_exit(0);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	struct kid kids[2] = { { .name = "G1" }, { .name = "G2" } };
	for (int i = 0; i < 2; i++)
		if (pipe(kids[i].req) < 0 || pipe(kids[i].res) < 0)
			case_setup_fail("pipe: %s", strerror(errno));
	pid_t m = fork();
	if (m < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (m == 0) {
		pid_t self = getpid();
		for (int i = 0; i < 2; i++) {
			pid_t g = fork();
			if (g == 0) {
				close(kids[i].req[1]);
				close(kids[i].res[0]);
				close(kids[1 - i].req[0]), close(kids[1 - i].req[1]);
				close(kids[1 - i].res[0]), close(kids[1 - i].res[1]);
				kid_main(&kids[i], self);
			}
		}
		_exit(0);
	}
	int st;
	waitpid(m, &st, 0);
	for (int i = 0; i < 2; i++) {
		close(kids[i].req[0]);
		close(kids[i].res[1]);
	}
	/* wait until both greetings are queued (without reading them) */
	for (int i = 0; i < 2; i++) {
		struct pollfd p = { .fd = kids[i].res[0], .events = POLLIN };
		if (poll(&p, 1, 5000) != 1)
			case_setup_fail("%s did not greet", kids[i].name);
	}
	case_ready();
	while (!case_term)
		pause();
	pid_t me = getpid();
	for (int i = 0; i < 2; i++) {
		char buf[300] = { 0 }, want[32];
		int n = snprintf(want, sizeof want, "hello from %s\n", kids[i].name);
		if (read(kids[i].res[0], buf, (size_t)n) != n || memcmp(buf, want, (size_t)n)) {
			case_fail("%s: greeting lost or garbled: \"%s\"", kids[i].name, buf);
			continue;
		}
		if (write(kids[i].req[1], &me, sizeof me) != sizeof me) {
			case_fail("%s: cannot send the request: %s", kids[i].name, strerror(errno));
			continue;
		}
		struct pollfd p = { .fd = kids[i].res[0], .events = POLLIN };
		memset(buf, 0, sizeof buf);
		if (poll(&p, 1, 10000) != 1 || read(kids[i].res[0], buf, sizeof buf - 1) <= 0) {
			case_fail("%s is missing", kids[i].name);
			continue;
		}
		if (strcmp(buf, "PASS\n")) {
			buf[strcspn(buf, "\n")] = 0;
			case_fail("%s", buf[0] == 'F' ? buf + 6 : buf);
		}
	}
	case_finish();
}
