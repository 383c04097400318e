// build: gcc -O2 -g -Wall -Wextra -o zombie_pgrp zombie_pgrp.c
/*
 * zombie_pgrp.c - zombies keep their process group and session, even when they differ from
 * their parent's; a group whose leader is a zombie keeps its live members.
 *
 *   zombie_pgrp --out FILE
 *
 * The root R (a session leader) forks, in this order (so pids ascend):
 *   L   live: R moves it into Z1's group (setpgid(L, Z1)) once Z1 leads it;
 *   K   live: leads a group of its own (setpgid(K, K) by R);
 *   Z1  leads a group of its own, then _exit(11) once L is in it: a zombie group leader with
 *       a live member created before it;
 *   Z3  joins K's group, then _exit(13): a zombie in the group of a live sibling;
 *   Z2  setsid(), then _exit(12): a zombie leading a session of its own;
 *   G   leads a group of its own (setpgid(G, G) by R), then
 *   Z4  joins G's group, then _exit(14); G exits and R reaps it: a zombie alone in a group
 *       whose leader is gone (zdtm zombie01).
 * R waits for each zombie with waitid(WNOWAIT) (they stay unreaped), then writes FILE.ready.
 * L and K block reading their request pipes.
 *
 * Verify (SIGTERM): each zombie is still R's child, in state Z, with its group and session
 * (/proc/PID/stat); L and K answer a request with getpgid(0), getsid(0), getppid(), which must
 * be as at set-up; R reaps each zombie (its exit status) and L and K (exit 0).
 */
#include "case.h"

#include <sys/wait.h>

struct ids {
	int pgid, sid, ppid;
};

/* pgid and sid of pid from /proc/PID/stat (fields 5 and 6), its state in *st */
static int stat_ids(pid_t pid, char *st, struct ids *o)
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
	if (!p || sscanf(p + 2, "%c %d %d %d", st, &o->ppid, &o->pgid, &o->sid) != 4)
		return -1;
	return 0;
}

/* A live child: block on its request pipe, answer its ids, exit 0. */
static void live(int rq, int an)
{
	char c;
	while (read(rq, &c, 1) < 0 && errno == EINTR)
		;
	struct ids me = { getpgid(0), getsid(0), getppid() };
	if (write(an, &me, sizeof me) != sizeof me)
		_exit(3);
	_exit(0);
}

/* A child that exits with status once the byte on its go pipe comes (after setsid when asked). */
static void zombie(int go, int status, int own_session)
{
	if (own_session && setsid() < 0)
		_exit(90);
	char c;
	while (read(go, &c, 1) < 0 && errno == EINTR)
		;
	_exit(status);
}

static pid_t fork_or_die(const char *what)
{
	pid_t p = fork();
	if (p < 0)
		case_setup_fail("fork %s: %s", what, strerror(errno));
	return p;
}

static void become_zombie(pid_t z, int go, const char *name)
{
	if (write(go, "x", 1) != 1)
		case_setup_fail("%s: cannot let it exit", name);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	while (waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT) != 0)
		if (errno != EINTR)
			case_setup_fail("waitid(%s, WNOWAIT): %s", name, strerror(errno));
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_become_session_leader();
	case_install_sigterm(0);
	pid_t me = getpid();
	int lq[2], la[2], kq[2], ka[2], g1[2], g2[2], g3[2], g4[2], gg[2];
	case_pipe(lq, "L request");
	case_pipe(la, "L answer");
	case_pipe(kq, "K request");
	case_pipe(ka, "K answer");
	case_pipe(g1, "Z1 go");
	case_pipe(g2, "Z2 go");
	case_pipe(g3, "Z3 go");
	case_pipe(g4, "Z4 go");
	case_pipe(gg, "G go");

	pid_t l = fork_or_die("L");
	if (l == 0)
		live(lq[0], la[1]);
	pid_t k = fork_or_die("K");
	if (k == 0)
		live(kq[0], ka[1]);
	if (setpgid(k, k) < 0)
		case_setup_fail("setpgid(K, K): %s", strerror(errno));
	pid_t z1 = fork_or_die("Z1");
	if (z1 == 0)
		zombie(g1[0], 11, 0);
	if (setpgid(z1, z1) < 0 || setpgid(l, z1) < 0)
		case_setup_fail("Z1's group with L in it: %s", strerror(errno));
	become_zombie(z1, g1[1], "Z1");
	pid_t z3 = fork_or_die("Z3");
	if (z3 == 0)
		zombie(g3[0], 13, 0);
	if (setpgid(z3, k) < 0)
		case_setup_fail("setpgid(Z3, K): %s", strerror(errno));
	become_zombie(z3, g3[1], "Z3");
	pid_t z2 = fork_or_die("Z2");
	if (z2 == 0)
		zombie(g2[0], 12, 1);
	/* Z2 calls setsid() before reading its go byte */
	for (int64_t end = case_now_ms() + 5000; getsid(z2) != z2;) {
		if (case_now_ms() > end)
			case_setup_fail("Z2 did not lead a session of its own");
		case_sleep_ms(2);
	}
	become_zombie(z2, g2[1], "Z2");
	pid_t g = fork_or_die("G");
	if (g == 0)
		zombie(gg[0], 0, 0);
	if (setpgid(g, g) < 0)
		case_setup_fail("setpgid(G, G): %s", strerror(errno));
	pid_t z4 = fork_or_die("Z4");
	if (z4 == 0)
		zombie(g4[0], 14, 0);
	if (setpgid(z4, g) < 0)
		case_setup_fail("setpgid(Z4, G): %s", strerror(errno));
	become_zombie(z4, g4[1], "Z4");
	if (write(gg[1], "x", 1) != 1 || case_reap(g, 5000, NULL) != 1)
		case_setup_fail("G did not exit");

	struct {
		const char *name;
		pid_t pid;
		int pgid, sid, status;
	} zs[4] = { { "Z1", z1, z1, me, 11 }, { "Z3", z3, k, me, 13 }, { "Z2", z2, z2, z2, 12 }, { "Z4", z4, g, me, 14 } };
	case_ready();
	case_wait_term();

	if (getpid() != me || getsid(0) != me || getpgid(0) != me)
		case_fail("R: pid %d sid %d pgid %d, expected %d for each", getpid(), getsid(0), getpgid(0), me);
	for (int i = 0; i < 4; i++) {
		char st;
		struct ids o;
		if (stat_ids(zs[i].pid, &st, &o) < 0)
			case_fail("%s (pid %d) is gone", zs[i].name, zs[i].pid);
		else if (st != 'Z' || o.ppid != me)
			case_fail("%s (pid %d) is in state %c with parent %d, expected a zombie child of %d", zs[i].name, zs[i].pid, st, o.ppid, me);
		else if (o.pgid != zs[i].pgid || o.sid != zs[i].sid)
			case_fail("zombie %s (pid %d) is in group %d session %d, expected group %d session %d", zs[i].name, zs[i].pid, o.pgid, o.sid, zs[i].pgid, zs[i].sid);
	}
	struct {
		const char *name;
		pid_t pid;
		int rq, an, pgid;
	} lv[2] = { { "L", l, lq[1], la[0], z1 }, { "K", k, kq[1], ka[0], k } };
	for (int i = 0; i < 2; i++) {
		struct ids o;
		if (write(lv[i].rq, "?", 1) != 1 || case_wait_readable(lv[i].an, 10000) != 1 || read(lv[i].an, &o, sizeof o) != sizeof o) {
			case_fail("%s (pid %d) did not answer", lv[i].name, lv[i].pid);
			continue;
		}
		if (o.pgid != lv[i].pgid || o.sid != me || o.ppid != me)
			case_fail("%s: group %d session %d parent %d, expected group %d session %d parent %d", lv[i].name, o.pgid, o.sid, o.ppid, lv[i].pgid, me, me);
		case_reap_child(lv[i].name, lv[i].pid, 5000);
	}
	for (int i = 0; i < 4; i++) {
		int st = 0;
		int r = case_reap(zs[i].pid, 2000, &st);
		if (r != 1)
			case_fail("%s (pid %d) could not be reaped", zs[i].name, zs[i].pid);
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != zs[i].status)
			case_fail("%s: wait status 0x%x, expected exit %d", zs[i].name, st, zs[i].status);
	}
	case_kill_stray_children(1);
	case_finish();
}
