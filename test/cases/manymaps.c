// build: gcc -O2 -g -Wall -Wextra -o manymaps manymaps.c
/*
 * manymaps.c - a process with many small anonymous mappings of every usual sort (format 1.6
 * packs them: src/image/vma-pack.ts) comes back with the same layout, flags and contents.
 *
 *   manymaps --out FILE
 *
 * In a reserved region (its first page stays PROT_NONE: a mapping made right below the region,
 * such as malloc's of a large block, would otherwise be merged with the first one when both are
 * mapped again fresh, with main's ucr too): 3,200 one-page mappings, each followed by a hole:
 * written read-write, never touched, written then made read-only, PROT_NONE, MAP_NORESERVE written, MADV_DONTFORK
 * written (by index); and a MAP_GROWSDOWN mapping of two pages. After SIGTERM: every written
 * page holds its index and its random word, untouched ones are zeros, and the region's lines of
 * /proc/self/smaps (address, permissions, VmFlags) are what they were before the checkpoint.
 */
#include "case.h"

#include <sys/mman.h>

#define N 3200 /* 2,133 written pages: over 8 MiB of records, so the restart from tmpfs uses both lanes */

static unsigned char *base;
static long pg;

/* The region's mappings as /proc/self/smaps shows them: first line and VmFlags of each. */
static char *layout(void)
{
	static char out[N * 200];
	char line[512];
	size_t at = 0;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return NULL;
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, ' ') && line[strcspn(line, " ") - 1] != ':') {
			in = s >= (unsigned long)base && e <= (unsigned long)(base + (2 * N + 4) * pg);
			if (in) {
				char perms[8] = "";
				sscanf(line, "%*s %7s", perms);
				at += (size_t)snprintf(out + at, sizeof out - at, "%lx-%lx %s\n", s, e, perms);
			}
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			at += (size_t)snprintf(out + at, sizeof out - at, "%s", line);
		}
		if (at >= sizeof out - 256)
			break;
	}
	fclose(f);
	return strdup(out);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_close_fds_except(NULL, 0);
	case_install_sigterm(0);
	pg = sysconf(_SC_PAGESIZE);
	base = mmap(NULL, (size_t)((2 * N + 4) * pg), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	case_seed();
	uint64_t words[N];
	for (long i = 0; i < N; i++) {
		unsigned char *p = base + (2 * i + 1) * pg;
		int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | (i % 6 == 4 ? MAP_NORESERVE : 0);
		if (mmap(p, (size_t)pg, PROT_READ | PROT_WRITE, flags, -1, 0) != p || munmap(p + pg, (size_t)pg))
			case_setup_fail("mmap %ld: %s", i, strerror(errno));
		words[i] = case_rand();
		if (i % 6 != 1 && i % 6 != 3) {
			((uint64_t *)p)[0] = (uint64_t)i;
			((uint64_t *)p)[1] = words[i];
		}
		if ((i % 6 == 2 && mprotect(p, (size_t)pg, PROT_READ)) || (i % 6 == 3 && mprotect(p, (size_t)pg, PROT_NONE)) ||
		    (i % 6 == 5 && madvise(p, (size_t)pg, MADV_DONTFORK)))
			case_setup_fail("mprotect/madvise %ld: %s", i, strerror(errno));
	}
	unsigned char *gd = base + (2 * N + 1) * pg;
	if (mmap(gd + pg, (size_t)(2 * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0) != gd + pg)
		case_setup_fail("mmap growsdown: %s", strerror(errno));
	gd[2 * pg] = 0x5a;
	char *before = layout();
	if (!before)
		case_setup_fail("cannot read /proc/self/smaps");
	case_ready();
	case_wait_term();

	for (long i = 0; i < N && !case_failed; i++) {
		const uint64_t *p = (const uint64_t *)(base + (2 * i + 1) * pg);
		if (i % 6 == 3)
			continue; /* PROT_NONE: its layout line says enough */
		uint64_t want0 = i % 6 == 1 ? 0 : (uint64_t)i, want1 = i % 6 == 1 ? 0 : words[i];
		if (p[0] != want0 || p[1] != want1)
			case_fail("mapping %ld holds %llx %llx", i, (unsigned long long)p[0], (unsigned long long)p[1]);
	}
	if (gd[2 * pg] != 0x5a)
		case_fail("the growsdown mapping lost its byte");
	char *after = layout();
	if (!after || strcmp(before, after)) {
		size_t k = 0;
		while (after && before[k] && before[k] == after[k])
			k++;
		case_fail("the layout differs at byte %zu: before \"%.60s\" after \"%.60s\"", k, before + k, after ? after + k : "?");
	}
	case_finish();
}
