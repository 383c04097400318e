/* Copy-on-write sharing through fork at restart (src/kernel/cow.ts plans it).
 *
 * A page a child shared with its parent at checkpoint (same frame since the fork) must be one
 * page again. Only fork makes a private anonymous page shared, so the parent must hold its
 * memory before it creates the child. At restart a task is created by its parent while both
 * still run the helper's code (restore_child.c), long before their address spaces are rebuilt
 * (restore_map.c), so the shared memory goes through a *staging window*: an address range the
 * helper reserves, free in itself and in every task's image.
 *
 *   plan     `area` lines: mappings a task maps in the window (at window + offset, private
 *            anonymous or a private mapping of the file its mapping maps, read-write) before it
 *            creates its children; `srun` lines: the task's
 *            page runs that go there (the image carries them first, in creation order);
 *            `move` lines: window ranges that become the task's mappings; `zap` lines: pages of
 *            those the task does not have.
 *   create   right after a task is cloned it maps its areas (OP_STAGE) and the helper reads
 *            its staged page records into them (process_vm_writev at the window address);
 *            a child cloned after that inherits the window by fork: its pages are the
 *            parent's, shared copy-on-write. A child's own staged records (pages it wrote
 *            after the fork, which its own children share) are written into the inherited
 *            window range: that write copies the page for the child alone, as at the fork.
 *   map      every task keeps its window ranges (`move`) when it unmaps the helper's memory,
 *            mremap()s them to their addresses (the pages, shared ones included, move with
 *            the mapping), MADV_DONTNEED's the pages it did not have (`zap`), and maps the
 *            rest as before. A moved mapping gets no userfaultfd: its own remaining pages are
 *            written with process_vm_writev, which copies a shared page first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arch.h"
#include "batch.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct plan plan;
extern struct restore_ctx ctx;


/* area <off> <len> <flags> | move <off> <dst> <len> | zap <start> <len> (a task's section) */

/* The staging window: free in every task's image and in the helper, reserved (PROT_NONE, no
 * memory) before any task or worker exists, so nothing else lands there; staged runs get
 * their addresses in it. */
int cow_window(void)
{
	if (!plan.window_len)
		return 0;
	uint64_t len = plan.window_len + PAGE_SZ, step = 1ULL << 30; /* a guard page at the end */
	for (uint64_t g = 1ULL << 32; (g = plan_range_free(&plan, NULL, g, step, len, 0)) != 0; g += step) {
		void *m = mmap((void *)g, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED)
			continue;
		if ((uint64_t)m != g) {
			munmap(m, len);
			continue;
		}
		plan.window = g;
		for (size_t r = 0; r < plan.nruns; r++)
			if (plan.runs[r].stage)
				plan.runs[r].stage = g + plan.runs[r].stage - 1;
		return 0;
	}
	return proto_fail("create", "staging window", ENOMEM, "no free address range of %llu bytes for the memory tasks share",
			  (unsigned long long)len);
}

/* In the new task (restore_child.c): its areas, over the reservation it inherited. */
int cow_map_areas(const struct plan *p, const struct task_plan *t)
{
	for (int i = 0; i < t->nareas; i++) {
		const struct cow_area *a = &t->areas[i];
		void *want = (void *)(uintptr_t)(p->window + a->off);
		const struct vma_plan *v = a->vi >= 0 ? &t->vmas[a->vi] : NULL; /* a private file mapping */
		if (v && v->fd < 0)
			return errno = EBADF, -1;
		void *m = mmap(want, a->len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | (v ? 0 : MAP_ANONYMOUS) | MAP_FIXED | (a->flags & MAP_NORESERVE), v ? v->fd : -1,
			       v ? (off_t)v->pgoff : 0);
		if (m != want)
			return -1;
	}
	return 0;
}

/* In the new task, right after it mapped its areas and while the helper writes its staged pages
 * from the first one on: it faults in its own staged pages from the last one back (2 MiB at a
 * time), until it meets the helper's progress (the pages of the stream written so far), so the
 * two CPUs share the page faults of fresh memory. Only pages the image carries are touched:
 * holes stay holes; a page already written is left as it is. */
void cow_populate(const struct plan *pl, volatile uint64_t *progress, int idx)
{
	uint64_t base = 0;
	size_t n = 0;
	while (n < pl->nruns && (pl->runs[n].obj || pl->runs[n].stage))
		base += pl->runs[n++].npages; /* the staged part's end in the stream, in pages */
	for (size_t r = n; r-- > 0;) {
		const struct page_run *run = &pl->runs[r];
		base -= run->npages; /* this run's first page in the stream */
		if (!run->stage || run->task != (uint32_t)idx)
			continue;
		for (uint64_t end = run->npages; end > 0;) {
			uint64_t start = end > 512 ? end - 512 : 0;
			if (base + end <= *progress)
				return; /* the helper has written everything from here back */
			madvise((void *)(uintptr_t)(run->stage + start * PAGE_SZ), (end - start) * PAGE_SZ, MADV_POPULATE_WRITE);
			end = start;
		}
	}
}

/* Right after task idx was created (and mapped its areas): its staged page records, which come
 * next in the stream (the image has them in creation order). */
static size_t staged_next; /* index into plan.runs */
int cow_read_staged(int idx)
{
	if (!plan.nstaged)
		return 0;
	if (!staged_next)
		while (staged_next < plan.nruns && plan.runs[staged_next].obj)
			staged_next++;
	size_t end = staged_next;
	while (end < plan.nruns && plan.runs[end].stage && plan.runs[end].task == (uint32_t)idx)
		end++;
	if (end == staged_next)
		return 0;
	if (read_pages_upto(end) < 0)
		return -1;
	plan.tasks[idx].staged_left -= (int)(end - staged_next);
	staged_next = end;
	return 0;
}

/* Before a creator creates a child: its own staged pages must be in (else the image's order
 * does not fit this restart's creation order). */
int cow_ready(int creator)
{
	if (creator < 0 || !plan.tasks[creator].staged_left)
		return 0;
	return proto_fail("create", "staged pages", EPROTO,
			  "the pages task %d shares with its children do not come in the order the tree is created",
			  plan.tasks[creator].old_pid);
}

/* Once the tree is built: every staged record was read (before the map steps move the window). */
int cow_all_read(void)
{
	for (int i = 0; i < plan.ntasks; i++)
		if (cow_ready(i) < 0)
			return -1;
	return 0;
}

static int cmp_u64pair(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Runs a full batch of the map step's calls; any failure is reported. */
static int cow_flush(struct batch *b, const char *what)
{
	if (batch_run(b, &rt) < 0)
		return proto_fail("memory", what, errno, "cannot drive the task through %s", what);
	int bad = batch_failed(b);
	if (bad >= 0)
		return proto_fail("memory", what, bad < b->done ? (int)-(long)b->calls[bad].ret : EPROTO, "%s failed in the task", what);
	batch_init(b, 0);
	return 0;
}

/* The map step's unmap of everything but the gadget and the task's window ranges (moves):
 * munmap calls for the gaps between them, added to b (full batches run); *kept: how many mappings remain besides
 * the gadget's two (adjacent window ranges are one mapping). */
int cow_unmap_rest(const struct task_plan *t, uint64_t gadget, struct batch *b, int *kept)
{
	uint64_t (*keep)[2] = malloc(((size_t)t->nmoves + 1) * sizeof *keep);
	if (!keep)
		return proto_fail("memory", "munmap", ENOMEM, "no memory");
	int n = 0;
	keep[n][0] = gadget, keep[n][1] = gadget + GADGET_SIZE, n++;
	for (int i = 0; i < t->nmoves; i++, n++)
		keep[n][0] = plan.window + t->moves[i].a, keep[n][1] = keep[n][0] + t->moves[i].len;
	qsort(keep, (size_t)n, sizeof *keep, cmp_u64pair);
	uint64_t at = 0;
	*kept = 0;
	for (int i = 0; i < n; i++) {
		if (keep[i][0] < at) {
			free(keep);
			return proto_fail("memory", "move", EINVAL, "window ranges overlap");
		}
		if (!batch_room(b, 0, 3) && cow_flush(b, "munmap") < 0) {
			free(keep);
			return -1;
		}
		if (keep[i][0] > at)
			batch_add(b, SYS_munmap, at, keep[i][0] - at, 0, 0, 0, 0, 0, 0);
		/* window ranges never touch the gadget (the window has a guard page at each end) */
		if (keep[i][0] != gadget && !(i > 0 && keep[i - 1][0] != gadget && keep[i - 1][1] == keep[i][0]))
			(*kept)++;
		at = keep[i][1];
	}
	batch_add(b, SYS_munmap, at, TASK_END - at, 0, 0, 0, 0, 0, 0);
	free(keep);
	return 0;
}

/* A move's tag is COW_TAG + its index, a drop's COW_TAG + ZAP + its index (restore.h). */
#define ZAP (1 << 20)

/* After a batch of the map step ran: a move or drop among its entries that failed, or a move
 * that landed elsewhere, is reported (bad: batch_failed's answer). */
int cow_check(const struct task_plan *t, const struct batch *b, int bad)
{
	if (bad >= 0 && (b->tags[bad] & COW_TAG)) {
		int tag = b->tags[bad] & ~COW_TAG, zap = tag >= ZAP;
		return proto_fail("memory", zap ? "madvise" : "mremap", bad < b->done ? (int)-(long)b->calls[bad].ret : EPROTO,
				  zap ? "cannot drop pages the task did not share" : "cannot move shared memory to 0x%llx",
				  (unsigned long long)(zap ? 0 : t->moves[tag].b));
	}
	for (int k = 0; k < b->done; k++) {
		int tag = b->tags[k] & ~COW_TAG;
		if ((b->tags[k] & COW_TAG) && tag < ZAP && (uint64_t)b->calls[k].ret != t->moves[tag].b)
			return proto_fail("memory", "mremap", EFAULT, "shared memory moved elsewhere");
	}
	return 0;
}

/* The window ranges to their addresses, then the pages the task lacks dropped: added to b,
 * where the mappings follow (restore_map.c), so all go in one stop when they fit one batch;
 * run(t, b) runs a full one. */
int cow_moves(struct task_plan *t, struct batch *b, int (*run)(struct task_plan *, struct batch *))
{
	for (int i = 0; i < t->nmoves + t->nzaps; i++) {
		if (!batch_room(b, 0, 1) && run(t, b) < 0)
			return -1;
		if (i >= t->nmoves) {
			int z = i - t->nmoves;
			batch_add(b, SYS_madvise, t->zaps[z].a, t->zaps[z].len, MADV_DONTNEED, 0, 0, 0, 0, COW_TAG | (ZAP + z));
		} else {
			batch_add(b, SYS_mremap, plan.window + t->moves[i].a, t->moves[i].len, t->moves[i].len,
				  MREMAP_MAYMOVE | MREMAP_FIXED, t->moves[i].b, 0, 0, COW_TAG | i);
		}
	}
	return 0;
}
