/* Checkpoint side of the helper: `ucr-helper dump <pid>`, image on fd 3.
 *
 * Freezes every thread of the task (freeze.c: PTRACE_SEIZE + PTRACE_INTERRUPT), answers the
 * coordinator's questions (registers, state that only the task itself can report, page runs),
 * streams page records to the image, then puts everything back and detaches (or kills).
 * If the coordinator goes away (EOF on fd 0), the task is released exactly as it was. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "batch.h"
#include "fault.h"
#include "helper.h"
#include "image.h"
#include "kind.h"
#include "proto.h"
#include "proto_gen.h"
#include "tracee.h"

#include "dump.h"

/* The task the current command works on: a copy of the frozen task's tracee (its gadget lives
 * only for the command), and the frozen task itself. */
static struct tracee task;
static struct dtask *cur;

static int select_task(uint64_t pid)
{
	if (!(cur = find_task((pid_t)pid)))
		return proto_fail("command", "task", ESRCH, "process %llu is not frozen", (unsigned long long)pid);
	task = cur->t;
	return 0;
}

struct runs_out {
	char *buf;
	size_t len, cap;
	int count;
};

static void runs_emit(void *ctx, uint64_t addr, uint64_t npages)
{
	struct runs_out *o = ctx;
	if (o->len + 64 > o->cap) {
		o->cap = o->cap * 2 + 4096;
		o->buf = realloc(o->buf, o->cap);
		if (!o->buf)
			abort();
	}
	o->len += (size_t)snprintf(o->buf + o->len, o->cap - o->len, "%s[%llu,%llu]", o->count ? "," : "",
				   (unsigned long long)addr, (unsigned long long)npages);
	o->count++;
}

/* runs_emit of a page run that is also kept in the task's scan (`scanpages`) */
static void runs_emit_kept(void *ctx, uint64_t addr, uint64_t npages)
{
	runs_emit(ctx, addr, npages);
	if (cur->nscan == cur->scan_cap) {
		cur->scan_cap = cur->scan_cap ? cur->scan_cap * 2 : 16;
		cur->scan = realloc(cur->scan, cur->scan_cap * sizeof *cur->scan);
		if (!cur->scan)
			abort();
	}
	cur->scan[cur->nscan][0] = addr;
	cur->scan[cur->nscan++][1] = npages;
}

#define WINDOW_PAGES 8192 /* 64 KiB of pagemap entries */
#define WINDOW_GAP 64     /* pages between two ranges read along (the walk of an unmapped hole is cheap) */

/* The pagemap entries of the next ranges (start,end pairs, ascending) read at once while they
 * lie close together, not one read per range (10,000 one-page mappings: 10,000 preads); left
 * empty when only the first would be in it (pagemap_runs reads it itself). */
static void load_window(int fd, struct pm_window *w, const uint64_t *r, size_t count)
{
	static uint64_t ent[WINDOW_PAGES];
	uint64_t base = r[0], end = r[1];
	size_t k = 2;
	for (; k + 1 < count && r[k] >= end && r[k + 1] > r[k] && r[k] - end <= WINDOW_GAP * PAGE_SZ &&
	       (r[k + 1] - base) / PAGE_SZ <= WINDOW_PAGES;
	     k += 2)
		end = r[k + 1];
	w->n = 0;
	w->base = 0;
	if (k == 2)
		return;
	ssize_t got = pread(fd, ent, (size_t)((end - base) / PAGE_SZ * 8), (off_t)(base / PAGE_SZ * 8));
	if (got <= 0)
		return; /* pagemap_runs reads (and reports) itself */
	w->ent = ent;
	w->base = base;
	w->n = (uint64_t)got / 8;
}

/* `runs <pid> <hex of start,end pairs>`: the page runs of those mappings (in the order given,
 * ascending), one answer for all of them (a task's mappings go in few commands, not one round
 * trip and one pagemap open each). The pairs as bytes: the coordinator's decimal text of
 * 10,000 addresses cost it ~2.5 ms. */
int on_dump_runs(struct dump_in *in, struct msg_dump_runs *m)
{
	(void)in;
	if (!m->ranges_len || m->ranges_len % 16 || m->ranges_len > 1024 * 16)
		return proto_fail("runs", "command", EINVAL, "bad runs command");
	static uint64_t pairs[1024 * 2];
	memcpy(pairs, m->ranges, m->ranges_len); /* aligned, and little-endian as on x86_64 */
	const uint64_t *ranges = pairs;
	const size_t count = m->ranges_len / 8;
	if (select_task(m->pid) < 0)
		return -1;
	struct runs_out o = { 0 }, g = { 0 }; /* page runs; guard regions (MADV_GUARD_INSTALL) */
	runs_emit(&o, 0, 0); /* allocate */
	runs_emit(&g, 0, 0);
	o.len = g.len = 0;
	o.count = g.count = 0;
	for (size_t i = 0; i < count; i += 2)
		if (ranges[i] >= ranges[i + 1]) {
			free(o.buf);
			free(g.buf);
			return proto_fail("runs", "command", EINVAL, "bad runs command");
		}
	int fd = pagemap_open(task.pid);
	struct pm_window win = { 0 };
	/* the kernel's scan of them all, else (a kernel without it) their pagemap entries read */
	int rc = fd < 0 ? -1 : pagemap_scan_runs(fd, ranges, count, runs_emit_kept, &o, runs_emit, &g);
	for (size_t i = 0; rc > 0 && i < count; i += 2) {
		uint64_t start = ranges[i], end = ranges[i + 1];
		if (start < win.base || (end - win.base) / PAGE_SZ > win.n)
			load_window(fd, &win, ranges + i, count - i);
		if (pagemap_runs(fd, start, end, &win, runs_emit_kept, &o, runs_emit, &g) < 0)
			rc = -1;
	}
	if (rc < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		free(o.buf);
		free(g.buf);
		return proto_fail_sys("read", "runs", "pagemap", e, "cannot read /proc/%d/pagemap", task.pid);
	}
	close(fd);
	char *runs = proto_json_array(o.buf, o.len), *guards = proto_json_array(g.buf, g.len);
	free(o.buf);
	free(g.buf);
	if (!runs || !guards) {
		free(runs);
		free(guards);
		return proto_fail("runs", "memory", ENOMEM, "out of memory");
	}
	EMIT_RUNS(.pid = (uint64_t)task.pid, .start = ranges[0], .runs = runs, .guards = guards);
	free(runs);
	free(guards);
	return 0;
}

/* `run <addr> <npages>` lines until `end` (channel dumprun) */
int on_dumprun_run(struct runs_in *in, struct msg_dumprun_run *m)
{
	if (in->obj && m->addr % PAGE_SZ)
		return proto_fail("command", "run", EINVAL, "bad run line");
	if (in->count == in->cap) {
		struct page_run *r = realloc(in->runs, (in->cap = in->cap * 2 + 256) * sizeof *r);
		if (!r)
			return proto_fail("command", "run", ENOMEM, "out of memory");
		in->runs = r;
	}
	in->runs[in->count++] = (struct page_run){ .task = in->task, .obj = (uint32_t)in->obj, .addr = m->addr, .npages = m->npages };
	return 0;
}

int on_dumprun_end(struct runs_in *in, struct msg_dumprun_end *m)
{
	(void)m;
	in->end = 1;
	return 0;
}

int dump_read_runs(struct runs_in *in)
{
	char *line, *w[4];
	while (!in->end && (line = proto_readline())) {
		int n = proto_split(line, w, 4);
		if (n && proto_dumprun_dispatch(in, w, n) < 0) {
			free(in->runs);
			in->runs = NULL;
			return -1;
		}
	}
	return in->end ? 0 : proto_fail("command", "end", EPIPE, "the runs ended early");
}

/* The digest the last `pages` command ended with: the seed of a `pages` command whose seed is
 * -1 (the coordinator sends every task's pages at once, each chained on the one before). */
static uint32_t pages_chain;
static int pages_chained;

/* The page records of the selected task's runs (its index in the image: index), chained on
 * seed (-1: the last command's digest). */
static int task_pages(uint32_t index, int64_t seed, const struct page_run *runs, size_t n)
{
	uint32_t digest = seed < 0 ? pages_chain : (uint32_t)seed;
	uint64_t bytes = 0, records = 0;
	pages_stored_since(1);
	if (pages_dump(task.pid, index, runs, n, 3, &digest, &bytes, &records) < 0)
		return -1;
	if (fault_at("dump-pages", task.pid))
		return proto_fail("dump-pages", "image", ECANCELED, FAULT_MSG);
	pages_chain = digest;
	pages_chained = 1;
	EMIT_PAGES(.bytes = bytes, .stored = pages_stored_since(0), .records = records, .digest = digest);
	return 0;
}

/* `pages <pid> <task index> <digest seed|-1>` then `run <addr> <npages>` lines, then `end`. */
int on_dump_pages(struct dump_in *in, struct msg_dump_pages *m)
{
	(void)in;
	if (m->seed < 0 && !pages_chained)
		return proto_fail("dump-pages", "command", EINVAL, "no pages command to chain on");
	if (select_task(m->pid) < 0)
		return -1;
	struct runs_in r = { .task = (uint32_t)m->task };
	if (dump_read_runs(&r) < 0)
		return -1;
	int rc = task_pages((uint32_t)m->task, m->seed, r.runs, r.count);
	free(r.runs);
	return rc;
}

/* `scanpages <pid> <task index> <digest seed|-1> <count>`: as `pages` with the runs the task's
 * `runs` commands found (the coordinator collected count of them: runs_emit_kept). */
int on_dump_scanpages(struct dump_in *in, struct msg_dump_scanpages *m)
{
	(void)in;
	if (m->seed < 0 && !pages_chained)
		return proto_fail("dump-pages", "command", EINVAL, "no pages command to chain on");
	if (select_task(m->pid) < 0)
		return -1;
	if (m->runs != cur->nscan)
		return proto_fail("dump-pages", "command", EINVAL, "%llu page runs asked for, the scans found %zu",
				  (unsigned long long)m->runs, cur->nscan);
	struct page_run *runs = malloc((cur->nscan ? cur->nscan : 1) * sizeof *runs);
	if (!runs)
		return proto_fail("dump-pages", "memory", ENOMEM, "out of memory");
	for (size_t i = 0; i < cur->nscan; i++)
		runs[i] = (struct page_run){ .task = (uint32_t)m->task, .addr = cur->scan[i][0], .npages = cur->scan[i][1] };
	int rc = task_pages((uint32_t)m->task, m->seed, runs, cur->nscan);
	free(runs);
	free(cur->scan);
	cur->scan = NULL;
	cur->nscan = cur->scan_cap = 0;
	return rc;
}

int on_dump_freeze(struct dump_in *in, struct msg_dump_freeze *m)
{
	(void)in;
	return freeze((pid_t)m->pid);
}

int on_dump_state(struct dump_in *in, struct msg_dump_state *m)
{
	(void)in;
	if (select_task(m->pid) < 0)
		return -1;
	cur->nscan = 0; /* its scans start again */
	return cmd_state(&task, cur, (pid_t)m->proc, (size_t)m->fdmin);
}

/* checkpoint --compress */
int on_dump_compress(struct dump_in *in, struct msg_dump_compress *m)
{
	(void)in, (void)m;
	pages_compress(1);
	EMIT_COMPRESS();
	return 0;
}

static int end_dump(struct dump_in *in, int kill_it)
{
	pages_stop();
	KINDS_EACH(in->kinds, dump_end, kill_it);
	release(kill_it);
	if (kill_it)
		EMIT_KILLED();
	else
		EMIT_RELEASED();
	in->done = 1;
	return 0;
}

int on_dump_release(struct dump_in *in, struct msg_dump_release *m)
{
	(void)m;
	return end_dump(in, 0);
}

int on_dump_kill(struct dump_in *in, struct msg_dump_kill *m)
{
	(void)m;
	return end_dump(in, 1);
}

/* The partial image file (checkpoint -o <file>): removed when the coordinator went away
 * without finishing, so a dead ucr leaves no half-written file behind. */
static const char *partial_path;

/* A failed checkpoint: every task as it was; the io process and the output's reserver (if
 * running) ended and reaped before the helper exits, not left to die after it. */
static void abandon(const struct kind_ops *const *kinds)
{
	gadget_unmap(&task, 1);
	KINDS_EACH(kinds, dump_end, 0);
	release(0);
	pages_stop();
}

static void coordinator_gone(const struct kind_ops *const *kinds)
{
	abandon(kinds);
	if (partial_path)
		unlink(partial_path);
}


int helper_dump(const char *partial, const struct kind_ops *const *kinds)
{
	partial_path = partial;
	struct dump_in in = { .kinds = kinds };
	char *line, *w[16];
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 16);
		if (n == 0)
			continue;
		task.gadget = 0;
		if (proto_dump_dispatch(&in, w, n) < 0) {
			abandon(kinds);
			return 1;
		}
		if (in.done)
			return 0;
	}
	/* The coordinator went away: leave every task as it was. */
	coordinator_gone(kinds);
	return 1;
}
