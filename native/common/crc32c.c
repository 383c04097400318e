/* CRC-32C: the table path (any CPU), the choice of the fastest path once (crc32c_x86.c on
 * x86_64), and the entry point. */
#include "crc32c.h"
#include "crc32c_int.h"
#include <string.h>

static uint32_t table[8][256];

static void init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^ table[5][(v >> 16) & 0xff] ^
		      table[4][(v >> 24) & 0xff] ^ table[3][(v >> 32) & 0xff] ^
		      table[2][(v >> 40) & 0xff] ^ table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

/* The fastest path this CPU has; every one gives the same crc. */
static crc_fn *crc_pick(void)
{
#if defined(__x86_64__)
	crc_fn *f = crc32c_x86_pick();
	if (f)
		return f;
#endif
	return crc_soft;
}

/* Set up once: the first caller fills the tables, other threads wait for the path it publishes
 * (atomics only, no pthread_once: nothing asks that the caller be a pthread). */
static crc_fn *crc_path(void)
{
	static crc_fn *path;
	static int claimed;
	crc_fn *f = __atomic_load_n(&path, __ATOMIC_ACQUIRE);
	if (f)
		return f;
	if (!__atomic_exchange_n(&claimed, 1, __ATOMIC_ACQ_REL)) {
		init_table();
		__atomic_store_n(&path, crc_pick(), __ATOMIC_RELEASE);
	}
	while (!(f = __atomic_load_n(&path, __ATOMIC_ACQUIRE)))
		;
	return f;
}

uint32_t ucr_crc32c(uint32_t seed, const void *buf, size_t len)
{
	return ~crc_path()(~seed, buf, len);
}

#ifdef UCR_CRC32C_TEST
/* Test builds only (test/native/crc_paths.c): every path, to compare on one machine
 * (crc32c_int.h's numbers), and whether this CPU can run it. */
int ucr_crc32c_has(int which)
{
#if defined(__x86_64__)
	if (which != CRC_TABLE)
		return crc32c_x86_has(which);
#endif
	return which == CRC_TABLE;
}

uint32_t ucr_crc32c_path(int which, uint32_t seed, const void *buf, size_t len)
{
	crc_path();
	crc_fn *f = crc_soft;
#if defined(__x86_64__)
	if (which != CRC_TABLE)
		f = crc32c_x86_path(which);
#endif
	return ~f(~seed, buf, len);
}
#endif
