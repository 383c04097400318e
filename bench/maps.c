/*
 * maps.c - benchmark workload: a process with many small mappings.
 *
 *   maps --out FILE --maps N
 *
 * Maps 2N anonymous pages and unmaps every other one: N one-page mappings, each holding its
 * own index (and a random word). On SIGTERM it checks that every mapping is still there with
 * its contents and that the pages between them are still unmapped, and writes PASS or FAIL.
 */
#include "../test/cases/case.h"

#include <sys/mman.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_close_fds_except(NULL, 0);
	const char *m = case_arg(argc, argv, "--maps");
	long n = m ? atol(m) : 0;
	if (n < 1 || n > 30000)
		case_die_usage(argv[0], "--maps 1..30000 (the default vm.max_map_count is 65530)");
	case_install_sigterm(0);
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *base = mmap(NULL, (size_t)(2 * n * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		case_setup_fail("mmap %ld pages: %s", 2 * n, strerror(errno));
	case_seed();
	uint64_t *words = calloc((size_t)n, sizeof *words);
	for (long i = 0; i < n; i++) {
		uint64_t *p = (uint64_t *)(base + 2 * i * pg);
		p[0] = (uint64_t)i;
		p[1] = words[i] = case_rand();
		if (munmap(base + (2 * i + 1) * pg, (size_t)pg) != 0)
			case_setup_fail("munmap: %s", strerror(errno));
	}
	case_ready();
	case_wait_term();
	for (long i = 0; i < n && !case_failed; i++) {
		uint64_t *p = (uint64_t *)(base + 2 * i * pg);
		if (p[0] != (uint64_t)i || p[1] != words[i])
			case_fail("mapping %ld changed", i);
		/* the hole after it: mincore on an unmapped page fails with ENOMEM */
		unsigned char v;
		if (mincore(base + (2 * i + 1) * pg, (size_t)pg, &v) == 0 || errno != ENOMEM)
			case_fail("the hole after mapping %ld is mapped", i);
	}
	case_finish();
}
