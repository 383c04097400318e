/* Tracer workers: the per-task kernel restart of several tasks at once.
 *
 * A worker is a fork of the helper made before any task exists (so it has the plan, the
 * gadget address and every fd), and it is the only tracer of the tasks given to it (task i to
 * worker i % n; ptrace belongs to one process, so each stays a dedicated tracer). The helper
 * sends a worker commands on its pipe; a worker acknowledges seize, stop and detach on the
 * shared ack pipe (the helper waits for those), and reports the slow per-task steps (map,
 * finish) straight to the coordinator as events, so the coordinator can keep a bounded number
 * of them in flight (p-queue). A worker's failure is reported by the worker itself. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "helper.h"
#include "proto.h"
#include "proto_gen.h"
#include "restore.h"
#include "tracee.h"

extern struct plan plan;

struct wcmd {
	int op, task, pid, nspid;
};
struct wack {
	int task, op, err;
};

static int nworkers;
static int wcmd_fd[64];
static pid_t wpid[64];
static int ack_rd = -1, ack_wr = -1;

static void ack(int task, int op, int err)
{
	struct wack a = { task, op, err };
	if (write(ack_wr, &a, sizeof a) != sizeof a)
		_exit(95);
}

static int detach_task(struct task_plan *t)
{
	if (t->stopped) /* taken once detached: the group stop with the image's signal */
		kill(t->pid, stop_signal(t));
	for (int k = 0; k < t->nthreads; k++)
		ptrace(PTRACE_DETACH, t->threads[k].pid, 0, 0);
	if (!t->leader_exit) /* an exited main thread was let go already */
		ptrace(PTRACE_DETACH, t->pid, 0, 0);
	return 0;
}

/* A step's own duration goes with its report (the coordinator queues every task's step at
 * once, so its clock would also count the wait behind other tasks of the worker). */
static unsigned long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

static void worker_main(int rd, uint64_t gadget)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		struct wcmd c;
		ssize_t n = read(rd, &c, sizeof c);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof c || c.op == W_EXIT)
			_exit(0);
		struct task_plan *t = &plan.tasks[c.task];
		int st;
		unsigned long long t0;
		switch (c.op) {
		case W_SEIZE:
			t->pid = c.pid;
			t->nspid = c.nspid;
			ack(c.task, c.op, ptrace(PTRACE_SEIZE, t->pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0 ? errno : 0);
			break;
		case W_STOP:
			ack(c.task, c.op, t_wait(t->pid, &st) < 0 || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP ? ECHILD : 0);
			break;
		case W_MAP:
			t0 = now_us();
			if (restore_map(t, gadget) < 0)
				_exit(1); /* reported; the coordinator aborts */
			if (fault_at("task-map", t->old_pid)) {
				proto_fail("map", "task", ECANCELED, FAULT_MSG);
				_exit(1);
			}
			EMIT_MAPPED(.task = (uint64_t)c.task, .us = now_us() - t0);
			break;
		case W_FINISH:
			t0 = now_us();
			restore_drop_copies(&plan); /* every mapping exists (committed) */
			if (restore_finish(t, gadget) < 0)
				_exit(1);
			if (fault_at("task-finish", t->old_pid)) {
				proto_fail("finish", "task", ECANCELED, FAULT_MSG);
				_exit(1);
			}
			EMIT_FINISHED(.task = (uint64_t)c.task, .us = now_us() - t0);
			break;
		case W_POPULATE:
			if (restore_populate(t, c.task, gadget) < 0)
				_exit(1);
			break;
		case W_DETACH:
			ack(c.task, c.op, detach_task(t));
			break;
		case W_PID: /* another worker's task (or a zombie): for files of /proc/PID */
			t->pid = c.pid;
			t->nspid = c.nspid;
			break;
		}
	}
}

/* A fork of the helper that ignores the interrupts (SIGTERM, SIGINT, SIGQUIT, SIGHUP) from its
 * first instruction: a tracer or credential agent ends with the helper only (PR_SET_PDEATHSIG).
 * A terminal's interrupt reaches them too; dying of it (the helper's handler, inherited) a
 * tracer would kill its tasks (PTRACE_O_EXITKILL) while the helper lets the others go (part of
 * a tree would run), or leave the helper waiting for it with its signals blocked. The helper
 * decides (main.c); a signal that came during the fork is its own once unblocked. */
pid_t fork_deaf(void)
{
	sigset_t block, old;
	interrupts(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t p = fork();
	if (p == 0)
		interrupts_ignored();
	sigprocmask(SIG_SETMASK, &old, NULL);
	return p;
}

int tracers_start(int n, uint64_t gadget)
{
	int ap[2];
	if (n < 1 || n > 64 || pipe2(ap, O_CLOEXEC) < 0)
		return proto_fail("create", "tracers", EINVAL, "cannot start %d tracers", n);
	ack_rd = ap[0];
	ack_wr = ap[1];
	for (int w = 0; w < n; w++) {
		int cp[2];
		if (pipe2(cp, O_CLOEXEC) < 0)
			return proto_fail("create", "tracers", errno, "cannot create a pipe");
		pid_t p = fork_deaf();
		if (p < 0)
			return proto_fail("create", "tracers", errno, "cannot fork a tracer");
		if (p == 0) {
			close(cp[1]);
			close(ack_rd);
			for (int k = 0; k < w; k++)
				close(wcmd_fd[k]);
			worker_main(cp[0], gadget);
		}
		close(cp[0]);
		wcmd_fd[w] = cp[1];
		wpid[w] = p;
	}
	nworkers = n;
	return 0;
}

int tracer_send(int task, int op)
{
	struct task_plan *t = &plan.tasks[task];
	struct wcmd c = { op, task, t->pid, t->nspid };
	if (write(wcmd_fd[task % nworkers], &c, sizeof c) != sizeof c)
		return proto_fail("create", "tracers", errno, "a tracer is gone");
	return 0;
}

int tracers_share_pids(void)
{
	for (int w = 0; w < nworkers; w++)
		for (int i = 0; i < plan.ntasks; i++) {
			struct wcmd c = { W_PID, i, plan.tasks[i].pid, plan.tasks[i].nspid };
			/* a worker learns its own tasks' pids with their seize: not those of its zombies and
			 * placeholders, which are never seized */
			if (plan.tasks[i].pid > 0 && (i % nworkers != w || plan.tasks[i].kind != TASK_NORMAL) &&
			    write(wcmd_fd[w], &c, sizeof c) != sizeof c)
				return proto_fail("create", "tracers", errno, "a tracer is gone");
		}
	return 0;
}

/* Acks arrive from all workers in any order: each is kept (per task, per op) until asked for. */
static int *acked; /* ntasks * (W_EXIT + 1) entries: 0 none, 1 + err */

int tracer_wait_ack(int task, int op)
{
	if (!acked && !(acked = calloc((size_t)plan.ntasks * (W_EXIT + 1), sizeof *acked)))
		return proto_fail("create", "tracers", ENOMEM, "out of memory");
	int *slot = &acked[task * (W_EXIT + 1) + op];
	while (!*slot) {
		struct wack a;
		ssize_t n = read(ack_rd, &a, sizeof a);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof a)
			return proto_fail("create", "tracers", EPIPE, "a tracer died");
		if (a.task >= 0 && a.task < plan.ntasks && a.op > 0 && a.op <= W_EXIT)
			acked[a.task * (W_EXIT + 1) + a.op] = 1 + a.err;
	}
	int err = *slot - 1;
	*slot = 0;
	errno = err;
	return err ? -1 : 0;
}

void tracers_stop(void)
{
	for (int w = 0; w < nworkers; w++) {
		struct wcmd c = { W_EXIT, 0, 0, 0 };
		if (write(wcmd_fd[w], &c, sizeof c) < 0) {
			/* already gone */
		}
		close(wcmd_fd[w]);
	}
	for (int w = 0; w < nworkers; w++)
		waitpid(wpid[w], NULL, 0);
	nworkers = 0;
}
