// build: gcc -O2 -g -Wall -Wextra -o sessions sessions.c
/*
 * sessions.c - sessions the way real programs leave them.
 *
 *   sessions --out FILE            (a tree: checkpoint the root's tree)
 *   sessions --out FILE --orphans  (a session of orphans: checkpoint --session Z)
 *
 * Tree mode. The root R leads its session and is a child subreaper. It forks
 *   P   which forks C and only then calls setsid(): C stays in R's session and group while its
 *       parent leads a session of its own;
 *   Z   which calls setsid(), forks M1 (in Z's group) and M2 (a group of its own), and exits
 *       with status 21 once both are set up: Z is a zombie session leader (R does not reap
 *       it), M1 and M2 are reparented to R (the subreaper) and stay in Z's session.
 *   D   which calls setsid(), forks E and exits; R reaps D: E, reparented to R, stays in a
 *       session (and group) whose leader is gone, like a daemon that double-forked under a
 *       subreaper (a container's init);
 * Every live task (P, C, M1, M2, E) blocks reading its request pipe from R; asked, it answers
 * its pid, group, session and parent and exits 0 (P reaps C first). R writes FILE.ready.
 * Verify (SIGTERM to R): every answer is as at set-up, Z is still a zombie child of R leading
 * its session (/proc), and is reaped with status 21.
 *
 * Orphans mode. R forks Z, which calls setsid(), moves into a directory FILE.cwd that it then
 * removes, forks M1 and M2 (as above, M2 in a group of its own; they share a request/answer
 * pipe pair) and M3 (which shares nothing with the others but that removed working directory,
 * and waits in pause()), and exits with status 21; R does not reap it and is no subreaper:
 * M1, M2 and M3 are reparented to init. M1 writes FILE.ready (its pid):
 * the session Z (a zombie leader and two orphans) is what the test checkpoints. R just waits.
 * Verify (SIGTERM to M1): M1 is in session Z and group Z, its parent is neither Z nor R; it
 * asks M2, which must be in session Z and its own group, with the same parent as M1.
 */
#include "case.h"

#include <sys/prctl.h>
#include <sys/wait.h>

struct ans {
	int pid, pgid, sid, ppid;
};

struct chan {
	int rq[2], an[2];
};

static void open_chan(struct chan *c, const char *what)
{
	case_pipe(c->rq, what);
	case_pipe(c->an, what);
}

/* Block for a request, answer who we are, exit 0 (after reaping child, when given). */
static void serve(struct chan *c, pid_t child)
{
	char b;
	while (read(c->rq[0], &b, 1) < 0 && errno == EINTR)
		;
	struct ans a = { getpid(), getpgid(0), getsid(0), getppid() };
	if (write(c->an[1], &a, sizeof a) != sizeof a)
		_exit(3);
	if (child > 0) {
		int st;
		if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
			_exit(4);
	}
	_exit(0);
}

static int ask(struct chan *c, const char *name, struct ans *a)
{
	if (write(c->rq[1], "?", 1) != 1 || case_wait_readable(c->an[0], 10000) != 1 ||
	    read(c->an[0], a, sizeof *a) != sizeof *a) {
		case_fail("%s did not answer", name);
		return 0;
	}
	return 1;
}

static pid_t fork_or_die(const char *what)
{
	pid_t p = fork();
	if (p < 0)
		case_setup_fail("fork %s: %s", what, strerror(errno));
	return p;
}

/* Z: setsid, fork M1 and M2 (and M3 in orphans mode), wait until they are set up (M2 leads its
 * group), tell R on ready, exit 21. */
static void run_z(struct chan *m1, struct chan *m2, int ready, void (*m1_main)(void))
{
	int zr[2], n = 2;
	if (setsid() < 0 || pipe(zr) < 0)
		_exit(90);
	if (m1_main) {
		char dir[PATH_MAX + 8];
		snprintf(dir, sizeof dir, "%s.cwd", case_out);
		if (mkdir(dir, 0700) < 0 || chdir(dir) < 0 || rmdir(dir) < 0)
			_exit(94);
		pid_t m3 = fork();
		if (m3 == 0) {
			int keep = zr[1];
			case_close_fds_except(&keep, 1);
			if (write(zr[1], "3", 1) != 1)
				_exit(3);
			close(zr[1]);
			for (;;)
				pause();
		}
		n = 3;
	}
	pid_t a = fork();
	if (a == 0) {
		if (write(zr[1], "1", 1) != 1)
			_exit(3);
		close(zr[0]), close(zr[1]), close(ready);
		if (m1_main)
			m1_main();
		serve(m1, 0);
	}
	pid_t b = fork();
	if (b == 0) {
		if (setpgid(0, 0) < 0 || write(zr[1], "2", 1) != 1)
			_exit(3);
		close(zr[0]), close(zr[1]), close(ready);
		serve(m2, 0);
	}
	if (a < 0 || b < 0)
		_exit(91);
	char c[3];
	for (int got = 0; got < n;) {
		ssize_t k = read(zr[0], c, (size_t)(n - got));
		if (k <= 0)
			_exit(92);
		got += (int)k;
	}
	if (write(ready, "zz", 2) != 2)
		_exit(93);
	_exit(21);
}

static void check(const char *name, const struct ans *a, int pid, int pgid, int sid, int ppid)
{
	if (a->pid != pid || a->pgid != pgid || a->sid != sid || a->ppid != ppid)
		case_fail("%s: pid %d group %d session %d parent %d, expected pid %d group %d session %d parent %d", name, a->pid,
			  a->pgid, a->sid, a->ppid, pid, pgid, sid, ppid);
}

static int stat_of(pid_t pid, char *st, struct ans *o)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	o->pid = pid;
	return p && sscanf(p + 2, "%c %d %d %d", st, &o->ppid, &o->pgid, &o->sid) == 4 ? 0 : -1;
}

static void wait_zombie(pid_t z)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	while (waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT) != 0)
		if (errno != EINTR)
			case_setup_fail("waitid(Z, WNOWAIT): %s", strerror(errno));
	if (si.si_code != CLD_EXITED || si.si_status != 21)
		case_setup_fail("Z ended with code %d status %d (see stderr)", si.si_code, si.si_status);
}

static void wait_ready(int rd, int n)
{
	for (int i = 0; i < n; i++) {
		char b;
		if (case_wait_readable(rd, 10000) != 1 || read(rd, &b, 1) != 1)
			case_setup_fail("a child of Z did not set up");
	}
}

/* ---- orphans mode: M1 is the verifier ---- */
static struct chan om2;
static pid_t oz, oroot;

static void m1_verifier(void)
{
	case_install_sigterm(0);
	/* the set-up is complete once M2 leads its group and both are orphans */
	for (int64_t end = case_now_ms() + 10000;; case_sleep_ms(5)) {
		char st;
		struct ans z;
		if (getppid() != oz && (stat_of(oz, &st, &z) < 0 || st == 'Z'))
			break;
		if (case_now_ms() > end)
			case_setup_fail("M1 was not reparented");
	}
	case_ready();
	case_wait_term();
	pid_t me = getpid();
	if (getsid(0) != oz || getpgid(0) != oz)
		case_fail("M1: session %d group %d, expected %d for both", getsid(0), getpgid(0), oz);
	if (getppid() == oz || getppid() == oroot)
		case_fail("M1: parent %d, expected an adopter (neither Z %d nor R %d)", getppid(), oz, oroot);
	struct ans a;
	if (ask(&om2, "M2", &a)) {
		if (a.sid != oz || a.pgid != a.pid || a.pgid == oz)
			case_fail("M2: session %d group %d, expected session %d and a group of its own", a.sid, a.pgid, oz);
		if (a.ppid != getppid())
			case_fail("M2: parent %d, M1's is %d: expected the same adopter", a.ppid, getppid());
	}
	(void)me;
	case_finish();
}

static void orphans_mode(void)
{
	oroot = getpid();
	struct chan unused;
	open_chan(&om2, "M2");
	int rd[2];
	case_pipe(rd, "Z's children set up");
	oz = fork_or_die("Z");
	if (oz == 0) {
		oz = getpid();
		close(rd[0]);
		run_z(&unused, &om2, rd[1], m1_verifier);
	}
	/* R keeps nothing of the session's: its pipes are the orphans' alone */
	close(om2.rq[0]), close(om2.rq[1]), close(om2.an[0]), close(om2.an[1]);
	close(rd[1]);
	wait_ready(rd[0], 2);
	wait_zombie(oz);
	for (;;)
		pause(); /* the test kills R */
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_become_session_leader();
	if (case_has_flag(argc, argv, "--orphans"))
		orphans_mode();
	case_install_sigterm(0);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		case_setup_fail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	pid_t me = getpid();
	struct chan cp, cc, cm1, cm2, ce;
	open_chan(&ce, "E");
	open_chan(&cp, "P");
	open_chan(&cc, "C");
	open_chan(&cm1, "M1");
	open_chan(&cm2, "M2");
	int rd[2];
	case_pipe(rd, "set-up");

	pid_t p = fork_or_die("P");
	if (p == 0) {
		pid_t c = fork();
		if (c == 0) {
			if (write(rd[1], "c", 1) != 1)
				_exit(3);
			serve(&cc, 0);
		}
		if (c < 0 || setsid() < 0 || write(rd[1], "p", 1) != 1)
			_exit(92);
		serve(&cp, c);
	}
	wait_ready(rd[0], 2);
	pid_t z = fork_or_die("Z");
	if (z == 0)
		run_z(&cm1, &cm2, rd[1], NULL);
	wait_ready(rd[0], 2);
	wait_zombie(z);
	pid_t d = fork_or_die("D");
	if (d == 0) {
		if (setsid() < 0)
			_exit(90);
		pid_t e = fork();
		if (e == 0) {
			if (write(rd[1], "e", 1) != 1)
				_exit(3);
			serve(&ce, 0);
		}
		_exit(e < 0 ? 91 : 0);
	}
	wait_ready(rd[0], 1);
	int dst;
	if (waitpid(d, &dst, 0) != d || !WIFEXITED(dst) || WEXITSTATUS(dst) != 0)
		case_setup_fail("D did not exit 0 (status 0x%x)", dst);
	/* M1 and M2 come to R once Z is gone, E once D is */
	struct ans m[2], e = { 0 };
	for (int64_t end = case_now_ms() + 10000;; case_sleep_ms(5)) {
		pid_t kids[8];
		int n = case_children_of(me, kids, NULL, 8), found = 0;
		for (int i = 0; i < n && i < 8; i++) {
			char st;
			struct ans o;
			if (kids[i] == p || kids[i] == z || stat_of(kids[i], &st, &o) < 0)
				continue;
			if (o.sid == z && found < 2)
				m[found++] = o;
			else if (o.sid == d)
				e = o;
		}
		if (found == 2 && e.pid)
			break;
		if (case_now_ms() > end)
			case_setup_fail("M1, M2 and E were not reparented to R");
	}
	struct ans m1 = m[0].pgid == z ? m[0] : m[1], m2 = m[0].pgid == z ? m[1] : m[0];
	pid_t c = -1;
	{
		pid_t kids[4];
		if (case_children_of(p, kids, NULL, 4) != 1)
			case_setup_fail("P has not exactly one child");
		c = kids[0];
	}
	case_ready();
	case_wait_term();

	if (getpid() != me || getsid(0) != me || getpgid(0) != me)
		case_fail("R: pid %d session %d group %d, expected %d for each", getpid(), getsid(0), getpgid(0), me);
	struct ans a;
	if (ask(&cc, "C", &a))
		check("C (forked before its parent's setsid)", &a, c, me, me, p);
	if (ask(&cm1, "M1", &a))
		check("M1 (in the session of a zombie)", &a, m1.pid, z, z, me);
	if (ask(&cm2, "M2", &a))
		check("M2 (in the session of a zombie)", &a, m2.pid, m2.pid, z, me);
	char st;
	struct ans zo;
	if (stat_of(z, &st, &zo) < 0 || st != 'Z' || zo.ppid != me || zo.sid != z || zo.pgid != z)
		case_fail("Z (pid %d) is not a zombie child of R leading its session", z);
	if (ask(&ce, "E", &a))
		check("E (in the session of a leader that is gone)", &a, e.pid, d, d, me);
	if (ask(&cp, "P", &a))
		check("P", &a, p, p, p, me);
	case_reap_child("P", p, 5000);
	case_reap_child("M1", m1.pid, 5000);
	case_reap_child("M2", m2.pid, 5000);
	case_reap_child("E", e.pid, 5000);
	int zs = 0;
	if (case_reap(z, 2000, &zs) != 1 || !WIFEXITED(zs) || WEXITSTATUS(zs) != 21)
		case_fail("Z: not reaped with exit status 21 (wait status 0x%x)", zs);
	case_kill_stray_children(1);
	case_finish();
}
