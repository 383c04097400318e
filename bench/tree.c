/*
 * tree.c - benchmark workload: a tree of many small processes.
 *
 *   tree --out FILE --children C --grandchildren G [--fds F]
 *
 * The root forks C children, each of which forks G grandchildren: 1 + C + C*G processes.
 * With --fds F the root first opens F/2 pipes (one byte queued in each) that every process
 * inherits: F fds per process, one set of pipes for the whole tree.
 * Each process remembers its pid and its parent's; the root writes FILE.ready once every one
 * exists. On SIGTERM the root tells its children (SIGTERM); each child tells its grandchildren,
 * which check themselves (same pid and parent, every inherited fd a pipe end of the right
 * direction, the two ends of each pipe one pipe, no pipe the same as the one before) and exit 0 if
 * all is well; each child checks itself and them and exits 0 if all is well; the root writes
 * PASS when every child did, its own fds check out the same way and each pipe still holds its
 * byte.
 */
#include "../test/cases/case.h"

#include <sys/wait.h>

static pid_t self, parent;
static int npipes;
static int (*pipes)[2];
static ino_t *inos;

/* Every inherited fd still a pipe end of the right direction, both ends of pipe i one pipe, and
 * no pipe the same as the one before (a restart makes new pipes: inode numbers change) */
static int check_fds(void)
{
	for (int i = 0; i < npipes; i++) {
		struct stat r, w;
		if (fstat(pipes[i][0], &r) != 0 || fstat(pipes[i][1], &w) != 0 || !S_ISFIFO(r.st_mode) || r.st_ino != w.st_ino)
			return 0;
		if ((fcntl(pipes[i][0], F_GETFL) & O_ACCMODE) != O_RDONLY || (fcntl(pipes[i][1], F_GETFL) & O_ACCMODE) != O_WRONLY)
			return 0;
		if (i > 0 && r.st_ino == inos[i - 1])
			return 0;
		inos[i] = r.st_ino;
	}
	return 1;
}

static int check_self(void)
{
	return getpid() == self && getppid() == parent && check_fds();
}

static void leaf(void)
{
	self = getpid();
	parent = getppid();
	case_wait_term();
	_exit(check_self() ? 0 : 1);
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
		if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			ok = 0;
	}
	_exit(ok ? 0 : 1);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_close_fds_except(NULL, 0); /* only the fds it means to have (stray ones are inherited here) */
	const char *c = case_arg(argc, argv, "--children"), *gc = case_arg(argc, argv, "--grandchildren");
	const char *f = case_arg(argc, argv, "--fds");
	int nc = c ? atoi(c) : 9, ng = gc ? atoi(gc) : 10, nf = f ? atoi(f) : 0;
	if (nc < 1 || nc > 256 || ng < 0 || ng > 256 || nf < 0 || nf > 1000)
		case_die_usage(argv[0], "--children 1..256 --grandchildren 0..256 --fds 0..1000");
	case_install_sigterm(0);
	self = getpid();
	parent = getppid();
	npipes = nf / 2;
	pipes = calloc((size_t)npipes + 1, sizeof *pipes);
	inos = calloc((size_t)npipes + 1, sizeof *inos);
	for (int i = 0; i < npipes; i++) {
		struct stat st;
		unsigned char b = (unsigned char)i;
		case_pipe(pipes[i], "inherited pipe");
		if (write(pipes[i][1], &b, 1) != 1 || fstat(pipes[i][0], &st) != 0)
			case_setup_fail("pipe %d: %s", i, strerror(errno));
	}
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
	if (!check_fds())
		case_fail("the root's inherited pipes changed");
	for (int i = 0; i < npipes && !case_failed; i++) {
		unsigned char b;
		if (read(pipes[i][0], &b, 1) != 1 || b != (unsigned char)i)
			case_fail("pipe %d lost its byte", i);
	}
	case_finish();
}
