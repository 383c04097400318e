// build: gcc -O2 -g -Wall -Wextra -o holes holes.c
/*
 * holes.c - a mapping with thousands of separate runs of pages keeps them all.
 *
 *   holes --out FILE
 *
 * Maps 64 MiB of private anonymous memory (no huge pages) and writes random data into every
 * other page (8,192 runs of one page: more than a page scan answers in one call, so the
 * checkpoint's scan goes on where the kernel says it stopped), then reads one page in 16 of
 * the untouched ones (the shared zero page). After SIGTERM: the mapping's Rss is what it was
 * (no hole filled), every written page hashes the same, every other page reads as zeros.
 */
#include "case.h"

#include <sys/mman.h>

#define MAPPED (64UL << 20)
#define PAGE 4096UL
#define NPAGES (MAPPED / PAGE)

static uint64_t hash[NPAGES / 2];

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	unsigned char *base = case_map_small_pages(MAPPED, MAP_NORESERVE);
	case_seed();
	for (size_t i = 0; i < NPAGES; i += 2) {
		case_fill(base + i * PAGE, PAGE);
		hash[i / 2] = case_hash(base + i * PAGE, PAGE);
	}
	for (size_t i = 1; i < NPAGES; i += 32)
		(void)*(volatile uint64_t *)(base + i * PAGE); /* the zero page, not saved */
	long before = case_rss_kib(base);
	if (before < (long)(NPAGES / 2 * PAGE / 1024))
		case_setup_fail("unexpected Rss %ld KiB before the checkpoint", before);
	case_ready();
	case_wait_term();
	long after = case_rss_kib(base);
	if (after > before)
		case_fail("the mapping's Rss is %ld KiB after the restart, %ld KiB before: holes were filled", after, before);
	for (size_t i = 0; i < NPAGES && !case_failed; i += 2)
		if (case_hash(base + i * PAGE, PAGE) != hash[i / 2])
			case_fail("page %zu changed", i);
	for (size_t i = 1; i < NPAGES && !case_failed; i += 2)
		for (size_t w = 0; w < PAGE; w += 8)
			if (*(volatile uint64_t *)(base + i * PAGE + w)) {
				case_fail("untouched page %zu is not zero", i);
				break;
			}
	case_finish();
}
