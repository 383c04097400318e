/* Freezing a process for its checkpoint, and letting it go again (`freeze <pid>`, release).
 *
 * A thread group may change while it is frozen: threads are created by threads not yet
 * stopped, and others end. The freeze works in passes over /proc/PID/task until a listing
 * shows no thread it has not met: each pass seizes the new threads, interrupts them all, then
 * waits for every stop. A thread that ends meanwhile is simply not part of the process any
 * more (ESRCH on seize, EPERM on an already dead one, its exit reported by waitpid, or a main
 * thread that became a zombie): the image is that of the process as it is once every thread
 * is stopped. Once all threads of a listing are stopped nothing can create a thread, so a few
 * passes suffice; after FREEZE_PASSES the checkpoint gives up with one line.
 *
 * Every stopped thread's registers and signal mask are read at once; release writes back
 * exactly those, per thread, and nothing for a thread that was never stopped or read, so a
 * failure at any point (or the coordinator's death) leaves the process as it was. A thread
 * seized but not stopped cannot be detached: it is let go when the helper exits (the kernel
 * unlinks a tracee whose tracer exits and drops the pending interrupt). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "fault.h"
#include "helper.h"
#include "proto.h"
#include "proto_gen.h"

#define FREEZE_PASSES 64   /* listings that found new threads, at most */
#define STOP_WAIT_MS 10000 /* for a thread to report its stop (one in uninterruptible sleep never does) */

static struct dtask *tasks;
static int ntasks, cap_tasks;

struct dtask *find_task(pid_t pid)
{
	for (int i = 0; i < ntasks; i++)
		if (tasks[i].tgid == pid)
			return &tasks[i];
	return NULL;
}

/* Tids met so far (seized, ended or already dead): sorted up to nsorted, for the lookups of
 * one listing; those of the current listing are appended. */
struct tidset {
	pid_t *v;
	int n, nsorted, cap;
};

static int cmp_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

static int known(const struct tidset *s, pid_t tid)
{
	return s->nsorted && bsearch(&tid, s->v, (size_t)s->nsorted, sizeof tid, cmp_tid) != NULL;
}

static int remember(struct tidset *s, pid_t tid)
{
	if (s->n == s->cap) {
		int cap = s->cap * 2 + 256;
		pid_t *v = realloc(s->v, (size_t)cap * sizeof *v);
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = tid;
	return 0;
}

static struct dthread *add_thread(struct dtask *d, pid_t tid)
{
	if (d->nth == d->cap) {
		int cap = d->cap * 2 + 16;
		struct dthread *th = realloc(d->th, (size_t)cap * sizeof *th);
		if (!th)
			return NULL;
		d->th = th;
		d->cap = cap;
	}
	struct dthread *t = &d->th[d->nth++];
	memset(t, 0, sizeof *t);
	t->tid = tid;
	return t;
}

/* Whether the thread has ended: gone from /proc, or a zombie or dead one still listed. */
static int thread_ended(pid_t pid, pid_t tid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d", pid, tid);
	return access(path, F_OK) != 0 || thread_is_zombie(pid, tid);
}

/* The threads of /proc/PID/task not met before, remembered now, into *fresh. */
static int list_new(pid_t pid, struct tidset *seen, pid_t **fresh, int *nfresh, int *cap)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	DIR *dir = opendir(path);
	if (!dir)
		return proto_fail("freeze", "task", errno == ENOENT ? ESRCH : errno, "process %d not found", pid);
	qsort(seen->v, (size_t)seen->n, sizeof *seen->v, cmp_tid);
	seen->nsorted = seen->n;
	*nfresh = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		pid_t tid = atoi(e->d_name);
		if (tid <= 0 || known(seen, tid))
			continue;
		if (*nfresh == *cap) {
			*cap = *cap * 2 + 256;
			pid_t *f = realloc(*fresh, (size_t)*cap * sizeof *f);
			if (!f) {
				closedir(dir);
				return proto_fail("freeze", "task", ENOMEM, "out of memory");
			}
			*fresh = f;
		}
		(*fresh)[(*nfresh)++] = tid;
		if (remember(seen, tid) < 0) {
			closedir(dir);
			return proto_fail("freeze", "task", ENOMEM, "out of memory");
		}
	}
	closedir(dir);
	return 0;
}

/* Seizes the listed threads (those that ended since the listing are skipped). */
static int seize_all(struct dtask *d, const pid_t *fresh, int nfresh, int pass)
{
	for (int k = 0; k < nfresh; k++) {
		pid_t tid = fresh[k];
		if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD) < 0) {
			int err = errno;
			if (err == ESRCH || (err == EPERM && thread_ended(d->tgid, tid)))
				continue; /* ended since it was listed (a main thread that exited stays a zombie) */
			if (err == EPERM)
				return proto_fail("freeze", "task", err, "permission denied: cannot ptrace process %d", d->tgid);
			return proto_fail_sys("PTRACE_SEIZE", "freeze", "task", err, "cannot seize thread %d", tid);
		}
		if (!add_thread(d, tid))
			return proto_fail("freeze", "task", ENOMEM, "out of memory");
		if (pass == 0 && k == nfresh / 2 && fault_at("freeze-seize", d->tgid))
			return proto_fail("freeze", "task", ECANCELED, FAULT_MSG);
	}
	return 0;
}

/* The first thread from `from` on that has neither stopped nor ended. */
static struct dthread *first_running(struct dtask *d, int from)
{
	for (int k = from; k < d->nth; k++)
		if (!d->th[k].stopped && !d->th[k].gone)
			return &d->th[k];
	return NULL;
}

/* One wait report (or none yet) for thread t: 1 when it settled (stopped or ended). */
static int settle(struct dtask *d, struct dthread *t)
{
	int st;
	pid_t r = waitpid(t->tid, &st, __WALL | WNOHANG);
	if (r < 0 && errno == EINTR)
		return 0;
	if (r < 0) {
		if (errno != ECHILD)
			return -1;
		t->gone = 1; /* no longer our tracee: it ended and was reaped */
		return 1;
	}
	if (r == 0) {
		/* a main thread that exits while others run stays a zombie, never reported */
		if (t->tid == d->tgid && thread_is_zombie(d->tgid, t->tid)) {
			t->gone = 1;
			return 1;
		}
		return 0;
	}
	if (!WIFSTOPPED(st)) {
		t->gone = 1; /* its exit, reported to us as its tracer */
		return 1;
	}
	if ((st >> 16) != PTRACE_EVENT_STOP) {
		/* a signal arrived before the interrupt: deliver it (the task handles it as it
		 * would have), the interrupt stop follows */
		if (ptrace(PTRACE_CONT, t->tid, 0, (void *)(long)WSTOPSIG(st)) < 0 && errno != ESRCH)
			return -1;
		return 0;
	}
	t->stopped = 1;
	/* a task seized in a group stop reports it first, with the signal that stopped it
	 * (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU); an interrupt stop reports SIGTRAP */
	t->stopsig = (unsigned char)WSTOPSIG(st);
	return 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Interrupts the threads seized from `from` on and waits until each one stopped or ended. */
static int stop_all(struct dtask *d, int from, int pass)
{
	for (int k = from; k < d->nth; k++) {
		if (ptrace(PTRACE_INTERRUPT, d->th[k].tid, 0, 0) < 0 && errno != ESRCH)
			return proto_fail("freeze", "task", errno, "cannot interrupt thread %d", d->th[k].tid);
		if (pass == 0 && k == from + (d->nth - from) / 2 && fault_at("freeze-interrupt", d->tgid))
			return proto_fail("freeze", "task", ECANCELED, FAULT_MSG);
	}
	long start = now_ms();
	for (int round = 0;; round++) {
		int settled = 0;
		for (int k = from; k < d->nth; k++) {
			struct dthread *t = &d->th[k];
			if (t->stopped || t->gone)
				continue;
			int r = settle(d, t);
			if (r < 0)
				return proto_fail("freeze", "task", errno, "cannot wait for thread %d", t->tid);
			settled += r;
		}
		struct dthread *t = first_running(d, from);
		if (!t)
			return 0;
		if (now_ms() - start > STOP_WAIT_MS)
			return proto_fail("freeze", "threads", ETIMEDOUT, "thread %d does not stop (uninterruptible sleep?)", t->tid);
		if (!settled) {
			struct timespec nap = { 0, round < 50 ? 20000 : 1000000 };
			nanosleep(&nap, NULL);
		}
	}
}

/* Reads the registers and mask of every thread stopped from `from` on: what release puts back. */
static int save_all(struct dtask *d, int from, int pass)
{
	for (int k = from; k < d->nth; k++) {
		struct dthread *t = &d->th[k];
		if (pass == 0 && k == from + (d->nth - from) / 2 && fault_at("freeze-save", d->tgid))
			return proto_fail("freeze", "task", ECANCELED, FAULT_MSG);
		if (!t->stopped)
			continue;
		if (t_get_regs(t->tid, &t->regs) < 0 || ptrace(PTRACE_GETSIGMASK, t->tid, (void *)8, &t->mask) < 0) {
			if (errno == ESRCH) { /* killed meanwhile: its whole process is going */
				t->gone = 1;
				continue;
			}
			return proto_fail("freeze", "registers", errno, "cannot read the registers of thread %d", t->tid);
		}
		t->saved = 1;
	}
	return 0;
}

/* Drops the threads that ended (their tids stay met). */
static void compact(struct dtask *d)
{
	int n = 0;
	for (int k = 0; k < d->nth; k++)
		if (!d->th[k].gone)
			d->th[n++] = d->th[k];
	d->nth = n;
}

static int freeze_passes(struct dtask *d)
{
	struct tidset seen = { 0 };
	pid_t *fresh = NULL;
	int nfresh = 0, cap = 0, rc = -1, pass;
	for (pass = 0; pass < FREEZE_PASSES; pass++) {
		if (list_new(d->tgid, &seen, &fresh, &nfresh, &cap) < 0)
			goto out;
		if (!nfresh)
			break;
		int from = d->nth;
		if (seize_all(d, fresh, nfresh, pass) < 0 || stop_all(d, from, pass) < 0 || save_all(d, from, pass) < 0)
			goto out;
		if (fault_at("freeze-pass", d->tgid)) {
			proto_fail("freeze", "task", ECANCELED, FAULT_MSG);
			goto out;
		}
		compact(d);
	}
	if (pass == FREEZE_PASSES || fault_at("freeze-giveup", d->tgid)) /* the fault: as if it never settled */
		proto_fail("freeze", "threads", EAGAIN, "new threads kept appearing while it was being frozen (gave up after %d listings)",
			   FREEZE_PASSES);
	else if (d->nth == 0)
		proto_fail("freeze", "task", ESRCH, "exited while it was being frozen");
	else
		rc = 0;
out:
	free(seen.v);
	free(fresh);
	return rc;
}

int task_index(const struct dtask *d)
{
	return (int)(d - tasks);
}

struct dtask *task_at(int i)
{
	return i >= 0 && i < ntasks ? &tasks[i] : NULL;
}

int freeze(pid_t pid)
{
	if (find_task(pid))
		return proto_fail("freeze", "task", EEXIST, "process %d is already frozen", pid);
	if (ntasks == cap_tasks) {
		int cap = cap_tasks * 2 + 16;
		struct dtask *t = realloc(tasks, (size_t)cap * sizeof *t);
		if (!t)
			return proto_fail("freeze", "task", ENOMEM, "out of memory");
		tasks = t;
		cap_tasks = cap;
	}
	struct dtask *d = &tasks[ntasks++]; /* from here on, release() lets go of what is in it */
	memset(d, 0, sizeof *d);
	d->tgid = pid;
	d->t.pid = pid;
	if (freeze_passes(d) < 0)
		return -1;
	d->main = 0; /* the main thread when it is live, else the first one met */
	for (int k = 0; k < d->nth; k++)
		if (d->th[k].tid == pid)
			d->main = k;
	d->t.pid = d->th[d->main].tid;
	d->t.regs = d->th[d->main].regs;
	if (seccomp_suspend(d) < 0)
		return -1;
	EMIT_FROZEN(.pid = (uint64_t)pid, .threads = (uint64_t)d->nth, .tid = (uint64_t)d->t.pid);
	return 0;
}

void release(int kill_it)
{
	for (int i = 0; i < ntasks; i++) {
		struct dtask *d = &tasks[i];
		if (kill_it)
			kill(d->t.pid, SIGKILL);
		else
			gadget_drop(d); /* one mapped ahead and never used (gadget.c) */
		for (int k = 0; k < d->nth; k++) {
			struct dthread *t = &d->th[k];
			if (t->gone)
				continue;
			if (!kill_it && t->saved) {
				ptrace(PTRACE_SETSIGMASK, t->tid, (void *)8, &t->mask);
				t_set_regs(t->tid, &t->regs);
			}
			/* fails for a thread not stopped: the kernel lets it go when the helper exits */
			ptrace(PTRACE_DETACH, t->tid, 0, 0);
		}
	}
}
