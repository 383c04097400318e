/* CRC-32C (Castagnoli), the image's per-record checksum. Carry-less multiply folding (VPCLMULQDQ
 * on AVX-512 or AVX2 registers, or PCLMULQDQ) or the SSE4.2 crc32 instruction when available, table-driven
 * otherwise; all give the same result. crc32c(seed, buf, len) continues a checksum: start with
 * seed 0. */
#ifndef UCR_CRC32C_H
#define UCR_CRC32C_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
uint32_t ucr_crc32c(uint32_t seed, const void *buf, size_t len);
#ifdef __cplusplus
}
#endif
#endif
