/* The pages of a task that hold contents to save, from /proc/PID/pagemap (image.h:
 * pagemap_open, pagemap_runs; split from pages.c). */
#define _GNU_SOURCE
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault.h"
#include "ucr_compat.h"

/* The shared zero page's frame number, read from our own pagemap (root sees PFNs). */
static uint64_t zero_pfn(void)
{
	static uint64_t pfn = (uint64_t)-1;
	static int done;
	if (done)
		return pfn;
	done = 1;
	volatile char *p = mmap(NULL, PAGE_SZ, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return pfn;
	(void)p[0];
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;
	if (fd >= 0 && pread(fd, &e, 8, (off_t)((uintptr_t)p / PAGE_SZ * 8)) == 8 && (e & PM_PRESENT) &&
	    (e & PM_PFN_MASK))
		pfn = e & PM_PFN_MASK;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, PAGE_SZ);
	return pfn;
}

int pagemap_open(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
	return open(path, O_RDONLY);
}

int pagemap_runs(int fd, uint64_t start, uint64_t end, const struct pm_window *w,
		 void (*emit)(void *ctx, uint64_t addr, uint64_t npages), void *ctx,
		 void (*guard)(void *ctx, uint64_t addr, uint64_t npages), void *gctx)
{
	/* the zero page is one for the whole system: looked up once (it maps and faults a page) */
	static uint64_t zpfn;
	static int zpfn_known;
	if (!zpfn_known) {
		zpfn = zero_pfn();
		zpfn_known = 1;
	}
	enum { BATCH = 8192 };
	static uint64_t ent[BATCH];
	uint64_t run_start = 0, run_len = 0, g_start = 0, g_len = 0;
	for (uint64_t a = start; a < end;) {
		uint64_t n = (end - a) / PAGE_SZ;
		if (n > BATCH)
			n = BATCH;
		const uint64_t *from = ent;
		if (w && a >= w->base && (a - w->base) / PAGE_SZ + n <= w->n) {
			from = w->ent + (a - w->base) / PAGE_SZ; /* read already with its neighbours */
		} else {
			ssize_t got = pread(fd, ent, n * 8, (off_t)(a / PAGE_SZ * 8));
			if (got <= 0) {
				if (!got)
					errno = EIO;
				return -1;
			}
			n = (uint64_t)got / 8;
		}
		for (uint64_t i = 0; i < n; i++, a += PAGE_SZ) {
			uint64_t e = from[i];
			/* a guard region's marker reads as a swap entry: it is no page, and reading it fails */
			int is_guard = (e & PM_GUARD_REGION) && !(e & PM_PRESENT);
			if (is_guard && guard) {
				if (!g_len++)
					g_start = a;
			} else if (g_len) {
				guard(gctx, g_start, g_len);
				g_len = 0;
			}
			int want = !is_guard && (e & (PM_PRESENT | PM_SWAPPED)) && !(e & PM_FILE_OR_SHARED_ANON);
			if (want && (e & PM_PRESENT) && zpfn != (uint64_t)-1 && (e & PM_PFN_MASK) == zpfn)
				want = 0;
			if (want) {
				if (run_len == 0)
					run_start = a;
				run_len++;
			} else if (run_len) {
				emit(ctx, run_start, run_len);
				run_len = 0;
			}
		}
	}
	if (run_len)
		emit(ctx, run_start, run_len);
	if (g_len)
		guard(gctx, g_start, g_len);
	return 0;
}

/* Mappings whose gap is at most this many pages share one scan (the walk of an unmapped hole is
 * cheap; a mapping between them that was not asked for is walked and its pages left out). */
#define SCAN_GAP 64

static int scan_unsupported = -1; /* unknown until the first scan */

/* A run being gathered: pieces of one mapping that meet (a scan that stopped with its vec full
 * goes on with a new region) are one run, as pagemap_runs gives it. */
struct pend {
	uint64_t s, e;
	size_t k; /* the mapping */
	void (*emit)(void *ctx, uint64_t addr, uint64_t npages);
	void *ctx;
};

static void pend_add(struct pend *p, size_t k, uint64_t s, uint64_t e)
{
	if (p->e > p->s && p->k == k && p->e == s) {
		p->e = e;
		return;
	}
	if (p->e > p->s)
		p->emit(p->ctx, p->s, (p->e - p->s) / PAGE_SZ);
	*p = (struct pend){ s, e, k, p->emit, p->ctx };
}

static void pend_flush(struct pend *p)
{
	if (p->e > p->s)
		p->emit(p->ctx, p->s, (p->e - p->s) / PAGE_SZ);
	p->s = p->e = 0;
}

/* The regions of [start, end) that hold contents (present or swapped, anonymous, not the zero
 * page) or are guard regions, clipped to the mappings ranges[0, count) (pairs, ascending) and
 * emitted per mapping, as pagemap_runs does for each. */
static int scan_hull(int fd, uint64_t start, uint64_t end, const uint64_t *ranges, size_t count, struct pend *pages,
		     struct pend *guards)
{
	enum { VEC = 1024 };
	static struct page_region vec[VEC];
	size_t r = 0;          /* the first mapping that may still overlap a region */
	uint64_t done = start; /* regions below it are taken */
	for (uint64_t at = start; at < end;) {
		struct pm_scan_arg a = {
			.size = sizeof a,
			.start = at,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = VEC,
			/* neither file-backed (or shared anonymous) nor the zero page ... */
			.category_inverted = PAGE_IS_FILE | PAGE_IS_PFNZERO,
			.category_mask = PAGE_IS_FILE | PAGE_IS_PFNZERO,
			/* ... and present or swapped (a guard marker reads as swapped) */
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_GUARD,
		};
		int n = ioctl(fd, PAGEMAP_SCAN, &a);
		if (n < 0) {
			if (scan_unsupported < 0 && (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP)) {
				scan_unsupported = 1;
				return 1;
			}
			return -1;
		}
		scan_unsupported = 0;
		for (int i = 0; i < n; i++) {
			/* a scan that filled vec may say it ended before its last regions (6.18 does, at
			 * a page table's end): the next one gives them again, and only what is new counts */
			uint64_t from = vec[i].start > done ? vec[i].start : done;
			if (from >= vec[i].end)
				continue;
			done = vec[i].end;
			struct pend *p = (vec[i].categories & PAGE_IS_GUARD) ? guards : pages;
			for (size_t k = r; k < count && ranges[k] < vec[i].end; k += 2) {
				uint64_t s = ranges[k] > from ? ranges[k] : from;
				uint64_t e = ranges[k + 1] < vec[i].end ? ranges[k + 1] : vec[i].end;
				if (s < e && p->emit)
					pend_add(p, k, s, e);
				if (ranges[k + 1] <= vec[i].end)
					r = k + 2; /* ends within this region: no later region reaches it */
			}
		}
		if (a.walk_end <= at || a.walk_end > end) {
			errno = EIO;
			return -1;
		}
		at = a.walk_end;
	}
	return 0;
}

int pagemap_scan_runs(int fd, const uint64_t *ranges, size_t count,
		      void (*emit)(void *ctx, uint64_t addr, uint64_t npages), void *ctx,
		      void (*guard)(void *ctx, uint64_t addr, uint64_t npages), void *gctx)
{
	if (scan_unsupported < 0 && fault_at("no-pagemap-scan", 0))
		scan_unsupported = 1; /* as on a kernel without the ioctl (tests) */
	if (scan_unsupported == 1)
		return 1;
	struct pend pages = { .emit = emit, .ctx = ctx }, guards = { .emit = guard, .ctx = gctx };
	for (size_t i = 0; i < count;) {
		size_t k = i + 2; /* the mappings [i, k) in one scan */
		while (k < count && ranges[k] >= ranges[k - 1] && ranges[k] - ranges[k - 1] <= SCAN_GAP * PAGE_SZ)
			k += 2;
		int rc = scan_hull(fd, ranges[i], ranges[k - 1], ranges + i, k - i, &pages, &guards);
		if (rc)
			return rc;
		/* mapping indexes are the hull's: none of its runs meets the next hull's */
		pend_flush(&pages);
		pend_flush(&guards);
		i = k;
	}
	return 0;
}
