// build: gcc -O2 -g -Wall -Wextra -o sparse sparse.c
/*
 * sparse.c - a sparse mapping keeps its holes across checkpoint/restart.
 *
 *   sparse --out FILE
 *
 * Maps 256 MiB of private anonymous memory (MAP_NORESERVE, no huge pages) and writes random
 * data into 64 blocks of 64 KiB, one every 4 MiB (4 MiB in all); the rest is never touched.
 * After SIGTERM, before reading anything else of the mapping: no userfaultfd registration is
 * left on it (the restorer's), and its resident size in
 * /proc/self/smaps must still be about 4 MiB (the holes were not filled in by the restart);
 * then every block must hash the same and the untouched pages read as zeros (sampled, one word
 * per page: reading maps the shared zero page, so this comes after the Rss check).
 */
#include "case.h"

#include <sys/mman.h>

#define MAPPED (256UL << 20)
#define BLOCK (64UL << 10)
#define STRIDE (4UL << 20)
#define NBLOCKS (MAPPED / STRIDE)

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	unsigned char *base = case_map_small_pages(MAPPED, MAP_NORESERVE);
	uint64_t hash[NBLOCKS];
	case_seed();
	for (size_t i = 0; i < NBLOCKS; i++) {
		case_fill(base + i * STRIDE, BLOCK);
		hash[i] = case_hash(base + i * STRIDE, BLOCK);
	}
	long before = case_rss_kib(base);
	if (before < (long)(NBLOCKS * BLOCK / 1024) || before > (long)(NBLOCKS * BLOCK / 1024) + 256)
		case_setup_fail("unexpected Rss %ld KiB before the checkpoint", before);
	case_ready();
	case_wait_term();
	unsigned long uf; /* the restorer fills it through a userfaultfd: must be gone, or a hole faults */
	if (case_no_userfault(&uf) < 0)
		case_fail("mapping at %#lx is still registered with a userfaultfd", uf);
	long after = case_rss_kib(base);
	if (after != before)
		case_fail("the mapping's Rss is %ld KiB after the restart, %ld KiB before: holes were filled", after, before);
	for (size_t i = 0; i < NBLOCKS && !case_failed; i++)
		if (case_hash(base + i * STRIDE, BLOCK) != hash[i])
			case_fail("block %zu changed", i);
	for (size_t off = 0; off < MAPPED && !case_failed; off += 4096)
		if (off % STRIDE >= BLOCK && *(volatile uint64_t *)(base + off))
			case_fail("untouched page at +%zu is not zero", off);
	case_finish();
}
