/*
 * mem.c - benchmark workload: a process with a large, dirty, random anonymous memory.
 *
 *   mem --out FILE --mapped MIB --touched MIB [--fill text]
 *
 * Maps MAPPED MiB of private anonymous memory (MAP_NORESERVE) and fills TOUCHED MiB of it with
 * random bytes: all of it when both are equal, otherwise in 1 MiB blocks spread evenly over the
 * mapping (a sparse process: the rest stays never touched). Then writes FILE.ready (case.h
 * protocol) and waits for SIGTERM; it then re-hashes the touched blocks, checks that the
 * untouched ones read as zeros (sampled: one word per page), and writes PASS or FAIL to FILE.
 * --fill text: the touched blocks hold numbered text lines and one random byte per page instead
 * (data that compresses, for checkpoint --compress).
 */
#include "../test/cases/case.h"

#include <sys/mman.h>

#define MIB (1UL << 20)

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_close_fds_except(NULL, 0); /* only the fds it means to have (stray ones are inherited here) */
	const char *m = case_arg(argc, argv, "--mapped"), *t = case_arg(argc, argv, "--touched");
	if (!m || !t)
		case_die_usage(argv[0], "need --mapped MIB --touched MIB");
	size_t mapped = strtoul(m, NULL, 10), touched = strtoul(t, NULL, 10);
	if (!mapped || !touched || touched > mapped)
		case_die_usage(argv[0], "need 0 < touched <= mapped");
	case_install_sigterm(0);
	unsigned char *base = mmap(NULL, mapped * MIB, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		case_setup_fail("mmap %zu MiB: %s", mapped, strerror(errno));
	/* no huge pages: a process like most, 4 KiB pages */
	madvise(base, mapped * MIB, MADV_NOHUGEPAGE);
	size_t stride = mapped / touched; /* in MiB: block i at i * stride */
	uint64_t *hash = calloc(touched, sizeof *hash);
	case_seed();
	const char *fill = case_arg(argc, argv, "--fill");
	int text = fill && !strcmp(fill, "text");
	for (size_t i = 0; i < touched; i++) {
		unsigned char *b = base + i * stride * MIB;
		if (text) {
			for (size_t off = 0; off < MIB; off += 64)
				snprintf((char *)b + off, 64, "line %zu.%012zu: the quick brown fox jumps over\n", i, off);
			for (size_t off = 0; off < MIB; off += 4096)
				b[off + 63] = (unsigned char)case_rand();
		} else
			case_fill(b, MIB);
		hash[i] = case_hash(base + i * stride * MIB, MIB);
	}
	case_ready();
	case_wait_term();
	for (size_t i = 0; i < touched && !case_failed; i++)
		if (case_hash(base + i * stride * MIB, MIB) != hash[i])
			case_fail("block %zu (at +%zu MiB) changed", i, i * stride);
	for (size_t mb = 0; mb < mapped && !case_failed; mb++) {
		if (mb % stride == 0 && mb / stride < touched)
			continue;
		for (size_t p = 0; p < MIB; p += 4096)
			if (*(uint64_t *)(base + mb * MIB + p)) {
				case_fail("untouched memory at +%zu MiB is not zero", mb);
				break;
			}
	}
	case_finish();
}
