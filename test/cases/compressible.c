// build: gcc -O2 -g -Wall -Wextra -o compressible compressible.c
/*
 * compressible.c - page data that compresses well and data that does not, in task memory and in
 * a content object, must come back bit-exact from a compressed (--compress) image.
 *
 *   compressible --out FILE
 *
 * State set up before ready:
 *   - 32 MiB anonymous private mapping: text-like lines numbered by their offset (compresses
 *     well), one random byte per page so no two pages are alike (hashed);
 *   - 8 MiB anonymous private mapping of random data (does not compress: stored raw; hashed);
 *   - a 4 MiB memfd mapped shared, the first half text-like, the second half random (hashed).
 * After SIGTERM: every area's hash is checked.
 */
#include "case.h"

#include <sys/mman.h>

#define TEXT_SIZE (32UL << 20)
#define RAND_SIZE (8UL << 20)
#define MFD_SIZE (4UL << 20)

static void fill_text(unsigned char *p, size_t len)
{
	for (size_t off = 0; off < len; off += 64)
		snprintf((char *)p + off, 64, "line at offset %012zu: the quick brown fox jumps\n", off);
	for (size_t off = 0; off < len; off += 4096)
		p[off + 63] = (unsigned char)case_rand(); /* a random byte per page */
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	case_seed();
	unsigned char *text = mmap(NULL, TEXT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *rnd = mmap(NULL, RAND_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (text == MAP_FAILED || rnd == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	int mfd = memfd_create("compressible", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, MFD_SIZE) < 0)
		case_setup_fail("memfd: %s", strerror(errno));
	unsigned char *shared = mmap(NULL, MFD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (shared == MAP_FAILED)
		case_setup_fail("mmap memfd: %s", strerror(errno));
	fill_text(text, TEXT_SIZE);
	case_fill(rnd, RAND_SIZE);
	fill_text(shared, MFD_SIZE / 2);
	case_fill(shared + MFD_SIZE / 2, MFD_SIZE / 2);
	uint64_t h_text = case_hash(text, TEXT_SIZE), h_rnd = case_hash(rnd, RAND_SIZE), h_shared = case_hash(shared, MFD_SIZE);
	case_ready();
	case_wait_term();
	if (case_hash(text, TEXT_SIZE) != h_text)
		case_fail("the 32 MiB text-like mapping changed");
	if (case_hash(rnd, RAND_SIZE) != h_rnd)
		case_fail("the 8 MiB random mapping changed");
	if (case_hash(shared, MFD_SIZE) != h_shared)
		case_fail("the 4 MiB memfd mapping changed");
	case_finish();
}
