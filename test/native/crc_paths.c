/* Every CRC-32C path this CPU can run (native/common/crc32c.c, built with UCR_CRC32C_TEST)
 * against the table path, which is checked against the standard check value first: lengths 0 to
 * 5,000 at 64 alignments (every folding path's block and round sizes and their tails), then long
 * inputs, each from its own seed. Prints the paths it compared; exits 1 naming the first
 * difference. Run by test/crc.test.ts. */
#include "crc32c_int.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[CRC_PATHS] = {
	[CRC_TABLE] = "table", [CRC_SSE42] = "sse4.2", [CRC_PCLMUL] = "pclmul", [CRC_AVX512] = "avx512", [CRC_AVX2] = "avx2"
};

static uint64_t state = 0x9e3779b97f4a7c15u;
static uint32_t next(void) /* xorshift: the same inputs on every run */
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (uint32_t)state;
}

static long checks;

static int same(const unsigned char *p, size_t len, int off)
{
	uint32_t seed = next();
	uint32_t want = ucr_crc32c_path(CRC_TABLE, seed, p, len);
	for (int w = CRC_TABLE + 1; w < CRC_PATHS; w++) {
		if (!ucr_crc32c_has(w))
			continue;
		checks++;
		uint32_t got = ucr_crc32c_path(w, seed, p, len);
		if (got != want) {
			printf("path %s: length %zu offset %d seed %08x: %08x, the table gives %08x\n", names[w], len, off,
			       seed, got, want);
			return 0;
		}
	}
	return 1;
}

int main(void)
{
	if (ucr_crc32c_path(CRC_TABLE, 0, "123456789", 9) != 0xe3069283u) {
		printf("path table: not the check value\n");
		return 1;
	}
	size_t n = (5UL << 20) + 128;
	unsigned char *b = malloc(n);
	if (!b)
		return 2;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)next();
	for (size_t len = 0; len <= 5000; len++)
		for (int off = 0; off < 64; off += len < 1300 ? 1 : 7)
			if (!same(b + off, len, off))
				return 1;
	static const size_t longs[] = { 8191, 8192, 8193, 24576, 65536, 65567, 262144, 262175, 1UL << 20,
					(1UL << 20) + 4095, 5UL << 20 };
	for (size_t i = 0; i < sizeof longs / sizeof *longs; i++)
		for (int off = 0; off < 128; off += 37)
			if (!same(b + off, longs[i], off))
				return 1;
	printf("paths");
	for (int w = CRC_TABLE; w < CRC_PATHS; w++)
		if (ucr_crc32c_has(w))
			printf(" %s", names[w]);
	printf(": %ld comparisons equal\n", checks);
	return 0;
}
