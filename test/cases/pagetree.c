// build: gcc -O2 -g -Wall -Wextra -o pagetree pagetree.c
/*
 * pagetree.c - the pages of a tree whose image outgrows the helper's direct writing come back
 * whole: the checkpoint writes the first 16 MiB of page records itself and hands the rest to its
 * io process (native/helper/stream/pipeline.c), in the middle of a task's pages.
 *
 *   pagetree --out FILE [--children N] [--mib M]
 *
 * The root fills 1 MiB of private anonymous memory with random data (its pages are dumped
 * first: small, so the checkpoint starts writing them itself), then forks N children (default
 * 3), each of which fills M MiB (default 8) of its own and keeps its hash and a page count of
 * the mapping's Rss. Children reset SIGTERM and wait for SIGUSR1 (flag handler) in a loop on
 * sigsuspend. After SIGTERM the root checks its own memory, sends SIGUSR1 to each child, and
 * reaps them: each checks its pages (hash, every page resident) and exits 0, or 1 with its
 * reason in FILE.childN.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define MIB (1UL << 20)
#define MAXCH 16

static volatile sig_atomic_t usr1;
static void on_usr1(int s)
{
	(void)s;
	usr1 = 1;
}

static unsigned char *filled(size_t len, uint64_t *hash)
{
	unsigned char *p = case_map_small_pages(len, 0);
	case_fill(p, len);
	*hash = case_hash(p, len);
	return p;
}

/* Pages of [p, p + len) not resident (mincore), or -1. */
static long missing(unsigned char *p, size_t len)
{
	size_t n = len / 4096;
	unsigned char *v = malloc(n);
	if (!v || mincore(p, len, v) < 0) {
		free(v);
		return -1;
	}
	long out = 0;
	for (size_t i = 0; i < n; i++)
		out += !(v[i] & 1);
	free(v);
	return out;
}

static void child(int idx, size_t len)
{
	signal(SIGTERM, SIG_DFL);
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	case_seed();
	case_rng ^= (uint64_t)(idx + 1) * 0x9e3779b97f4a7c15ULL;
	uint64_t hash;
	unsigned char *p = filled(len, &hash);
	/* ready: the root waits for this byte on the pipe it gave (fd 3) */
	char b = 'r';
	if (write(3, &b, 1) != 1)
		_exit(3);
	close(3);
	while (!usr1)
		sigsuspend(&old);
	char why[256] = "";
	long miss = missing(p, len);
	if (miss != 0)
		snprintf(why, sizeof why, "child %d: %ld of its %zu pages not resident after the restart", idx, miss, len / 4096);
	else if (case_hash(p, len) != hash)
		snprintf(why, sizeof why, "child %d: its %zu MiB changed", idx, len / MIB);
	if (why[0]) {
		char f[PATH_MAX + 16];
		snprintf(f, sizeof f, "%s.child%d", case_out, idx);
		int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			case_write_all(fd, why, strlen(why));
			close(fd);
		}
		_exit(1);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	const char *cs = case_arg(argc, argv, "--children"), *ms = case_arg(argc, argv, "--mib");
	int n = cs ? atoi(cs) : 3;
	long mib = ms ? atol(ms) : 8;
	if (n < 1 || n > MAXCH || mib < 1 || mib > 1024)
		case_die_usage(argv[0], "--children 1-16, --mib 1-1024");
	case_install_sigterm(0);
	case_seed();
	uint64_t hash;
	unsigned char *mine = filled(MIB, &hash);
	pid_t kids[MAXCH];
	for (int i = 0; i < n; i++) {
		int pp[2];
		if (pipe(pp) < 0)
			case_setup_fail("pipe: %s", strerror(errno));
		pid_t k = fork();
		if (k < 0)
			case_setup_fail("fork: %s", strerror(errno));
		if (k == 0) {
			close(pp[0]);
			if (dup2(pp[1], 3) < 0)
				_exit(3);
			if (pp[1] != 3)
				close(pp[1]);
			child(i, (size_t)mib * MIB);
		}
		close(pp[1]);
		char b;
		if (read(pp[0], &b, 1) != 1)
			case_setup_fail("child %d did not get ready", i);
		close(pp[0]);
		kids[i] = k;
	}
	case_ready();
	case_wait_term();
	if (case_hash(mine, MIB) != hash)
		case_fail("the root's 1 MiB changed");
	for (int i = 0; i < n; i++)
		if (kill(kids[i], SIGUSR1) < 0)
			case_fail("child %d (pid %d): %s", i, (int)kids[i], strerror(errno));
	for (int i = 0; i < n; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) != kids[i]) {
			case_fail("child %d (pid %d) could not be reaped: %s", i, (int)kids[i], strerror(errno));
			continue;
		}
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			continue;
		char f[PATH_MAX + 16], why[256] = "";
		snprintf(f, sizeof f, "%s.child%d", case_out, i);
		case_read_text(f, why, sizeof why);
		unlink(f);
		case_fail("%s", why[0] ? why : WIFEXITED(st) ? "a child exited with a failure" : "a child was killed");
	}
	case_finish();
}
