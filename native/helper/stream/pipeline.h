/* Page-record pipeline between the helper and a forked io process (see pipeline.c). */
#ifndef UCR_PIPELINE_H
#define UCR_PIPELINE_H
#include <stddef.h>
#include <stdint.h>

#include "image.h"

#define PL_SLOTS 4
#define PL_SLOT_SIZE (32 + MAX_CHUNK_PAGES * PAGE_SZ) /* frame + page header + pages */
#define PL_TRAILER_MAX MAX_TRAILER_LEN
#define PL_KIND_PAGES REC_PAGES
#define PL_KIND_OBJECT REC_OBJECT
#define PL_KIND_SHM REC_SHM
#define PL_KIND_PAGES_LZ4 REC_PAGES_LZ4
#define PL_KIND_OBJECT_LZ4 REC_OBJECT_LZ4
#define PL_KIND_TRAILER REC_TRAILER

struct pl_frame {
	uint32_t kind;
	uint32_t crc;
	uint64_t len;
};

unsigned char *pl_slot(int i);
/* Ends the io process (at once; a writer should be drained first). */
void pl_stop(void);

/* Checkpoint: records written to out in the order submitted. bytes: what the source that
 * starts it will write; more than DIRECT_BYTES and the io process starts at once, else the
 * helper writes the slots itself until DIRECT_BYTES went out (pipeline.c). */
int pl_writer_start(int out, uint64_t bytes);
/* The blocks of the next bytes of out allocated ahead, off the critical path, until the writer
 * starts (pipeline_writer.c); nothing unless out is a regular file on tmpfs. */
void pl_writer_reserve(int out, uint64_t bytes);
int pl_writer_slot(void);                   /* a free slot; waits; -1 with errno if writing failed */
int pl_writer_submit(int slot, size_t len); /* write len bytes of the slot */
int pl_writer_drain(void);                  /* everything submitted is written; -1 with errno */

/* A chunk of a task the writer fills itself (reads, checksums, maybe compresses) and then
 * writes, when it would otherwise wait for the helper: the two then share that work. */
struct pl_order {
	pid_t pid;
	uint32_t task, npages;
	uint64_t addr;
};
/* Fills slot from an order in the writer process: the record's length, or -1 with errno (set
 * by pages.c before the writer starts). */
extern long (*pl_fill)(unsigned char *slot, const struct pl_order *o);
/* Called in the helper for every slot back from the writer, in submission order, with the
 * bytes written (pages.c folds the records' checksums into the digest there). */
extern void (*pl_written)(unsigned char *slot, size_t len);
int pl_writer_order(int slot, const struct pl_order *o);
int pl_writer_can_help(void); /* the writer is about to run out of work, and has no order */
/* After a failure: the order whose reading failed (its address), or 0 if writing failed. */
uint64_t pl_failed_read(void);

/* Restart: records read from in, in stream order. */
enum { PR_OK, PR_EOF, PR_SHORT, PR_ERROR, PR_BAD_KIND, PR_TOO_LONG };
struct pl_record {
	int slot;
	int status; /* PR_* */
	int err;    /* errno for PR_ERROR */
	uint64_t len; /* payload bytes read */
	uint32_t crc; /* crc32c of the payload (PR_OK) */
	struct pl_frame *frame;
	unsigned char *payload;
};
int pl_reader_start(int in);
int pl_reader_next(struct pl_record *r); /* the next record (or why there is none) */
int pl_reader_release(int slot);         /* the helper is done with a slot */
#endif
