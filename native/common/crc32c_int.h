/* Inside the CRC-32C implementation (crc32c.c, crc32c_x86.c): a path continues a raw
 * (uninverted) crc over len bytes. */
#ifndef UCR_CRC32C_INT_H
#define UCR_CRC32C_INT_H
#include <stddef.h>
#include <stdint.h>

typedef uint32_t crc_fn(uint32_t crc, const unsigned char *p, size_t len);

#if defined(__x86_64__)
/* The fastest x86 path this CPU has, its tables made; NULL without SSE4.2. Once. */
crc_fn *crc32c_x86_pick(void);
#ifdef UCR_CRC32C_TEST
int crc32c_x86_has(int which);
crc_fn *crc32c_x86_path(int which);
#endif
#endif
#endif
