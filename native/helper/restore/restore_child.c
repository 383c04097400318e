/* The code a new task runs as a clone of the helper (or of its creator task) until the tracer
 * takes over: it obeys commands from its command pipe (create a child at a pid, setsid,
 * setpgid, exit, reap) and finally puts its fds, cwd, umask and name in place and stops.
 * It is a fork-like copy of a single-threaded process and keeps to plain system calls. */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

pid_t clone_with_pid(pid_t want, int wait_ms, uint64_t flags)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* CLONE_PARENT: the exit signal is the creator's own (clone3 wants 0) */
		struct clone_args ca = { .flags = flags, .exit_signal = flags & CLONE_PARENT ? 0 : SIGCHLD };
		if (want > 0) {
			ca.set_tid = (uint64_t)(uintptr_t)&want;
			ca.set_tid_size = 1;
		}
		pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
		if (pid >= 0 || errno != EEXIST)
			return pid;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= wait_ms) {
			errno = EEXIST;
			return -1;
		}
		struct timespec nap = { 0, 20 * 1000000 };
		nanosleep(&nap, NULL);
	}
}

static void report(struct restore_ctx *c, int task, int step, int err, int pid)
{
	struct task_report r = { .task = task, .step = step, .err = err, .pid = pid };
	if (write(c->report_wr, &r, sizeof r) != sizeof r) {
		/* the helper is gone; PDEATHSIG or EXITKILL ends us */
	}
}

static void fail(struct restore_ctx *c, int task, int step, int fd)
{
	report(c, task, step, errno, fd);
	_exit(100 + step);
}

static void close_from(int lo, int hi)
{
	if (lo > hi)
		return;
	if (syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0) < 0)
		for (int fd = lo; fd <= hi; fd++)
			close(fd);
}

/* The task's own files: dup each inherited object to its number, drop everything else but its
 * fds of mapped files and executable (closed at finish). Its working directory was opened with
 * its credentials (restore_paths.c). */
static void restore_files(struct restore_ctx *c, int idx)
{
	struct task_plan *t = &c->plan->tasks[idx];
	if (t->cwd_obj ? fchdir(c->plan->objs[t->cwd_obj - 1].hfd) < 0 : t->cwdfd >= 0 && fchdir(t->cwdfd) < 0)
		fail(c, idx, STEP_CWD, -1);
	umask((mode_t)t->umask);
	prctl(PR_SET_NAME, t->comm);
	if (t->share_files) /* its group's first task puts the shared table in order, after it */
		return;
	/* registrations whose number no longer holds their file: that file at the number (below
	 * base: nothing of the set-up lives there), registered, the number closed again */
	for (int i = 0; i < t->nepctls; i++) {
		struct epctl_plan *e = &t->epctls[i];
		struct epoll_event ev = { .events = e->events, .data.u64 = e->data };
		if (e->epfile < 0)
			continue;
		if (dup3(c->plan->files[e->tfile].hfd, e->tfd, O_CLOEXEC) < 0 ||
		    epoll_ctl(c->plan->files[e->epfile].hfd, EPOLL_CTL_ADD, e->tfd, &ev) < 0)
			fail(c, idx, STEP_EPOLL, e->tfd);
		close(e->tfd);
	}
	for (int i = 0; i < t->nfds; i++) {
		struct fd_plan *f = &t->fds[i];
		if (FILE_LATE(c->plan->files[f->file].kind)) /* opened in the finish step */
			continue;
		if (dup3(c->plan->files[f->file].hfd, f->target, f->cloexec ? O_CLOEXEC : 0) < 0)
			fail(c, idx, STEP_DUP, f->target);
	}
	for (int i = 0; i < t->nepctls; i++) {
		struct epctl_plan *e = &t->epctls[i];
		struct epoll_event ev = { .events = e->events, .data.u64 = e->data };
		if (e->epfile < 0 && epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->tfd, &ev) < 0)
			fail(c, idx, STEP_EPOLL, e->tfd);
	}
	/* Close every fd that is not one of the task's (fds are sorted by target) or one of the
	 * helper's it keeps until its finish (mapped files, executable: keep, sorted): what it
	 * inherited from the helper, the set-up's range included (which may lie between the
	 * task's fds, below a far-up one). */
	int next = 0;
	for (int i = 0, k = 0; i < t->nfds || k < t->nkeep;) {
		int fd = k >= t->nkeep || (i < t->nfds && t->fds[i].target < t->keep[k]) ? t->fds[i++].target : t->keep[k++];
		close_from(next, fd - 1);
		next = fd + 1;
	}
	close_from(next, ~0U >> 1);
}

/* Once a session leader has its terminal: the tree's /dev/tty of that terminal, opened now
 * over its placeholder (restore_tty.c), so every task of the session, created after, inherits
 * it. */
static int open_devtty(struct restore_ctx *c, int tty)
{
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *f = &c->plan->files[i];
		if (f->kind != FILE_DEVTTY || f->tty != tty)
			continue;
		int fd = open("/dev/tty", (f->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_ASYNC)) | O_CLOEXEC);
		if (fd < 0 || dup3(fd, f->hfd, O_CLOEXEC) < 0)
			return -1;
		close(fd);
	}
	return 0;
}

static volatile sig_atomic_t init_root = -1;

static void init_forward(int sig)
{
	if (init_root > 0)
		kill(init_root, sig);
}

/* ucr's init for --pidns: pid 1 of the new namespace. It reaps every orphan, forwards the
 * signals it can catch to the tree's root, and exits with the root's status (the kernel then
 * ends whatever is left in the namespace, as for any pid namespace whose init exits). */
static void init_loop(pid_t root)
{
	prctl(PR_SET_PDEATHSIG, 0); /* outlives the helper (--detach); ends with the root */
	close_from(0, ~0U >> 1);
	init_root = root;
	struct sigaction sa = { .sa_handler = init_forward };
	for (int s = 1; s < 32; s++)
		if (s != SIGCHLD && s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "ucr-init");
	for (;;) {
		int st;
		pid_t p = wait(&st);
		if (p < 0 && errno == ECHILD)
			_exit(0);
		if (p == root) {
			if (WIFSIGNALED(st))
				_exit(128 + WTERMSIG(st));
			_exit(WEXITSTATUS(st));
		}
	}
}

/* A clone shares nothing with the helper's signal table but starts with a copy of it: the
 * image lists only the actions that are not the default (finish_early.c puts those back), so
 * every other one must be the default here, not the helper's (its SIGTERM handler, which the
 * restored code would jump into at a later SIGTERM, and its ignored SIGPIPE). */
static void default_actions(void)
{
	struct { uint64_t handler, flags, restorer, mask; } dfl = { 0, 0, 0, 0 }; /* SIG_DFL */
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
}

void task_loop(struct restore_ctx *c, int idx)
{
	struct task_plan *t = &c->plan->tasks[idx];
	pid_t creator = getppid();
	default_actions();
	/* a task whose creator exits during the restart (a placeholder, a zombie) is orphaned on
	 * purpose: it does not die with it */
	enum task_kind ck = t->creator < 0 ? TASK_NORMAL : c->plan->tasks[t->creator].kind;
	if (t->sibling || (ck != TASK_PLACEHOLDER && ck != TASK_ZOMBIE)) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != creator)
			_exit(99);
	}
	for (;;) {
		struct task_cmd cmd;
		ssize_t n = read(t->cmdrd, &cmd, sizeof cmd);
		if (n != sizeof cmd) {
			if (n < 0 && errno == EINTR)
				continue;
			_exit(98); /* the helper is gone */
		}
		switch (cmd.op) {
		case OP_CLONE: {
			struct task_plan *ch = &c->plan->tasks[cmd.arg];
			uint64_t flags = (ch->sibling ? CLONE_PARENT : 0) | (ch->share_files ? CLONE_FILES : 0) | (ch->share_fs ? CLONE_FS : 0);
			pid_t pid = clone_with_pid(ch->want_pid, c->plan->pid_wait_ms, flags);
			if (pid == 0)
				task_loop(c, cmd.arg);
			report(c, cmd.arg, STEP_CLONE, pid < 0 ? errno : 0, pid);
			break;
		}
		case OP_SETSID:
			report(c, idx, STEP_SETSID, setsid() < 0 ? errno : 0, getpid());
			break;
		case OP_SETPGID:
			report(c, idx, STEP_SETPGID, setpgid(0, cmd.arg) < 0 ? errno : 0, getpid());
			break;
		case OP_CTTY: /* a session leader takes its pty (every signal is still blocked) */
			report(c, idx, STEP_CTTY, ioctl(c->plan->ttys[t->ctty].slave_hfd, TIOCSCTTY, 0) < 0 || open_devtty(c, t->ctty) < 0 ? errno : 0, getpid());
			break;
		case OP_STAGE: /* restore_cow.c */
			report(c, idx, STEP_STAGE, cow_map_areas(c->plan, t) < 0 ? errno : 0, getpid());
			cow_populate(c->plan, c->progress, idx); /* while the helper writes them */
			break;
		case OP_TCPGRP:
			report(c, idx, STEP_TCPGRP, tcsetpgrp(c->plan->ttys[t->ctty].slave_hfd, cmd.arg) < 0 ? errno : 0, getpid());
			break;
		case OP_REAP: {
			int st;
			report(c, idx, STEP_REAP, waitpid(cmd.arg, &st, 0) < 0 ? errno : 0, cmd.arg);
			break;
		}
		case OP_EXIT:
			prctl(PR_SET_NAME, t->comm);
			if (t->kind == TASK_ZOMBIE && WIFSIGNALED(t->exit_status)) {
				int sig = WTERMSIG(t->exit_status);
				signal(sig, SIG_DFL);
				sigset_t one;
				sigemptyset(&one);
				sigaddset(&one, sig);
				sigprocmask(SIG_UNBLOCK, &one, NULL);
				struct rlimit nocore = { 0, 0 };
				setrlimit(RLIMIT_CORE, &nocore); /* a zombie killed by SIGSEGV: no core now */
				kill(getpid(), sig);
			}
			_exit(t->kind == TASK_ZOMBIE ? WEXITSTATUS(t->exit_status) : 0);
		case OP_INIT:
			init_loop(cmd.arg);
			_exit(0);
		case OP_RESTORE:
			restore_files(c, idx);
			/* report pipe is closed now; the tracer takes over from this stop */
			kill(getpid(), SIGSTOP);
			_exit(96);
		default:
			_exit(97);
		}
	}
}
