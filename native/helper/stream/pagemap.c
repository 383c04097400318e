/* The pages of a task that hold contents to save, from /proc/PID/pagemap (image.h:
 * pagemap_open, pagemap_runs; split from pages.c). */
#define _GNU_SOURCE
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

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
