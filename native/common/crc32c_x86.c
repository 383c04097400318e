/* CRC-32C on x86_64 (crc32c.c picks a path once): three interleaved SSE4.2 crc32 streams, and
 * carry-less multiply folding with PCLMULQDQ on 128-bit registers, VPCLMULQDQ on AVX2 (256-bit)
 * or AVX-512 registers. Every path gives the table path's crc (test/native/crc_paths.c). */
#include "crc32c_int.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>

/* The SSE4.2 crc32 instruction has a latency of 3 cycles and a throughput of 1: three
 * independent streams over three adjacent blocks keep it busy, and the three crcs are combined
 * by "appending zeros" to the first ones with precomputed operators (after Mark Adler's
 * crc32c.c, zlib's crc32_combine method). About 3x the single-stream speed. */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256
static uint32_t zeros_long[4][256], zeros_short[4][256];

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;
	while (vec) {
		if (vec & 1)
			sum ^= *mat;
		vec >>= 1;
		mat++;
	}
	return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++)
		square[n] = gf2_times(mat, mat[n]);
}

/* The operator that appends len (a power of two) zero bytes to a crc. */
static void zeros_op(uint32_t *even, size_t len)
{
	uint32_t odd[32], row = 1;
	odd[0] = 0x82F63B78u;
	for (int n = 1; n < 32; n++, row <<= 1)
		odd[n] = row;
	gf2_square(even, odd); /* two zero bits */
	gf2_square(odd, even); /* four */
	do {
		gf2_square(even, odd);
		len >>= 1;
		if (!len)
			return;
		gf2_square(odd, even);
		len >>= 1;
	} while (len);
	memcpy(even, odd, sizeof odd);
}

static void zeros_table(uint32_t zeros[][256], size_t len)
{
	uint32_t op[32];
	zeros_op(op, len);
	for (uint32_t n = 0; n < 256; n++) {
		zeros[0][n] = gf2_times(op, n);
		zeros[1][n] = gf2_times(op, n << 8);
		zeros[2][n] = gf2_times(op, n << 16);
		zeros[3][n] = gf2_times(op, n << 24);
	}
}

static uint32_t shift(uint32_t zeros[][256], uint32_t crc)
{
	return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^
	       zeros[3][crc >> 24];
}

__attribute__((target("sse4.2"))) static uint64_t crc_hw_blocks(uint64_t c0, const unsigned char **pp,
								 size_t *lenp, size_t block,
								 uint32_t zeros[][256])
{
	const unsigned char *p = *pp;
	size_t len = *lenp;
	while (len >= 3 * block) {
		uint64_t c1 = 0, c2 = 0;
		const unsigned char *end = p + block;
		do {
			uint64_t v0, v1, v2;
			memcpy(&v0, p, 8);
			memcpy(&v1, p + block, 8);
			memcpy(&v2, p + 2 * block, 8);
			c0 = __builtin_ia32_crc32di(c0, v0);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
			p += 8;
		} while (p < end);
		c0 = shift(zeros, (uint32_t)c0) ^ (uint32_t)c1;
		c0 = shift(zeros, (uint32_t)c0) ^ (uint32_t)c2;
		p += 2 * block;
		len -= 3 * block;
	}
	*pp = p;
	*lenp = len;
	return c0;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw_stream(uint32_t crc, const unsigned char *p,
								   size_t len)
{
	uint64_t c = crc;
	c = crc_hw_blocks(c, &p, &len, LONG_BLOCK, zeros_long);
	c = crc_hw_blocks(c, &p, &len, SHORT_BLOCK, zeros_short);
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}

/* Carry-less multiply folding (Gopal et al., "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ", Intel 2009): a 16-byte block A, read little-endian, is the polynomial whose
 * x^127 coefficient is bit 0. Moving A forward by d bytes, A * x^(8d), is congruent mod P to
 * H * (x^(8d+64) mod P) + L * (x^(8d) mod P) (H its first 8 bytes, L the last), a polynomial of
 * under 96 bits that is XORed into the block d bytes on. Lanes of blocks fold independently,
 * hiding the multiply's latency; at the end they fold into one block, whose crc (from state 0)
 * the crc32 instruction finishes, by linearity equal to the crc of everything it stands for. */

/* x^n mod P, as a crc register (bit 31 - i is the x^i coefficient). */
static uint32_t xpow_mod(unsigned n)
{
	uint32_t c = 0x80000000u;
	while (n--)
		c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	return c;
}

/* A 64 x 64 carry-less product of such bit-reversed operands lands one bit short of the 128-bit
 * frame, and a 32-bit register in the low half of a qword stands 32 degrees lower than the
 * qword's frame: hence the constants' exponents are 33 below the x^(8d+64), x^(8d) above.
 * h multiplies a block's first 8 bytes (low qword), l its last 8. */
struct fold_k {
	uint64_t h, l;
};

static struct fold_k fold_k(size_t d)
{
	return (struct fold_k){ xpow_mod(8 * d + 31), xpow_mod(8 * d - 33) };
}

/* by[i] moves a block 16 * i bytes on: lanes fold straight into the last one, in parallel */
static struct fold_k by[17];

#define FOLD_LANES 8 /* 128 bytes a round: PCLMULQDQ's latency is 6-7 cycles, its throughput 1 */
#define FOLD_MIN 256 /* short inputs keep the crc32 streams: set-up and reduction would dominate */
#define PREFETCH 1024 /* bytes ahead; from memory 11.7 GB/s instead of 10.6 */

__attribute__((target("pclmul,sse4.2"))) static __m128i fold128(__m128i a, struct fold_k k)
{
	__m128i kv = _mm_set_epi64x((long long)k.l, (long long)k.h);
	return _mm_xor_si128(_mm_clmulepi64_si128(a, kv, 0x00), _mm_clmulepi64_si128(a, kv, 0x11));
}

/* The crc of everything folded into a (with the state its first block carried), then the rest. */
__attribute__((target("pclmul,sse4.2"))) static uint32_t fold_finish(__m128i a, const unsigned char *p,
								     size_t len)
{
	while (len >= 16) {
		a = _mm_xor_si128(fold128(a, by[1]), _mm_loadu_si128((const __m128i *)p));
		p += 16;
		len -= 16;
	}
	uint64_t c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(a));
	c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(a, 1));
	return crc_hw_stream((uint32_t)c, p, len);
}

__attribute__((target("pclmul,sse4.2"))) static uint32_t crc_fold_sse(uint32_t crc, const unsigned char *p,
								      size_t len)
{
	if (len < FOLD_MIN)
		return crc_hw_stream(crc, p, len);
	__m128i a[FOLD_LANES];
	#pragma GCC unroll 8 /* unrolled, the lanes stay in registers (not so at -O2 alone) */
	for (int i = 0; i < FOLD_LANES; i++)
		a[i] = _mm_loadu_si128((const __m128i *)p + i);
	/* crc state s over M is state 0 over M with s XORed into its first 4 bytes */
	a[0] = _mm_xor_si128(a[0], _mm_cvtsi32_si128((int)crc));
	p += 16 * FOLD_LANES;
	len -= 16 * FOLD_LANES;
	while (len >= 16 * FOLD_LANES) {
		/* this loop has too many instructions a byte to keep enough misses in flight alone */
		__builtin_prefetch(p + PREFETCH);
		__builtin_prefetch(p + PREFETCH + 64);
		#pragma GCC unroll 8
		for (int i = 0; i < FOLD_LANES; i++)
			a[i] = _mm_xor_si128(fold128(a[i], by[FOLD_LANES]), _mm_loadu_si128((const __m128i *)p + i));
		p += 16 * FOLD_LANES;
		len -= 16 * FOLD_LANES;
	}
	__m128i x = a[FOLD_LANES - 1];
	#pragma GCC unroll 8
	for (int i = 0; i < FOLD_LANES - 1; i++)
		x = _mm_xor_si128(x, fold128(a[i], by[FOLD_LANES - 1 - i]));
	return fold_finish(x, p, len);
}

/* AVX2 + VPCLMULQDQ (no AVX-512: AMD Zen 3, Intel client cores): two blocks in each 256-bit
 * lane, YMM_LANES lanes, 256 bytes a round. */
#define YMM_LANES 8
#define YMM_MIN 512 /* shorter: the 128-bit folding (its set-up is smaller) */

__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2"))) static __m256i fold256(__m256i a, __m256i k, __m256i next)
{
	return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(a, k, 0x00), _mm256_clmulepi64_epi128(a, k, 0x11)),
				next);
}

__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2"))) static __m256i fold256_k(struct fold_k k)
{
	return _mm256_broadcastsi128_si256(_mm_set_epi64x((long long)k.l, (long long)k.h));
}

__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2"))) static uint32_t crc_fold_avx2(uint32_t crc,
											const unsigned char *p, size_t len)
{
	if (len < YMM_MIN)
		return crc_fold_sse(crc, p, len);
	__m256i a[YMM_LANES];
	#pragma GCC unroll 8
	for (int i = 0; i < YMM_LANES; i++)
		a[i] = _mm256_loadu_si256((const __m256i *)p + i);
	a[0] = _mm256_xor_si256(a[0], _mm256_castsi128_si256(_mm_cvtsi32_si128((int)crc)));
	p += 32 * YMM_LANES;
	len -= 32 * YMM_LANES;
	__m256i k = fold256_k(by[2 * YMM_LANES]);
	while (len >= 32 * YMM_LANES) {
		__builtin_prefetch(p + 2 * PREFETCH);
		__builtin_prefetch(p + 2 * PREFETCH + 64);
		__builtin_prefetch(p + 2 * PREFETCH + 128);
		__builtin_prefetch(p + 2 * PREFETCH + 192);
		#pragma GCC unroll 8
		for (int i = 0; i < YMM_LANES; i++)
			a[i] = fold256(a[i], k, _mm256_loadu_si256((const __m256i *)p + i));
		p += 32 * YMM_LANES;
		len -= 32 * YMM_LANES;
	}
	/* every lane into the last one (lane i is 32 * (YMM_LANES - 1 - i) bytes before it) */
	__m256i z = a[YMM_LANES - 1];
	#pragma GCC unroll 8
	for (int i = 0; i < YMM_LANES - 1; i++)
		z = fold256(a[i], fold256_k(by[2 * (YMM_LANES - 1 - i)]), z);
	k = fold256_k(by[2]);
	while (len >= 32) {
		z = fold256(z, k, _mm256_loadu_si256((const __m256i *)p));
		p += 32;
		len -= 32;
	}
	__m128i x = _mm_xor_si128(_mm256_extracti128_si256(z, 1), fold128(_mm256_castsi256_si128(z), by[1]));
	_mm256_zeroupper(); /* as for AVX-512 below: clean upper halves for the SSE code after */
	return fold_finish(x, p, len);
}

/* AVX-512 + VPCLMULQDQ: the same with four blocks in each of four 512-bit lanes, 256 bytes a round. */
#define ZMM_LANES 4
#define ZMM_MIN 256 /* 256-511 bytes: 28-45 GB/s here, the crc32 streams 16 */

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) static __m512i fold512(__m512i a, __m512i k,
										  __m512i next)
{
	return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(a, k, 0x00),
					 _mm512_clmulepi64_epi128(a, k, 0x11), next, 0x96); /* a ^ b ^ c */
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) static __m512i fold512_k(struct fold_k k)
{
	return _mm512_broadcast_i32x4(_mm_set_epi64x((long long)k.l, (long long)k.h));
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) static uint32_t
crc_fold_avx512(uint32_t crc, const unsigned char *p, size_t len)
{
	if (len < ZMM_MIN)
		return crc_hw_stream(crc, p, len);
	__m512i a[ZMM_LANES];
	#pragma GCC unroll 8
	for (int i = 0; i < ZMM_LANES; i++)
		a[i] = _mm512_loadu_si512(p + 64 * i);
	a[0] = _mm512_xor_si512(a[0], _mm512_castsi128_si512(_mm_cvtsi32_si128((int)crc)));
	p += 64 * ZMM_LANES;
	len -= 64 * ZMM_LANES;
	__m512i k = fold512_k(by[4 * ZMM_LANES]);
	while (len >= 64 * ZMM_LANES) {
		#pragma GCC unroll 8
		for (int i = 0; i < ZMM_LANES; i++) {
			__builtin_prefetch(p + 2 * PREFETCH + 64 * i); /* from memory 13.5 GB/s, not 12 */
			a[i] = fold512(a[i], k, _mm512_loadu_si512(p + 64 * i));
		}
		p += 64 * ZMM_LANES;
		len -= 64 * ZMM_LANES;
	}
	__m512i z = a[ZMM_LANES - 1];
	#pragma GCC unroll 8
	for (int i = 0; i < ZMM_LANES - 1; i++)
		z = fold512(a[i], fold512_k(by[4 * (ZMM_LANES - 1 - i)]), z);
	k = fold512_k(by[4]);
	while (len >= 64) {
		z = fold512(z, k, _mm512_loadu_si512(p));
		p += 64;
		len -= 64;
	}
	__m128i x = _mm512_extracti32x4_epi32(z, 3);
	x = _mm_xor_si128(x, fold128(_mm512_extracti32x4_epi32(z, 2), by[1]));
	x = _mm_xor_si128(x, fold128(_mm512_extracti32x4_epi32(z, 1), by[2]));
	x = _mm_xor_si128(x, fold128(_mm512_castsi512_si128(z), by[3]));
	/* gcc adds no vzeroupper to target("avx512f") code in a build without -mavx, and dirty upper
	 * halves make later SSE code (ours, the caller's) several times slower */
	_mm256_zeroupper();
	return fold_finish(x, p, len);
}

/* The paths by number (crc32c_int.h), and whether this CPU can run path which: the one test of
 * the CPU, for the choice and for the test build. */
static crc_fn *const paths[CRC_PATHS] = {
	[CRC_SSE42] = crc_hw_stream, [CRC_PCLMUL] = crc_fold_sse, [CRC_AVX512] = crc_fold_avx512, [CRC_AVX2] = crc_fold_avx2
};

static int can_run(int which)
{
	__builtin_cpu_init();
	int sse = __builtin_cpu_supports("sse4.2"), clmul = sse && __builtin_cpu_supports("pclmul");
	int vclmul = clmul && __builtin_cpu_supports("vpclmulqdq");
	switch (which) {
	case CRC_SSE42:
		return sse;
	case CRC_PCLMUL:
		return clmul;
	case CRC_AVX512:
		return vclmul && __builtin_cpu_supports("avx512f");
	case CRC_AVX2:
		return vclmul && __builtin_cpu_supports("avx2");
	}
	return 0;
}

/* The fastest path this CPU has (its tables made first); every one gives the same crc. */
crc_fn *crc32c_x86_pick(void)
{
	if (!can_run(CRC_SSE42))
		return NULL;
	zeros_table(zeros_long, LONG_BLOCK);
	zeros_table(zeros_short, SHORT_BLOCK);
	if (!can_run(CRC_PCLMUL))
		return paths[CRC_SSE42];
	for (size_t i = 1; i < sizeof by / sizeof *by; i++)
		by[i] = fold_k(16 * i);
	if (can_run(CRC_AVX512))
		return paths[CRC_AVX512];
	return paths[can_run(CRC_AVX2) ? CRC_AVX2 : CRC_PCLMUL];
}

#ifdef UCR_CRC32C_TEST
/* Test builds: whether this CPU can run path which, and the path (crc32c_x86_pick must have run). */
int crc32c_x86_has(int which)
{
	return can_run(which);
}

crc_fn *crc32c_x86_path(int which)
{
	return which > CRC_TABLE && which < CRC_PATHS ? paths[which] : NULL;
}
#endif
#else
typedef int crc32c_x86_none; /* not x86_64: nothing here (crc32c.c uses its table) */
#endif
