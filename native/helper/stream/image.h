/* The part of the image stream the native side reads and writes: page records and the
 * trailer. The full layout is drawn in src/image/format.ts; the two must agree.
 *
 *   record frame (16 bytes, little endian): u32 kind | u32 crc32c(payload) | u64 payload length
 *   PAGES payload: u32 task index | u32 page count | u64 first address | page count * 4096 bytes
 *   OBJECT payload: u32 object id | u32 page count | u64 byte offset | page count * 4096 bytes
 *     (contents of a content object: shared anonymous memory, a memfd, an unlinked file; all OBJECT
 *      records come before the PAGES records)
 *   PAGES_LZ4 / OBJECT_LZ4 payload (checkpoint --compress): the same 16-byte header, then the
 *     page count * 4096 bytes as one LZ4 block (always shorter than the raw pages: a chunk that
 *     does not compress is written as a plain PAGES / OBJECT record); the reader decompresses and
 *     requires exactly page count * 4096 bytes back
 *   SHM payload: u32 segment index | u32 page count | u64 byte offset in the segment | pages
 *                (System V shared memory contents, after every PAGES record; pages that are all
 *                zero are left out, so records of one segment have rising, gapped offsets)
 *   TRAILER payload: CBOR map written and checked by the coordinator
 *
 * digest: every record's crc, as 4 little-endian bytes, chained through crc32c in stream order;
 * the trailer carries the final value, so a dropped, duplicated or reordered record is caught. */
#ifndef UCR_IMAGE_H
#define UCR_IMAGE_H
#include <stdint.h>
#include <sys/types.h>

#include "arch.h"

#define REC_PAGES 16
#define REC_SHM 17
#define REC_OBJECT 18
#define REC_PAGES_LZ4 19
#define REC_OBJECT_LZ4 20
#define REC_TRAILER 255
#define MAX_CHUNK_PAGES 1024UL /* 4 MiB per page record: the most a reader accepts */
/* The most a checkpoint writes in one page record of a source (a task, an object) with at most
 * SMALL_SOURCE_PAGES pages to write: 1 MiB. Each record goes through a slot of the writer's
 * shared ring (pipeline.c), whose pages the command touches for the first time (a fault and a
 * zeroed page each, ~0.6 us): records of 1 MiB touch 4 MiB of the 16 MiB ring (a 24 MiB
 * process: the pages 14 -> 10.6 ms). A larger source writes records of MAX_CHUNK_PAGES: four
 * times as many records cost more than the ring's first touch from ~90 MiB on (1 GiB: +12%). */
#define WRITE_CHUNK_PAGES 256UL
#define SMALL_SOURCE_PAGES 16384UL /* 64 MiB */
#define MAX_TRAILER_LEN 4096UL
/* The acknowledgement a restart sends back for an image it has whole and verified (restart
 * --ack-fd, checkpoint --kill-after-ack): ACK_MAGIC | u32 LE digest | u32 LE records, the two
 * numbers of the image's trailer. */
#define ACK_MAGIC "UCR-ACK\n"
#define ACK_LEN 16

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
 * task (task index, address) or of a shared memory object (obj = 1: content object id, byte offset). */
struct page_run {
	uint32_t task;
	uint32_t obj;
	uint64_t addr;
	uint64_t npages;
	uint64_t stage; /* restart: a staged run (restore_cow.c) goes to this address in the staging
			 * window instead of addr; 0: to addr */
};

uint32_t digest_add(uint32_t digest, uint32_t crc);

/* /proc/<pid>/pagemap, opened for pagemap_runs (-1 and errno on failure). */
int pagemap_open(pid_t pid);

/* pagemap entries read once for several ranges: n entries from the page at base */
struct pm_window {
	uint64_t *ent;
	uint64_t base, n;
};

/* Scans pagemap (fd from pagemap_open) for [start,end): calls emit(addr, npages) for each run
 * of pages whose contents must be saved (present or swapped, not file-backed, not the zero
 * page). w (or NULL): entries already read, taken where they cover the range. */
int pagemap_runs(int fd, uint64_t start, uint64_t end, const struct pm_window *w,
		 void (*emit)(void *ctx, uint64_t addr, uint64_t npages), void *ctx,
		 void (*guard)(void *ctx, uint64_t addr, uint64_t npages), void *gctx);

/* pagemap_runs for count/2 mappings at once (start,end pairs, ascending), with the PAGEMAP_SCAN
 * ioctl (Linux 6.7; its guard category 6.15): the kernel gives the runs as ranges instead of
 * 8 bytes per page, and skips the holes of sparse mappings. 1 when this kernel has no such
 * ioctl (the caller reads pagemap then, pagemap_runs); -1 and errno on failure. */
int pagemap_scan_runs(int fd, const uint64_t *ranges, size_t count,
		      void (*emit)(void *ctx, uint64_t addr, uint64_t npages), void *ctx,
		      void (*guard)(void *ctx, uint64_t addr, uint64_t npages), void *gctx);

/* Writes page records for runs (all of one task) to the image (fd 3); updates *digest and *bytes. */
int pages_dump(pid_t pid, uint32_t task, const struct page_run *runs, size_t n, int out,
	       uint32_t *digest, uint64_t *bytes, uint64_t *records);

/* Writes OBJECT records for runs (byte offsets, all of object obj) read from src (an fd of the
 * object) to out. */
int object_dump(int src, uint32_t obj, const struct page_run *runs, size_t n, int out,
	       uint32_t *digest, uint64_t *bytes, uint64_t *records);

/* pages_dump and object_dump write through a writer process (pipeline.c), started at the first
 * call; each call returns once its records are in the image. pages_stop ends the writer. */
void pages_stop(void);

/* checkpoint --compress: pages_dump and object_dump write LZ4 records where that is shorter.
 * pages_stored_since: the page data bytes written (after compression, for the ratio) since it
 * was last called with reset. */
void pages_compress(int lz4);
uint64_t pages_stored_since(int reset);

struct skip_range {
	int64_t task; /* -1: every task */
	uint64_t start, end;
};

/* Where restored contents go: tasks by index (pids), content objects by id. */
struct fill_piece {
	uint64_t addr;
	const void *buf;
	size_t len;
};

struct page_sink {
	const pid_t *pids;
	size_t ntasks;
	int (*objknown)(uint32_t id); /* 0: no such object */
	/* writes a record's bytes into content object id at byte offset off, never past its size
	 * (the last page of an object of any size is partly beyond its end); -1 with errno */
	int (*objfill)(uint32_t id, uint64_t off, const void *buf, size_t len);
	const struct skip_range *skips; /* --skip-memory: task pages there come back zero-filled */
	size_t nskips;
	volatile uint64_t *progress; /* if set: pages of the runs written so far, for others to see */
	int lz4; /* the image is compressed: LZ4 records are allowed */
	/* writes a page record's bytes into task (pid): process_vm_writev or UFFDIO_COPY */
	int (*fill)(uint32_t task, pid_t pid, uint64_t addr, const void *buf, size_t len);
	/* if set: fill for n records of one task at once (small ones: a system call for all of
	 * those not filled with UFFDIO_COPY); -1 with errno and *bad the record that failed */
	int (*fillv)(uint32_t task, pid_t pid, const struct fill_piece *p, int n, int *bad);
	/* inspect --verify: every record is checked exactly as for a restart, nothing is written
	 * (no task, object or segment exists; fill, objfill and pids are not used) */
	int check_only;
	uint64_t *stored; /* if set: bytes of the LZ4 blocks of compressed records */
	/* one SHM record (System V shared memory: the ipc kind's ipc_shm_payload) */
	int (*shm)(const unsigned char *payload, uint64_t plen, uint32_t crc, uint32_t want_crc, uint32_t *digest,
		   int check_only, uint64_t *bytes);
	uint64_t *shm_bytes; /* bytes of the SHM records */
};

/* Shared by pages.c (checkpoint) and pages_restore.c (restart): a scratch buffer of one whole
 * chunk, and the `progress` event emitted every 16 MiB of pages. */
unsigned char *pages_scratch(void);
void pages_progress(uint64_t before, uint64_t after);

/* Reads OBJECT and PAGES records from in and writes them into the objects and tasks; the records
 * must cover runs exactly, in order. Then reads the trailer frame: its payload (hex) goes to
 * trailer_hex (caller frees). */
int pages_restore(int in, const struct page_run *runs, size_t n, const struct page_sink *sink,
		  uint32_t *digest, uint64_t *bytes, uint64_t *records, char **trailer_hex);
/* Only the records of runs[0..upto) (upto <= n), the reader kept for the next call (which goes on
 * where this one stopped). */
int pages_restore_upto(int in, const struct page_run *runs, size_t n, size_t upto, const struct page_sink *sink,
		       uint32_t *digest, uint64_t *bytes, uint64_t *records);

/* After the trailer: the image must end there (junk after it is refused). */
int image_eof(int in);
/* restore_spool.c: the rest of the image stream, checked up to its trailer (digest from seed),
 * into a memfd on fd 3 */
int spool_image(uint32_t seed);
#endif
