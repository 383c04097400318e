/* Inside the CRC-32C implementation (crc32c.c, crc32c_x86.c; and test/native/crc_paths.c): a
 * path continues a raw (uninverted) crc over len bytes. */
#ifndef UCR_CRC32C_INT_H
#define UCR_CRC32C_INT_H
#include <stddef.h>
#include <stdint.h>

typedef uint32_t crc_fn(uint32_t crc, const unsigned char *p, size_t len);

/* The paths by number: the x86 choice's and the test build's (test/native/crc_paths.c) */
enum crc_path { CRC_TABLE, CRC_SSE42, CRC_PCLMUL, CRC_AVX512, CRC_AVX2, CRC_PATHS };

#ifdef UCR_CRC32C_TEST
/* Test builds (crc32c.c): whether this CPU can run path which, and the crc by that path. */
int ucr_crc32c_has(int which);
uint32_t ucr_crc32c_path(int which, uint32_t seed, const void *buf, size_t len);
#endif

#if defined(__x86_64__)
/* The fastest x86 path this CPU has, its tables made; NULL without SSE4.2. Once. */
crc_fn *crc32c_x86_pick(void);
#ifdef UCR_CRC32C_TEST
int crc32c_x86_has(int which);
crc_fn *crc32c_x86_path(int which);
#endif
#endif
#endif
