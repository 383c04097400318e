/* The part of the image stream the native side reads and writes: page records and the
 * trailer. The full layout is drawn in src/image/format.ts; the two must agree.
 *
 *   record frame (16 bytes, little endian): u32 kind | u32 crc32c(payload) | u64 payload length
 *   PAGES payload: u32 task index | u32 page count | u64 first address | page count * 4096 bytes
 *   SHMEM payload: u32 object id | u32 page count | u64 byte offset | page count * 4096 bytes
 *     (contents of a shared memory object: shared anonymous memory or a memfd; all SHMEM
 *      records come before the PAGES records)
 *   TRAILER payload: CBOR map written and checked by the coordinator
 *
 * digest: every record's crc, as 4 little-endian bytes, chained through crc32c in stream order;
 * the trailer carries the final value, so a dropped, duplicated or reordered record is caught. */
#ifndef UCR_IMAGE_H
#define UCR_IMAGE_H
#include <stdint.h>
#include <sys/types.h>

#define REC_PAGES 16
#define REC_SHMEM 17
#define REC_TRAILER 255
#define PAGE_SZ 4096UL
#define MAX_CHUNK_PAGES 1024UL /* 4 MiB per page record */
#define MAX_TRAILER_LEN 4096UL

struct rec_frame {
	uint32_t kind;
	uint32_t crc;
	uint64_t len;
};

struct pages_hdr {
	uint32_t task;
	uint32_t npages;
	uint64_t addr;
};

/* A run of consecutive pages whose contents the image carries, in stream order: pages of a
 * task (task index, address) or of a shared memory object (shm = 1: object id, byte offset). */
struct page_run {
	uint32_t task;
	uint32_t shm;
	uint64_t addr;
	uint64_t npages;
};

uint32_t digest_add(uint32_t digest, uint32_t crc);

/* Scans pagemap for [start,end) of pid: calls emit(addr, npages) for each run of pages whose
 * contents must be saved (present or swapped, not file-backed, not the zero page). */
int pagemap_runs(pid_t pid, uint64_t start, uint64_t end,
		 void (*emit)(void *ctx, uint64_t addr, uint64_t npages), void *ctx);

/* Writes page records for runs (all of one task) to the image (fd 3); updates *digest and *bytes. */
int pages_dump(pid_t pid, uint32_t task, const struct page_run *runs, size_t n, int out,
	       uint32_t *digest, uint64_t *bytes, uint64_t *records);

/* Writes SHMEM records for runs (byte offsets, all of object obj) read from src (an fd of the
 * object) to out. */
int shmem_dump(int src, uint32_t obj, const struct page_run *runs, size_t n, int out,
	       uint32_t *digest, uint64_t *bytes, uint64_t *records);

/* pages_dump and shmem_dump write through a writer process (pipeline.c), started at the first
 * call; each call returns once its records are in the image. pages_stop ends the writer. */
void pages_stop(void);

/* Where restored contents go: tasks by index (pids), shared memory objects by id (shmfd(id)). */
struct page_sink {
	const pid_t *pids;
	size_t ntasks;
	int (*shmfd)(uint32_t id); /* -1: no such object */
	volatile uint64_t *progress; /* if set: pages of the runs written so far, for others to see */
};

/* Reads SHMEM and PAGES records from in and writes them into the objects and tasks; the records
 * must cover runs exactly, in order. Then reads the trailer frame: its payload (hex) goes to
 * trailer_hex (caller frees). */
int pages_restore(int in, const struct page_run *runs, size_t n, const struct page_sink *sink,
		  uint32_t *digest, uint64_t *bytes, uint64_t *records, char **trailer_hex);
#endif
