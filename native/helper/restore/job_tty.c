/* The modes of the caller's terminal while a restored job is its foreground group, the way a
 * job-control shell keeps them: when the job gets the terminal, the caller's termios is saved
 * and the job's set (from the image at first, then as the job left them when it stopped); when
 * the job ends or stops, the job's are saved and the caller's set again. The window size goes
 * the same way, as long as nobody resized the terminal: a size changed while the job ran is
 * the job's own (it had the SIGWINCH) and stays; one changed while the caller had it is kept
 * too. Modes and size are set while the caller's group still has the terminal, so the job
 * sees the size it knew, without a SIGWINCH. Also: the signal a stopped task is stopped with
 * again (stop_signal). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "helper.h"
#include "restore.h"

/* The saved settings as the kernel takes them. */
void tty_settings(const struct tty_plan *t, struct termios *tio, struct winsize *ws)
{
	memset(tio, 0, sizeof *tio);
	tio->c_iflag = t->iflag, tio->c_oflag = t->oflag, tio->c_cflag = t->cflag, tio->c_lflag = t->lflag;
	tio->c_line = t->line;
	memcpy(tio->c_cc, t->cc, sizeof tio->c_cc < sizeof t->cc ? sizeof tio->c_cc : sizeof t->cc);
	cfsetispeed(tio, t->ispeed);
	cfsetospeed(tio, t->ospeed);
	*ws = (struct winsize){ t->rows, t->cols, t->xpix, t->ypix };
}

static struct {
	int held;    /* the job's modes are on the terminal */
	int started; /* the job's modes were taken from the image */
	int ws_set;  /* the job's window size was set over the caller's (to give back) */
	int ws_left; /* the caller's size was given back: left, the terminal is the same size */
	struct termios job, caller;
	struct winsize job_ws, caller_ws;
} jt;

static int same_ws(const struct winsize *a, const struct winsize *b)
{
	return a->ws_row == b->ws_row && a->ws_col == b->ws_col && a->ws_xpixel == b->ws_xpixel && a->ws_ypixel == b->ws_ypixel;
}

void jobtty_take(const struct plan *pl, int fd)
{
	struct winsize now;
	if (jt.held || !pl->jobtty.settings || tcgetattr(fd, &jt.caller) < 0 || ioctl(fd, TIOCGWINSZ, &now) < 0)
		return;
	int resized = jt.started && !(jt.ws_left && same_ws(&now, &jt.caller_ws));
	if (!jt.started)
		tty_settings(&pl->jobtty, &jt.job, &jt.job_ws);
	jt.started = 1;
	jt.caller_ws = now;
	jt.ws_set = !resized && !same_ws(&jt.job_ws, &now) && ioctl(fd, TIOCSWINSZ, &jt.job_ws) == 0;
	jt.held = tcsetattr(fd, TCSADRAIN, &jt.job) == 0;
}

void jobtty_give_back(int fd)
{
	if (!jt.held)
		return;
	jt.held = 0;
	struct termios job;
	struct winsize now;
	if (tcgetattr(fd, &job) == 0)
		jt.job = job;
	tcsetattr(fd, TCSADRAIN, &jt.caller);
	int got = ioctl(fd, TIOCGWINSZ, &now) == 0;
	jt.ws_left = got && (!jt.ws_set || same_ws(&now, &jt.job_ws));
	if (jt.ws_left && jt.ws_set)
		ioctl(fd, TIOCSWINSZ, &jt.caller_ws);
	else if (got)
		jt.job_ws = now; /* resized while the job had it */
	jt.ws_set = 0;
}

/* Waits for the root to end, like a job-control shell waits for its foreground job (fd: the
 * caller's terminal, caller_fg: its foreground group before the job got it; -1: the job is not
 * in the foreground, only its end counts). When the job stops, the terminal and its modes go
 * back to the caller's group; a stop from the terminal (SIGTSTP, SIGTTIN, SIGTTOU) stops the
 * caller's group too, so the shell that started `ucr restart` sees its job stopped, and once
 * that shell continues it in the foreground, the job gets the terminal back and is continued.
 * A job stopped otherwise (SIGSTOP) gets the terminal back when it is continued while the
 * caller's group is in the foreground. */
int jobtty_wait(const struct plan *pl, pid_t root, int fd, pid_t caller_fg, int *st)
{
	pid_t job = getpgid(root);
	for (;;) {
		pid_t r = waitpid(root, st, caller_fg > 0 ? WUNTRACED | WCONTINUED : 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (WIFEXITED(*st) || WIFSIGNALED(*st))
			break;
		if (WIFSTOPPED(*st)) {
			tcsetpgrp(fd, caller_fg);
			jobtty_give_back(fd);
			int sig = WSTOPSIG(*st);
			if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
				continue;
			kill(0, SIGTSTP); /* returns once continued (at once in an orphaned group) */
		}
		/* continued: in the foreground again, the job gets the terminal; in the background
		 * (bg), it runs there as its own job would */
		if (tcgetpgrp(fd) == getpgrp()) {
			jobtty_take(pl, fd);
			tcsetpgrp(fd, job);
		}
		if (WIFSTOPPED(*st))
			kill(-job, SIGCONT);
	}
	if (caller_fg > 0) {
		tcsetpgrp(fd, caller_fg);
		jobtty_give_back(fd);
	}
	return 0;
}

/* Fields 4-6 of /proc/PID/stat: parent, group, session; the state letter in *st. */
static int stat_ids(pid_t pid, char *st, pid_t *ppid, pid_t *pgid, pid_t *sid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (proc_text(path, buf, sizeof buf) <= 0)
		return -1;
	char *p = strrchr(buf, ')');
	int a, b, c;
	if (!p || sscanf(p + 1, " %c %d %d %d", st, &a, &b, &c) != 4)
		return -1;
	*ppid = a, *pgid = b, *sid = c;
	return 0;
}

/* Whether pid's process group is orphaned as the kernel sees it when it takes a job-control
 * stop signal (no live member has a parent in another group of the same session): the kernel
 * then drops SIGTSTP, SIGTTIN, SIGTTOU. */
static int pgrp_orphaned(pid_t pid)
{
	char st;
	pid_t ppid, pgid, sid;
	if (stat_ids(pid, &st, &ppid, &pgid, &sid) < 0)
		return 1;
	DIR *d = opendir("/proc");
	struct dirent *e;
	int orphaned = 1;
	while (d && orphaned && (e = readdir(d))) {
		pid_t m = (pid_t)atoi(e->d_name), mp, mg, ms, pp, pg, ps;
		char mst, pst;
		if (m <= 0 || stat_ids(m, &mst, &mp, &mg, &ms) < 0 || mg != pgid || mst == 'Z')
			continue;
		if (mp > 0 && stat_ids(mp, &pst, &pp, &pg, &ps) == 0 && pg != pgid && ps == ms)
			orphaned = 0;
	}
	if (d)
		closedir(d);
	return orphaned;
}

/* The signal a stopped task is stopped with at the end of its restore: the one it was stopped
 * with (SIGTSTP, SIGTTIN, SIGTTOU: what its parent's waitid() reports), when the kernel would
 * stop it with that signal; SIGSTOP otherwise (no such signal in the image; a handler or
 * SIG_IGN for it, which would run instead; blocked by every thread, which leaves it pending;
 * an orphaned process group, where the kernel drops it). */
int stop_signal(const struct task_plan *t)
{
	int sig = t->attrs.have ? t->attrs.stopsig : 0;
	if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
		return SIGSTOP;
	const struct sigact_plan *a = plan_sigact(t, sig);
	if (a && a->handler != (uint64_t)(uintptr_t)SIG_DFL)
		return SIGSTOP;
	uint64_t bit = 1ULL << (sig - 1);
	int blocked = (t->sigmask & bit) != 0;
	for (int k = 0; k < t->nthreads && blocked; k++)
		blocked = (t->threads[k].sigmask & bit) != 0;
	if (blocked || pgrp_orphaned(t->pid))
		return SIGSTOP;
	return sig;
}
