/* The tree-building phase of the restart: the planned actions (clone, setsid, setpgid, ctty,
 * exit, reap...), each run by the task it names through its command pipe, reported back on
 * the shared report pipe; then every task puts its fds in place and stops for its tracer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "helper.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct plan plan;
extern struct restore_ctx ctx;
#define REPORT_TIMEOUT_MS 30000

static const char *step_name(int step)
{
	switch (step) {
	case STEP_CLONE: return "clone3 with set_tid failed";
	case STEP_SETSID: return "setsid failed";
	case STEP_SETPGID: return "setpgid failed";
	case STEP_REAP: return "cannot reap a placeholder";
	case STEP_DUP: return "cannot place the descriptor";
	case STEP_CWD: return "cannot change to the working directory";
	case STEP_EPOLL: return "cannot register an epoll target again";
	case STEP_CTTY: return "cannot take its terminal back as controlling terminal";
	case STEP_TCPGRP: return "cannot make its process group the terminal's foreground again";
	case STEP_STAGE: return "cannot map the memory its children share with it in the staging window";
	}
	return "failed";
}

static int task_failed(const struct task_report *r)
{
	struct task_plan *t = &plan.tasks[r->task];
	char obj[48];
	if (r->step == STEP_DUP || r->step == STEP_EPOLL)
		snprintf(obj, sizeof obj, "fd %d", r->pid);
	else
		snprintf(obj, sizeof obj, "pid %d", t->want_pid ? t->want_pid : t->old_pid);
	if (r->step == STEP_CLONE && r->err == EEXIST)
		return proto_fail("create", obj, r->err, "pid %d is in use (waited %d ms)", t->want_pid,
				  plan.pid_wait_ms);
	if (r->step == STEP_CWD)
		return proto_fail("create", obj, r->err, "%s %s", step_name(r->step), t->cwd);
	return proto_fail("create", obj, r->err, "task %d: %s", t->old_pid, step_name(r->step));
}

static int read_report(struct task_report *r)
{
	struct pollfd p = { .fd = ctx.report_rd, .events = POLLIN };
	int n = poll(&p, 1, REPORT_TIMEOUT_MS);
	if (n <= 0 || read(ctx.report_rd, r, sizeof *r) != sizeof *r)
		return proto_fail("create", "tree", n == 0 ? ETIMEDOUT : errno, "a task did not answer");
	if (r->task < 0 || r->task >= plan.ntasks)
		return proto_fail("create", "tree", EPROTO, "bad report");
	return 0;
}

/* Reports owed by commands sent without waiting (pended, see may_pend); any report read while
 * waiting for another is one of those. */
static int npending;
static unsigned char *owed; /* per task: OWE_CLONE (its creation), OWE_SETPGID (its setpgid) */
enum { OWE_CLONE = 1, OWE_SETPGID = 2 };

static int created(int task, const struct task_report *r);

static int pended_report(const struct task_report *r)
{
	int want = r->step == STEP_CLONE ? OWE_CLONE : r->step == STEP_SETPGID ? OWE_SETPGID : 0;
	if (!want || !(owed[r->task] & want) || (want == OWE_CLONE && plan.tasks[r->task].pid > 0))
		return proto_fail("create", "tree", EPROTO, "unexpected report");
	if (r->err)
		return task_failed(r);
	owed[r->task] &= (unsigned char)~want;
	npending--;
	return want == OWE_CLONE ? created(r->task, r) : 0;
}

/* Sends a command and, unless it has no answer, reads reports until its own (of the task it
 * names, of that step); the pended ones that come first are taken as they come. */
static int send_cmd(int task, int op, int arg, struct task_report *r)
{
	struct task_cmd c = { .op = op, .arg = arg };
	if (write(plan.tasks[task].cmdfd, &c, sizeof c) != sizeof c)
		return proto_fail("create", "tree", errno, "cannot command task %d", plan.tasks[task].old_pid);
	if (op == OP_EXIT || op == OP_RESTORE || op == OP_INIT)
		return 0;
	int of = op == OP_CLONE ? arg : task;
	for (;;) {
		if (read_report(r) < 0)
			return -1;
		if (r->task == of && !owed[of])
			break;
		if (pended_report(r) < 0)
			return -1;
	}
	return r->err ? task_failed(r) : 0;
}

/* The parent a task is born to: its creator, or with CLONE_PARENT its creator's parent. */
static pid_t parent_pid_of(int task)
{
	struct task_plan *t = &plan.tasks[task];
	if (t->creator < 0)
		return getpid();
	return t->sibling ? parent_pid_of(t->creator) : plan.tasks[t->creator].pid;
}

/* Inside --pidns a creator reports its child's pid as seen in the namespace; the helper needs
 * it as seen from outside: the one child of the creator that no task has yet. */
static pid_t outer_pid_of_new_child(pid_t creator)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", creator, creator);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	pid_t found = -1;
	int c;
	while (found < 0 && fscanf(f, "%d", &c) == 1) {
		int known = 0;
		for (int i = 0; i < plan.ntasks && !known; i++)
			known = plan.tasks[i].pid == c;
		if (!known)
			found = c;
	}
	fclose(f);
	return found;
}

static int seize_acked(int task)
{
	struct task_plan *t = &plan.tasks[task];
	if (t->seized)
		return 0;
	if (tracer_wait_ack(task, W_SEIZE) < 0)
		return proto_fail("create", "ptrace", errno, "cannot seize the new task %d", t->pid);
	t->seized = 1;
	return 0;
}

/* The first stop of every task of one wave: each is told to put its files in place, its
 * tracer to wait for its stop, all at once (they run in parallel); then every stop is
 * collected. A task whose files failed reports on the report pipe instead of stopping. */
static int first_stops(int sharers)
{
	for (int i = 0; i < plan.ntasks; i++) {
		struct task_plan *t = &plan.tasks[i];
		struct task_report r;
		if (t->kind != TASK_NORMAL || !t->share_files != !sharers)
			continue;
		if (seize_acked(i) < 0 || send_cmd(i, OP_RESTORE, 0, &r) < 0 || tracer_send(i, W_STOP) < 0)
			return -1;
	}
	for (int i = 0; i < plan.ntasks; i++) {
		struct task_plan *t = &plan.tasks[i];
		if (t->kind != TASK_NORMAL || !t->share_files != !sharers)
			continue;
		if (tracer_wait_ack(i, W_STOP) < 0) {
			struct task_report r;
			struct pollfd p = { .fd = ctx.report_rd, .events = POLLIN };
			if (poll(&p, 1, 1000) == 1 && read(ctx.report_rd, &r, sizeof r) == sizeof r && r.err &&
			    r.task >= 0 && r.task < plan.ntasks)
				return task_failed(&r);
			return proto_fail("create", "task", ECHILD, "task %d did not reach its first stop", t->pid);
		}
	}
	return 0;
}

/* A command pended: its report is read later, with those of the others, so that tasks work
 * in parallel while the helper writes. A clone of a leaf of the creation order (no pidns
 * lookup, no staged memory), and a setpgid into a group whose leader's pid is known and which
 * exists (its leader owes no setpgid, or it is this task's own): the tasks of a tree join
 * their groups in parallel. */
static int created(int task, const struct task_report *r)
{
	struct task_plan *t = &plan.tasks[task];
	t->nspid = r->pid;
	t->pid = r->pid;
	if (t->kind == TASK_NORMAL && (tracer_send(task, W_SEIZE) < 0 || cow_read_staged(task) < 0))
		return -1;
	if (fault_at("clone", t->old_pid))
		return proto_fail("create", "clone", ECANCELED, FAULT_MSG);
	return 0;
}

static int drain_pending(void)
{
	while (npending > 0) {
		struct task_report r;
		if (read_report(&r) < 0 || pended_report(&r) < 0)
			return -1;
	}
	return 0;
}

static int may_pend(const struct act_plan *a)
{
	const struct task_plan *t = &plan.tasks[a->task];
	if (a->op == ACT_SETPGID)
		return !plan.pidns && t->kind == TASK_NORMAL && plan.tasks[a->arg].pid > 0 &&
		       (a->arg == a->task || !(owed[a->arg] & OWE_SETPGID));
	return a->op == ACT_CLONE && a->arg >= 0 && !plan.pidns && !t->nareas && !t->staged_left &&
	       !t->share_files && !t->share_fs && plan.tasks[a->arg].kind == TASK_NORMAL && !plan.tasks[a->arg].staged_left;
}

static int pend(const struct act_plan *a)
{
	int clone = a->op == ACT_CLONE;
	struct task_cmd c = { .op = clone ? OP_CLONE : OP_SETPGID, .arg = clone ? a->task : plan.tasks[a->arg].nspid };
	int to = clone ? a->arg : a->task;
	if (write(plan.tasks[to].cmdfd, &c, sizeof c) != sizeof c)
		return proto_fail("create", "tree", errno, "cannot command task %d", plan.tasks[to].old_pid);
	owed[a->task] |= clone ? OWE_CLONE : OWE_SETPGID;
	npending++;
	return 0;
}

/* The group each task is in as the actions leave it (the index of the task whose pid is its
 * pgid; -1: not known here, the helper's or a new namespace's) and whether it leads a session.
 * A setpgid into the group a task is in already (inherited from its creator: the common case)
 * changes nothing and cannot fail unless the task leads a session: it is not sent. */
static int *grp;
static unsigned char *leads;

static void track(const struct act_plan *a)
{
	if (a->op == ACT_CLONE)
		grp[a->task] = a->arg < 0 ? -1 : grp[a->arg];
	else if (a->op == ACT_SETSID)
		grp[a->task] = a->task, leads[a->task] = 1;
	else if (a->op == ACT_SETPGID)
		grp[a->task] = a->arg;
}

static int in_group_already(const struct act_plan *a)
{
	return a->op == ACT_SETPGID && a->arg >= 0 && grp[a->task] == a->arg && !leads[a->task];
}

int run_actions(void)
{
	owed = calloc((size_t)plan.ntasks + 1, 1);
	leads = calloc((size_t)plan.ntasks + 1, 1);
	grp = calloc((size_t)plan.ntasks + 1, sizeof *grp);
	if (!owed || !leads || !grp)
		return proto_fail("create", "tree", ENOMEM, "out of memory");
	for (int i = 0; i < plan.nacts; i++) {
		struct act_plan *a = &plan.acts[i];
		struct task_plan *t = &plan.tasks[a->task];
		struct task_report r;
		if (in_group_already(a))
			continue;
		track(a);
		if (may_pend(a)) {
			if (pend(a) < 0)
				return -1;
			continue;
		}
		/* a clone by a task waits only for its own report (the creator's earlier commands come
		 * first in its pipe); any other action for every owed report first */
		if ((a->op != ACT_CLONE || a->arg < 0 || plan.pidns) && drain_pending() < 0)
			return -1;
		switch (a->op) {
		case ACT_CLONE:
			/* a sharer is the clone of a task of its group (src/kernel/sharing.ts): never of
			 * the helper, whose fds it would keep (it restores none of its own) */
			if ((t->share_files || t->share_fs) && (a->arg < 0 || plan.tasks[a->arg].kind != TASK_NORMAL))
				return proto_fail("create", "tree", EINVAL, "task %d shares its creator's files or fs info but is not created by a task", t->old_pid);
			if (a->arg < 0) {
				int init = t->newns;
				pid_t pid = clone_with_pid(init ? 0 : t->want_pid, plan.pid_wait_ms, init ? CLONE_NEWPID : 0);
				if (pid == 0)
					task_loop(&ctx, a->task);
				r = (struct task_report){ .task = a->task, .step = STEP_CLONE, .err = pid < 0 ? errno : 0, .pid = pid };
				if (r.err)
					return task_failed(&r);
				t->pid = pid;
				t->nspid = init ? 1 : pid;
			} else {
				if (cow_ready(a->arg) < 0 || send_cmd(a->arg, OP_CLONE, a->task, &r) < 0)
					return -1;
				t->nspid = r.pid;
				t->pid = plan.pidns ? outer_pid_of_new_child(parent_pid_of(a->task)) : r.pid;
				if (t->pid <= 0)
					return proto_fail("create", "pidns", ESRCH, "cannot find task %d from outside", r.pid);
			}
			/* the seize is acknowledged later (seize_acked), unless the task stages memory
			 * now: its tracer takes it meanwhile, while the next tasks are created */
			if (t->kind == TASK_NORMAL && (tracer_send(a->task, W_SEIZE) < 0 || (t->nareas && seize_acked(a->task) < 0)))
				return -1;
			/* the memory its children share with it, before it creates any (restore_cow.c) */
			if (t->kind == TASK_NORMAL && ((t->nareas && send_cmd(a->task, OP_STAGE, 0, &r) < 0) || cow_read_staged(a->task) < 0))
				return -1;
			if (fault_at("clone", t->old_pid))
				return proto_fail("create", "clone", ECANCELED, FAULT_MSG);
			break;
		case ACT_SETSID:
			if (send_cmd(a->task, OP_SETSID, 0, &r) < 0)
				return -1;
			break;
		case ACT_SETPGID:
			if (send_cmd(a->task, OP_SETPGID, plan.tasks[a->arg].nspid, &r) < 0)
				return -1;
			break;
		case ACT_EXIT:
			if (send_cmd(a->task, OP_EXIT, 0, &r) < 0)
				return -1;
			break;
		case ACT_CTTY:
			if (send_cmd(a->task, OP_CTTY, 0, &r) < 0)
				return -1;
			break;
		case ACT_TCPGRP:
			if (send_cmd(a->task, OP_TCPGRP, plan.tasks[a->arg].nspid, &r) < 0)
				return -1;
			break;
		case ACT_REAP:
			if (send_cmd(a->task, OP_REAP, plan.tasks[a->arg].nspid, &r) < 0)
				return -1;
			break;
		}
	}
	if (drain_pending() < 0)
		return -1;
	/* The namespace's init stops taking orders and becomes init. */
	for (int i = 0; i < plan.ntasks; i++)
		if (plan.tasks[i].kind == TASK_INIT) {
			struct task_report r;
			if (send_cmd(i, OP_INIT, plan.tasks[0].nspid, &r) < 0)
				return -1;
		}
	/* Files of /proc/PID name other tasks too: every tracer learns every pid. */
	for (int f = 0; f < plan.nfiles; f++)
		if (FILE_LATE(plan.files[f].kind)) {
			if (tracers_share_pids() < 0)
				return -1;
			break;
		}
	/* Every normal task puts its files in place and stops for the tracer; those sharing their
	 * creator's fd table first (they leave it as it is), then the others, each of which closes
	 * in its table what no sharer keeps. Within each wave the tasks do it in parallel. */
	if (first_stops(1) < 0 || first_stops(0) < 0)
		return -1;
	return 0;
}
