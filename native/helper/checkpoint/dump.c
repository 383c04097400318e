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
#include "proto.h"
#include "proto_gen.h"
#include "tracee.h"

#include "dump.h"

struct tracee task; /* the task being worked on (a copy of cur->t) */
struct dtask *cur;

static int select_task(uint64_t pid)
{
	if (!(cur = find_task((pid_t)pid)))
		return proto_fail("command", "task", ESRCH, "process %llu is not frozen", (unsigned long long)pid);
	task = cur->t;
	return 0;
}

/* Finds a `syscall` instruction (0f 05) in the task's [vdso] to bootstrap injection. */
static uint64_t find_vdso_syscall(pid_t pid)
{
	uint64_t start, end;
	if (find_special_vma(pid, "[vdso]", &start, &end) < 0 || end - start > 65536)
		return 0;
	unsigned char buf[65536];
	if (t_read_mem(pid, start, buf, end - start) < 0)
		return 0;
	for (uint64_t i = 0; i + 1 < end - start; i++)
		if (buf[i] == 0x0f && buf[i + 1] == 0x05)
			return start + i;
	return 0;
}

/* Maps a gadget in the task through its vdso `syscall`; signals stay blocked meanwhile. */
int gadget_map(void)
{
	uint64_t insn = find_vdso_syscall(task.pid);
	if (!insn)
		return proto_fail("inject", "vdso", ENOENT, "no syscall instruction found in [vdso]");
	uint64_t all = ~0ULL;
	if (ptrace(PTRACE_SETSIGMASK, task.pid, (void *)8, &all) < 0)
		return proto_fail("inject", "sigmask", errno, "cannot block signals");
	const uint64_t a[6] = { 0, GADGET_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
				MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };
	long ret;
	if (t_inject_via_syscall_stops(&task, insn, SYS_mmap, a, &ret) < 0)
		return proto_fail_sys("mmap", "inject", "gadget", errno, "cannot inject mmap");
	/* mlockall(MCL_FUTURE) locks the gadget too: a task that locked more than its
	 * RLIMIT_MEMLOCK while privileged (then dropped privilege) may map nothing more. The
	 * limit is lifted for this one mmap and put back at once. */
	struct rlimit64 lim, none = { RLIM64_INFINITY, RLIM64_INFINITY };
	if (ret == -EAGAIN && prlimit64(task.pid, RLIMIT_MEMLOCK, NULL, &lim) == 0 &&
	    prlimit64(task.pid, RLIMIT_MEMLOCK, &none, NULL) == 0) {
		int r = t_inject_via_syscall_stops(&task, insn, SYS_mmap, a, &ret), e = errno;
		if (prlimit64(task.pid, RLIMIT_MEMLOCK, &lim, NULL) < 0)
			return proto_fail_sys("prlimit64", "inject", "gadget", errno, "cannot put RLIMIT_MEMLOCK back");
		if (r < 0)
			return proto_fail_sys("mmap", "inject", "gadget", e, "cannot inject mmap");
	}
	if (ret < 0 && ret > -4096)
		return proto_fail_sys("mmap", "inject", "gadget", (int)-ret, "mmap in the task failed");
	task.gadget = (uint64_t)ret;
	task.scratch = task.gadget + GADGET_CODE_SIZE;
	task.scratch_len = GADGET_SIZE - GADGET_CODE_SIZE;
	static const unsigned char code[] = { 0x0f, 0x05, 0xcc };
	size_t blen;
	const unsigned char *bcode = batch_code(&blen);
	if (t_write_mem(task.pid, task.gadget, code, sizeof code) < 0 ||
	    t_write_mem(task.pid, task.gadget + BATCH_CODE_OFF, bcode, blen) < 0)
		return proto_fail("inject", "gadget", errno, "cannot write the gadget");
	if (fault_at("inject", task.pid))
		return proto_fail("inject", "gadget", ECANCELED, FAULT_MSG);
	return 0;
}

void gadget_unmap(void)
{
	if (!task.gadget)
		return;
	long ret;
	const uint64_t a[6] = { task.gadget, GADGET_SIZE, 0, 0, 0, 0 };
	t_inject_via_syscall_stops(&task, task.gadget, SYS_munmap, a, &ret);
	task.gadget = 0;
}

int inject_ok(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, long *ret,
		     const char *what)
{
	if (t_inject(&task, nr, a1, a2, a3, a4, 0, 0, ret) < 0)
		return proto_fail("inject", what, errno, "cannot run %s in the task", what);
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

/* `runs <pid> <start,end,start,end...>`: the page runs of those mappings (in the order given,
 * ascending), one answer for all of them (a task's mappings go in few commands, not one round
 * trip and one pagemap open each). */
int on_dump_runs(struct dump_in *in, struct msg_dump_runs *m)
{
	(void)in;
	if (m->ranges_count % 2)
		return proto_fail("runs", "command", EINVAL, "bad runs command");
	if (select_task(m->pid) < 0)
		return -1;
	struct runs_out o = { 0 };
	runs_emit(&o, 0, 0); /* allocate */
	o.len = 0;
	o.count = 0;
	int fd = pagemap_open(task.pid);
	for (size_t i = 0; i < m->ranges_count; i += 2) {
		uint64_t start = m->ranges[i], end = m->ranges[i + 1];
		if (start >= end) {
			if (fd >= 0)
				close(fd);
			free(o.buf);
			return proto_fail("runs", "command", EINVAL, "bad runs command");
		}
		if (fd < 0 || pagemap_runs(fd, start, end, runs_emit, &o) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			free(o.buf);
			return proto_fail_sys("read", "runs", "pagemap", e, "cannot read /proc/%d/pagemap", task.pid);
		}
	}
	close(fd);
	char *runs = proto_json_array(o.buf, o.len);
	free(o.buf);
	if (!runs)
		return proto_fail("runs", "memory", ENOMEM, "out of memory");
	EMIT_RUNS(.pid = (uint64_t)task.pid, .start = m->ranges[0], .runs = runs);
	free(runs);
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
	uint32_t digest = m->seed < 0 ? pages_chain : (uint32_t)m->seed;
	uint64_t bytes = 0, records = 0;
	pages_stored = 0;
	int rc = pages_dump(task.pid, (uint32_t)m->task, r.runs, r.count, 3, &digest, &bytes, &records);
	free(r.runs);
	if (rc < 0)
		return -1;
	if (fault_at("dump-pages", task.pid))
		return proto_fail("dump-pages", "image", ECANCELED, FAULT_MSG);
	pages_chain = digest;
	pages_chained = 1;
	EMIT_PAGES(.bytes = bytes, .stored = pages_stored, .records = records, .digest = digest);
	return 0;
}

int on_dump_freeze(struct dump_in *in, struct msg_dump_freeze *m)
{
	(void)in;
	return freeze((pid_t)m->pid);
}

int on_dump_state(struct dump_in *in, struct msg_dump_state *m)
{
	(void)in;
	return select_task(m->pid) < 0 ? -1 : cmd_state(m->timers, m->timers_count);
}

/* checkpoint --compress */
int on_dump_compress(struct dump_in *in, struct msg_dump_compress *m)
{
	(void)in, (void)m;
	pages_lz4 = 1;
	EMIT_COMPRESS();
	return 0;
}

static int end_dump(struct dump_in *in, int kill_it)
{
	pages_stop();
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

static void coordinator_gone(void)
{
	gadget_unmap();
	release(0);
	if (partial_path)
		unlink(partial_path);
}

int helper_dump(const char *partial)
{
	partial_path = partial;
	struct dump_in in = { 0 };
	char *line, *w[16];
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 16);
		if (n == 0)
			continue;
		task.gadget = 0;
		if (proto_dump_dispatch(&in, w, n) < 0) {
			gadget_unmap();
			release(0);
			return 1;
		}
		if (in.done)
			return 0;
	}
	/* The coordinator went away: leave every task as it was. */
	coordinator_gone();
	return 1;
}
