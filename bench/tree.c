/*
 * tree.c - benchmark workload: a tree of many small processes.
 *
 *   tree --out FILE --children C --grandchildren G
 *
 * The root forks C children, each of which forks G grandchildren: 1 + C + C*G processes.
 * Each process remembers its pid and its parent's; the root writes FILE.ready once every one
 * exists. On SIGTERM the root tells its children (SIGTERM); each child checks itself and its
 * grandchildren (alive, same pids), ends them and exits 0 if all is well; the root writes PASS
 * when every child did.
 */
#include "../test/cases/case.h"

#include <sys/wait.h>

static pid_t self, parent;

static int check_self(void)
{
	return getpid() == self && getppid() == parent;
}

static void leaf(void)
{
	signal(SIGTERM, SIG_DFL);
	self = getpid();
	parent = getppid();
	for (;;) /* SIGTERM (default action) ends it */
		pause();
}

static void branch(int g, int ready_fd)
{
	self = getpid();
	parent = getppid();
	pid_t kids[256];
	for (int i = 0; i < g; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			close(ready_fd);
			leaf();
		}
		if (kids[i] < 0)
			_exit(3);
	}
	char c = 1;
	if (write(ready_fd, &c, 1) != 1)
		_exit(3);
	close(ready_fd);
	case_wait_term();
	int ok = check_self();
	for (int i = 0; i < g; i++) {
		if (kill(kids[i], SIGTERM) < 0)
			ok = 0;
		int st;
		if (waitpid(kids[i], &st, 0) != kids[i] || !WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM)
			ok = 0;
	}
	_exit(ok ? 0 : 1);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_close_fds_except(NULL, 0); /* only the fds it means to have (stray ones are inherited here) */
	const char *c = case_arg(argc, argv, "--children"), *gc = case_arg(argc, argv, "--grandchildren");
	int nc = c ? atoi(c) : 9, ng = gc ? atoi(gc) : 10;
	if (nc < 1 || nc > 256 || ng < 0 || ng > 256)
		case_die_usage(argv[0], "--children 1..256 --grandchildren 0..256");
	case_install_sigterm(0);
	self = getpid();
	parent = getppid();
	int p[2];
	case_pipe(p, "ready pipe");
	pid_t kids[256];
	for (int i = 0; i < nc; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			close(p[0]);
			branch(ng, p[1]);
		}
		if (kids[i] < 0)
			case_setup_fail("fork: %s", strerror(errno));
	}
	close(p[1]);
	for (int i = 0; i < nc; i++) {
		char b;
		if (read(p[0], &b, 1) != 1)
			case_setup_fail("a child did not start");
	}
	close(p[0]);
	case_ready();
	case_wait_term();
	if (getpid() != self)
		case_fail("pid changed");
	for (int i = 0; i < nc; i++) {
		int st;
		if (kill(kids[i], SIGTERM) < 0)
			case_fail("child %d is gone", kids[i]);
		else if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			case_fail("child %d or its children did not check out", kids[i]);
	}
	case_finish();
}
