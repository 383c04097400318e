/* The restore plan: settings, task sections and tree actions (format: plan.h; every line's
 * fields: protocol/schema.mjs). Objects created before any task: plan_files.c, plan_objs.c. */
#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "plan_parse.h"
#include "proto.h"

char *plan_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- one copy of what tasks share byte for byte (plan_intern, plan.h): a table by content,
 * open addressing; a tree of 1,000 tasks x 400 inherited fds held 3.2 MB of identical fd
 * tables and 2 MB of identical XSAVE areas in each of the helper's processes */
struct blob {
	uint64_t hash;
	size_t len;
	const void *data;
};
static struct blob *blobs;
static size_t nblobs, blobcap;

static uint64_t blob_hash(const unsigned char *d, size_t n)
{
	uint64_t h = 1469598103934665603ULL ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, d + i, 8);
		h = (h ^ w) * 1099511628211ULL;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ d[i]) * 1099511628211ULL;
	return h;
}

const void *plan_intern(const void *data, size_t len)
{
	static const unsigned char none[1];
	if (!len)
		return none;
	if (2 * (nblobs + 1) > blobcap) {
		size_t cap = blobcap ? 2 * blobcap : 1024;
		struct blob *b = calloc(cap, sizeof *b);
		if (!b)
			return NULL;
		for (size_t i = 0; i < blobcap; i++)
			if (blobs[i].data) {
				size_t k = blobs[i].hash & (cap - 1);
				while (b[k].data)
					k = (k + 1) & (cap - 1);
				b[k] = blobs[i];
			}
		free(blobs);
		blobs = b;
		blobcap = cap;
	}
	uint64_t h = blob_hash(data, len);
	size_t k = h & (blobcap - 1);
	for (; blobs[k].data; k = (k + 1) & (blobcap - 1))
		if (blobs[k].hash == h && blobs[k].len == len && !memcmp(blobs[k].data, data, len))
			return blobs[k].data;
	void *c = malloc(len);
	if (!c)
		return NULL;
	memcpy(c, data, len);
	blobs[k] = (struct blob){ h, len, c };
	nblobs++;
	return c;
}

/* A task's section is complete (the next task's line, or `end`): its fd table and handlers,
 * read line by line, become shared copies. */
static int task_done(struct task_plan *t)
{
	if (t && t->nfds) {
		struct fd_plan *f = (struct fd_plan *)plan_intern(t->fds, (size_t)t->nfds * sizeof *t->fds);
		if (!f)
			return proto_fail("plan", "task", ENOMEM, "out of memory");
		free(t->fds);
		t->fds = f;
	}
	if (t && t->nact) {
		struct sigact_plan *a = (struct sigact_plan *)plan_intern(t->act, (size_t)t->nact * sizeof *t->act);
		if (!a)
			return proto_fail("plan", "task", ENOMEM, "out of memory");
		free(t->act);
		t->act = a;
	}
	return 0;
}

int plan_find_file(const struct plan *p, int id)
{
	for (int i = 0; i < p->nfiles; i++)
		if (p->files[i].id == id)
			return i;
	return -1;
}

/* ---- settings */

int on_plan_workers(struct plan_in *in, struct msg_plan_workers *m)
{
	in->p->workers = (int)m->value;
	return 0;
}

int on_plan_pidwait(struct plan_in *in, struct msg_plan_pidwait *m)
{
	in->p->pid_wait_ms = (int)m->value;
	return 0;
}

int on_plan_seed(struct plan_in *in, struct msg_plan_seed *m)
{
	in->p->seed = (uint32_t)m->value;
	return 0;
}

int on_plan_spool(struct plan_in *in, struct msg_plan_spool *m)
{
	in->p->spool = (int)m->value;
	return 0;
}

int on_plan_lz4(struct plan_in *in, struct msg_plan_lz4 *m)
{
	in->p->lz4 = (int)m->value;
	return 0;
}

int on_plan_pidns(struct plan_in *in, struct msg_plan_pidns *m)
{
	in->p->pidns = (int)m->value;
	return 0;
}

int on_plan_trusted(struct plan_in *in, struct msg_plan_trusted *m)
{
	in->p->trusted = (int)m->value;
	return 0;
}

int on_plan_foreground(struct plan_in *in, struct msg_plan_foreground *m)
{
	in->p->foreground = (int)m->value;
	return 0;
}

int on_plan_ipcns(struct plan_in *in, struct msg_plan_ipcns *m)
{
	in->p->ipcns = (int)m->value;
	return 0;
}

int on_plan_skipmem(struct plan_in *in, struct msg_plan_skipmem *m)
{
	NEED(m->start < m->end);
	struct skip_range *s = GROW(in->p->skips, in->p->nskips);
	NEED(s != NULL);
	*s = (struct skip_range){ m->task, m->start, m->end };
	return 0;
}

/* ---- page runs, in stream order */

static int add_run(struct plan *p, uint32_t task, uint32_t obj, uint64_t addr, uint64_t npages)
{
	static size_t cap;
	if (p->nruns == cap) {
		cap = cap * 2 + 256;
		p->runs = realloc(p->runs, cap * sizeof *p->runs);
		if (!p->runs)
			return proto_fail("plan", "run", ENOMEM, "out of memory");
	}
	p->runs[p->nruns++] = (struct page_run){ .task = task, .obj = obj, .addr = addr, .npages = npages };
	return 0;
}

int on_plan_objrun(struct plan_in *in, struct msg_plan_objrun *m)
{
	int o = plan_find_obj(in->p, (int)m->obj);
	NEED(o >= 0 && !(m->offset % PAGE_SZ) && in->p->objs[o].kind != OBJ_DIR);
	return add_run(in->p, (uint32_t)m->obj, 1, m->offset, m->npages);
}

/* a run of task pages staged in the copy-on-write window (restore_cow.c): before the objrun
 * and run lines */
int on_plan_srun(struct plan_in *in, struct msg_plan_srun *m)
{
	NEED(m->task < (uint64_t)in->p->ntasks);
	if (add_run(in->p, (uint32_t)m->task, 0, m->addr, m->npages) < 0)
		return -1;
	return plan_cow_srun(in->p, m->off);
}

int on_plan_run(struct plan_in *in, struct msg_plan_run *m)
{
	NEED(m->task < (uint64_t)in->p->ntasks);
	return add_run(in->p, (uint32_t)m->task, 0, m->addr, m->npages);
}

/* run lines of one task in one (a process of 10,000 mappings has 10,000 runs): each entry is
 * checked as a `run` line is */
int on_plan_runs(struct plan_in *in, struct msg_plan_runs *m)
{
	NEED(m->task < (uint64_t)in->p->ntasks && m->runs_len % 16 == 0);
	for (size_t at = 0; at < m->runs_len; at += 16) {
		uint64_t e[2];
		memcpy(e, m->runs + at, sizeof e);
		NEED(e[1] >= 1);
		if (add_run(in->p, (uint32_t)m->task, 0, e[0], e[1]) < 0)
			return -1;
	}
	return 0;
}

/* ---- tree actions */

static int add_act(struct plan_in *in, enum act_op op, int64_t a, int64_t b)
{
	struct plan *p = in->p;
	NEED(a >= 0 && a < p->ntasks && b >= -1 && b < p->ntasks);
	struct act_plan *ap = GROW(p->acts, p->nacts);
	NEED(ap != NULL);
	*ap = (struct act_plan){ .op = op, .task = (int)a, .arg = (int)b };
	return 0;
}

int on_plan_act_clone(struct plan_in *in, struct msg_plan_act_clone *m)
{
	return add_act(in, ACT_CLONE, (int64_t)m->task, m->creator);
}

int on_plan_act_clonep(struct plan_in *in, struct msg_plan_act_clonep *m)
{
	if (add_act(in, ACT_CLONE, (int64_t)m->task, (int64_t)m->creator) < 0)
		return -1;
	in->p->acts[in->p->nacts - 1].sibling = 1;
	return 0;
}

int on_plan_act_setsid(struct plan_in *in, struct msg_plan_act_setsid *m)
{
	return add_act(in, ACT_SETSID, (int64_t)m->task, -1);
}

int on_plan_act_setpgid(struct plan_in *in, struct msg_plan_act_setpgid *m)
{
	return add_act(in, ACT_SETPGID, (int64_t)m->task, (int64_t)m->leader);
}

int on_plan_act_exit(struct plan_in *in, struct msg_plan_act_exit *m)
{
	return add_act(in, ACT_EXIT, (int64_t)m->task, -1);
}

int on_plan_act_reap(struct plan_in *in, struct msg_plan_act_reap *m)
{
	return add_act(in, ACT_REAP, (int64_t)m->task, (int64_t)m->child);
}

/* the task keeps the pty (its index here) as its controlling terminal */
int on_plan_act_ctty(struct plan_in *in, struct msg_plan_act_ctty *m)
{
	int tty = plan_find_tty(in->p, (int)m->tty);
	NEED(m->task < (uint64_t)in->p->ntasks && tty >= 0);
	in->p->tasks[m->task].ctty = tty;
	return add_act(in, ACT_CTTY, (int64_t)m->task, tty);
}

int on_plan_act_tcpgrp(struct plan_in *in, struct msg_plan_act_tcpgrp *m)
{
	NEED(m->task < (uint64_t)in->p->ntasks && in->p->tasks[m->task].ctty >= 0);
	return add_act(in, ACT_TCPGRP, (int64_t)m->task, (int64_t)m->leader);
}

int on_plan_end(struct plan_in *in, struct msg_plan_end *m)
{
	(void)m;
	if (!in->p->ntasks)
		return proto_fail("plan", "task", EINVAL, "the plan has no task");
	if (task_done(in->t) < 0)
		return -1;
	in->t = NULL; /* no task line after `end` */
	/* /dev/tty of a pty of the plan: opened by the session leader that takes that pty */
	for (int i = 0; i < in->p->nfiles; i++) {
		int tty = in->p->files[i].tty, taken = 0;
		for (int k = 0; in->p->files[i].kind == FILE_DEVTTY && tty >= 0 && k < in->p->ntasks; k++)
			taken |= in->p->tasks[k].ctty == tty;
		if (in->p->files[i].kind == FILE_DEVTTY && tty >= 0 && !taken)
			return proto_fail("plan", "/dev/tty", EINVAL, "bad plan line (/dev/tty of a pty no session leader takes)");
	}
	in->done = 1;
	return plan_cow_check(in->p);
}

int on_plan_task(struct plan_in *in, struct msg_plan_task *m)
{
	struct plan *p = in->p;
	NEED(m->index == (uint64_t)p->ntasks);
	if (task_done(in->t) < 0)
		return -1;
	in->t = NULL;
	struct task_plan *t = GROW(p->tasks, p->ntasks);
	NEED(t != NULL);
	in->t = t;
	t->old_pid = (pid_t)m->old_pid;
	t->ctty = -1;
	t->want_pid = (pid_t)m->new_pid;
	t->kind = (enum task_kind)m->kind;
	t->exit_status = (int)m->exit_status;
	t->stopped = (int)m->stopped;
	t->umask = 022;
	t->creator = -1;
	t->cmdfd = t->cmdrd = -1;
	t->cwdfd = t->exefd = -1;
	return 0;
}

/* The plan lines up to `end`. skip_rest: after a failure the lines up to `end` are still read
 * (a checkpoint's check, whose helper goes on with the commands after the plan). */
static int read_lines(struct plan *p, int skip_rest)
{
	memset(p, 0, sizeof *p);
	p->pid_wait_ms = 5000;
	p->workers = 1;
	struct plan_in in = { .p = p };
	char *line, *w[40];
	int rc = 0;
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 40);
		if (n == 0)
			continue;
		int end = !strcmp(w[0], "end");
		if (rc == 0 && proto_plan_dispatch(&in, w, n) < 0) {
			if (!skip_rest)
				return -1;
			rc = -1;
		}
		if (in.done || end)
			return rc;
	}
	return proto_fail("plan", "end", EPIPE, "the plan ended early");
}

/* Every task to restore has its registers, mm, xstate and vdso. */
static int plan_complete(const struct plan *p)
{
	for (int i = 0; i < p->ntasks; i++) {
		const struct task_plan *t = &p->tasks[i];
		if (t->kind == TASK_NORMAL && (!t->have_regs || !t->have_mm || !t->xstate_len || !t->have_vdso))
			return proto_fail("plan", "task", EINVAL, "the plan for task %d is incomplete", t->old_pid);
	}
	return 0;
}

int plan_read(struct plan *p)
{
	return read_lines(p, 0) < 0 ? -1 : plan_complete(p);
}

/* `check` on the dump channel (checkpoint's check of the image it writes): the plan lines that
 * follow, up to `end`, read as a restart reads them, nothing created; `checked`, with the first
 * failure if any (the checkpoint refuses the image with it; the helper goes on). */
int on_dump_check(struct dump_in *in, struct msg_dump_check *m)
{
	(void)in, (void)m;
	static struct plan p; /* one check per checkpoint: what it holds lasts until the helper exits */
	struct proto_failure f;
	proto_capture(&f);
	if (read_lines(&p, 1) == 0 && plan_complete(&p) == 0 && fault_at("plan-check", 0))
		proto_fail("plan", "check", ECANCELED, FAULT_MSG);
	proto_capture(NULL);
	if (!f.failed)
		EMIT_CHECKED();
	else
		EMIT_CHECKED(.phase = f.phase, .object = f.object, .syscall = f.syscall, .err = f.err, .has_err = 1, .msg = f.msg);
	return 0; /* at the end of its input (the coordinator gone), the next read ends the dump */
}
