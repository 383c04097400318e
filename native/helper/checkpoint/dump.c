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
#include "tracee.h"

#include "dump.h"

/* The task the current command works on: a copy of the frozen task's tracee (its gadget lives
 * only for the command), and the frozen task itself. */
static struct tracee task;
static struct dtask *cur;

static int select_task(const char *pidtext)
{
	uint64_t pid;
	if (parse_u64(pidtext, &pid) || !(cur = find_task((pid_t)pid)))
		return proto_fail("command", pidtext, ESRCH, "process %s is not frozen", pidtext);
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

/* `runs <pid> <start> <end> [<start> <end>]...`: the page runs of those mappings (in the order
 * given, ascending), one answer for all of them (a task's mappings go in few commands, not one
 * round trip and one pagemap open each). */
static int cmd_runs(char **w, int n)
{
	if (n < 4 || (n - 2) % 2 || select_task(w[1]) < 0)
		return proto_fail("runs", "command", EINVAL, "bad runs command");
	uint64_t first = 0;
	struct runs_out o = { 0 };
	runs_emit(&o, 0, 0); /* allocate */
	o.len = 0;
	o.count = 0;
	int fd = pagemap_open(task.pid);
	for (int i = 2; i < n; i += 2) {
		uint64_t start, end;
		if (parse_u64(w[i], &start) || parse_u64(w[i + 1], &end) || start >= end) {
			if (fd >= 0)
				close(fd);
			free(o.buf);
			return proto_fail("runs", "command", EINVAL, "bad runs command");
		}
		if (i == 2)
			first = start;
		if (fd < 0 || pagemap_runs(fd, start, end, runs_emit, &o) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			free(o.buf);
			return proto_fail("runs", "pagemap", e, "cannot read /proc/%d/pagemap", task.pid);
		}
	}
	close(fd);
	proto_emit("{\"ev\":\"runs\",\"pid\":%d,\"start\":%llu,\"runs\":[%.*s]}", task.pid,
		   (unsigned long long)first, (int)o.len, o.buf);
	free(o.buf);
	return 0;
}

/* The digest the last `pages` command ended with: the seed of a `pages` command whose seed is
 * `-` (the coordinator sends every task's pages at once, each chained on the one before). */
static uint32_t pages_chain;
static int pages_chained;

/* `pages <pid> <task index> <digest seed>|-` then `run <addr> <npages>` lines, then `end`. */
static int cmd_pages(char **w, int n)
{
	uint64_t idx, seed = pages_chain;
	if (n != 4 || select_task(w[1]) < 0 || parse_u64(w[2], &idx) ||
	    (strcmp(w[3], "-") ? parse_u64(w[3], &seed) : !pages_chained))
		return proto_fail("dump-pages", "command", EINVAL, "bad pages command");
	size_t cap = 1024, cnt = 0;
	struct page_run *runs = malloc(cap * sizeof *runs);
	char *line, *a[4];
	while ((line = proto_readline()) && strcmp(line, "end") != 0) {
		uint64_t addr, np;
		if (proto_split(line, a, 4) != 3 || strcmp(a[0], "run") || parse_u64(a[1], &addr) ||
		    parse_u64(a[2], &np)) {
			free(runs);
			return proto_fail("dump-pages", "command", EINVAL, "bad run line");
		}
		if (cnt == cap)
			runs = realloc(runs, (cap *= 2) * sizeof *runs);
		runs[cnt++] = (struct page_run){ .task = (uint32_t)idx, .addr = addr, .npages = np };
	}
	uint32_t digest = (uint32_t)seed;
	uint64_t bytes = 0, records = 0;
	pages_stored_since(1);
	int r = pages_dump(task.pid, (uint32_t)idx, runs, cnt, 3, &digest, &bytes, &records);
	free(runs);
	if (r < 0)
		return -1;
	if (fault_at("dump-pages", task.pid))
		return proto_fail("dump-pages", "image", ECANCELED, FAULT_MSG);
	pages_chain = digest;
	pages_chained = 1;
	proto_emit("{\"ev\":\"pages\",\"bytes\":%llu,\"stored\":%llu,\"records\":%llu,\"digest\":%u}",
		   (unsigned long long)bytes, (unsigned long long)pages_stored_since(0), (unsigned long long)records, digest);
	return 0;
}

/* The partial image file (checkpoint -o <file>): removed when the coordinator went away
 * without finishing, so a dead ucr leaves no half-written file behind. */
static const char *partial_path;

static void coordinator_gone(const struct kind_ops *const *kinds)
{
	gadget_unmap(&task);
	KINDS_EACH(kinds, dump_end, 0);
	release(0);
	if (partial_path)
		unlink(partial_path);
}

/* The command of a kind named w0, or NULL. */
static const struct kind_verb *kind_verb(const struct kind_ops *const *kinds, const char *w0)
{
	for (; *kinds; kinds++)
		for (const struct kind_verb *v = (*kinds)->verbs; v && v->name; v++)
			if (!strcmp(v->name, w0))
				return v;
	return NULL;
}

int helper_dump(const char *partial, const struct kind_ops *const *kinds)
{
	partial_path = partial;
	const struct kind_verb *verb;
	char *line, *w[520];
	int rc = 0;
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 520);
		if (n == 0)
			continue;
		task.gadget = 0;
		if (!strcmp(w[0], "freeze") && n == 2) {
			uint64_t pid;
			rc = parse_u64(w[1], &pid) ? proto_fail("command", "freeze", EINVAL, "bad pid") : freeze((pid_t)pid);
		} else if (!strcmp(w[0], "state") && n >= 2)
			rc = select_task(w[1]) < 0 ? -1 : cmd_state(&task, cur, w + 2, n - 2);
		else if (!strcmp(w[0], "runs"))
			rc = cmd_runs(w, n);
		else if (!strcmp(w[0], "pages"))
			rc = cmd_pages(w, n);
		else if (!strcmp(w[0], "compress") && n == 2 && !strcmp(w[1], "lz4")) { /* checkpoint --compress */
			pages_compress(1);
			proto_emit("{\"ev\":\"compress\"}");
		}
		else if (!strcmp(w[0], "drain"))
			rc = cmd_drain(w, n);
		else if (!strcmp(w[0], "ack"))
			rc = cmd_ack(w, n);
		else if (!strcmp(w[0], "release") || !strcmp(w[0], "kill")) {
			int k = !strcmp(w[0], "kill");
			pages_stop();
			KINDS_EACH(kinds, dump_end, k);
			release(k);
			proto_emit("{\"ev\":\"%s\"}", k ? "killed" : "released");
			return 0;
		} else if ((verb = kind_verb(kinds, w[0])))
			rc = verb->run(w, n);
		else
			rc = proto_fail("command", w[0], EINVAL, "unknown command");
		if (rc < 0) {
			gadget_unmap(&task);
			KINDS_EACH(kinds, dump_end, 0);
			release(0);
			return 1;
		}
	}
	/* The coordinator went away: leave every task as it was. */
	coordinator_gone(kinds);
	return 1;
}
