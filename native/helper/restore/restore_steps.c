/* The restart's steps after the plan (restore.c's restore_all): the page stream into the tasks,
 * objects and segments (the page sink; the part read while the tree is built, restore_cow.c),
 * and the restore channel's handlers (protocol/schema.mjs) through which the coordinator drives
 * them: map and finish of a task (by its tracer), pages, eof, commit, resume. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include "fault.h"
#include "kind.h"
#include "proto.h"
#include "proto_gen.h"
#include "restore.h"

extern struct plan plan;
extern struct restore_ctx ctx;

static int no_object(uint32_t id)
{
	(void)id;
	return 0;
}

/* Where the page records go: content objects and System V segments to their kinds (every
 * other field is the caller's). */
struct page_sink restore_kinds_sink(uint64_t *shmbytes)
{
	const struct kind_ops *obj = KIND_WITH(ctx.kinds, obj_fill), *shm = KIND_WITH(ctx.kinds, shm_record);
	return (struct page_sink){ .ntasks = (size_t)plan.ntasks, .objknown = obj ? obj->obj_known : no_object,
				   .objfill = obj ? obj->obj_fill : NULL, .lz4 = plan.lz4,
				   .shm = shm ? shm->shm_record : NULL, .shm_bytes = shmbytes };
}

/* The page stream as far as it was read while the tree was built (restore_cow.c), and the
 * tasks' pids as the helper sees them (0: not created yet). */
static uint32_t stream_digest;
static uint64_t stream_bytes, stream_records, stream_shmbytes;
static pid_t pids[RESTORE_MAX_TASKS];

/* The page sink of a restart: tasks' pages to the tasks (pids), objects and segments to their kinds. */
static struct page_sink restart_sink(pid_t *task_pids, uint64_t *shmbytes)
{
	struct page_sink sink = restore_kinds_sink(shmbytes);
	sink.pids = task_pids;
	sink.skips = plan.skips;
	sink.nskips = (size_t)plan.nskips;
	sink.progress = ctx.progress;
	sink.fill = uffd_fill;
	sink.fillv = uffd_fillv;
	return sink;
}

int read_pages_upto(size_t upto)
{
	for (int i = 0; i < plan.ntasks; i++)
		pids[i] = plan.tasks[i].pid;
	struct page_sink sink = restart_sink(pids, &stream_shmbytes);
	return pages_restore_upto(3, plan.runs, plan.nruns, upto, &sink, &stream_digest, &stream_bytes, &stream_records);
}

/* The steps after the plan (restore_all): the handlers of the restore channel (protocol/schema.mjs). */
struct restore_in {
	pid_t *pids; /* every task's pid as the helper sees it */
	int committed, resume;
};

static int task_step(struct restore_in *in, uint64_t idx, int what)
{
	if (idx >= (uint64_t)plan.ntasks || plan.tasks[idx].kind != TASK_NORMAL || (what == W_FINISH && !in->committed))
		return proto_fail("command", what == W_FINISH ? "finish" : "map", EINVAL, "bad task step");
	return tracer_send((int)idx, what);
}

int on_restore_map(struct restore_in *in, struct msg_restore_map *m)
{
	return task_step(in, m->task, W_MAP);
}

int on_restore_finish(struct restore_in *in, struct msg_restore_finish *m)
{
	return task_step(in, m->task, W_FINISH);
}

int on_restore_pages(struct restore_in *in, struct msg_restore_pages *m)
{
	(void)m;
	uint32_t digest = stream_digest; /* the stream as far as it was read while the tree was built */
	uint64_t bytes = stream_bytes, records = stream_records;
	char *trailer = NULL;
	struct page_sink sink = restart_sink(in->pids, &stream_shmbytes);
	/* tasks filled with process_vm_writev fault in their own pages from the end
	 * meanwhile (restore_populate); those with a userfaultfd are filled with
	 * UFFDIO_COPY, which needs no faulting in (restore_uffd.c) */
	for (int i = 0; i < plan.ntasks; i++)
		if (plan.tasks[i].kind == TASK_NORMAL && tracer_send(i, W_POPULATE) < 0)
			return -1;
	uffd_take_all();
	int pr = pages_restore(3, plan.runs, plan.nruns, &sink, &digest, &bytes, &records, &trailer);
	uffd_drop_all();
	if (pr < 0 || KINDS_RUN(ctx.kinds, loaded, &ctx) < 0)
		return -1;
	if (fault_at("restore-pages", 0))
		return proto_fail("restore-pages", "image", ECANCELED, FAULT_MSG);
	EMIT_LOADED(.bytes = bytes, .shmbytes = stream_shmbytes, .records = records, .digest = digest, .trailer = trailer);
	return 0;
}

/* after the trailer was checked (and acknowledged): nothing may follow it */
int on_restore_eof(struct restore_in *in, struct msg_restore_eof *m)
{
	(void)in, (void)m;
	if (image_eof(3) < 0)
		return -1;
	EMIT_EOF();
	return 0;
}

int on_restore_commit(struct restore_in *in, struct msg_restore_commit *m)
{
	(void)m;
	in->committed = 1;
	return 0;
}

int on_restore_resume(struct restore_in *in, struct msg_restore_resume *m)
{
	(void)m;
	if (!in->committed)
		return proto_fail("command", "resume", EINVAL, "unknown restart step");
	in->resume = 1;
	return 0;
}

void restore_stream_start(uint32_t seed)
{
	stream_digest = seed;
}

/* The steps, as the coordinator sends them (a bounded number in flight):
 *   map <task>      the task's address space, by its tracer        -> mapped
 *   pages           every page record, then the trailer            -> loaded
 *   eof             nothing follows the trailer (sent with pages)  -> eof
 *   commit          the trailer checked: the commit point
 *   finish <task>   the task's last state, by its tracer           -> finished
 *   resume          every task detached together                   -> running
 * Returns 0 at resume; -1 on a failure or at EOF (the coordinator gave up, and has its reason). */
int restore_steps(void)
{
	for (int i = 0; i < plan.ntasks; i++)
		pids[i] = plan.tasks[i].pid;
	struct restore_in in = { .pids = pids };
	char *line, *w[4];
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 4);
		if (n && proto_restore_dispatch(&in, w, n) < 0)
			return -1;
		if (in.resume)
			return 0;
	}
	return -1;
}
