/* The restart's page records, step by step (pages_restore.c), shared by its two ways of reading
 * the stream: the reader pipeline (pipeline.c, any input) and the lanes (pages_lanes.c, an image
 * file on tmpfs). Each step checks or applies one record against the run it must cover; every
 * failure is reported (proto_fail) and returns -1. */
#ifndef UCR_PAGES_LANES_H
#define UCR_PAGES_LANES_H
#include "image.h"
#include "pipeline.h"

int pr_record_failed(const struct pl_record *rec); /* a record that could not be read whole */
int pr_trailer(const struct pl_frame *f, const unsigned char *payload, uint32_t crc, size_t n,
	       const struct page_run *runs, char **trailer_hex);
int pr_shm(const struct pl_frame *f, const unsigned char *payload, uint32_t crc, size_t n,
	   const struct page_run *runs, const struct page_sink *sink, uint32_t *digest, uint64_t *records);
/* A PAGES or OBJECT record's frame and header against the next run (not its checksum). */
int pr_check(const struct pl_frame *f, const struct pages_hdr *h, const struct page_run *runs, size_t n,
	     const struct page_sink *sink);
int pr_is_obj(const struct page_run *runs, size_t n); /* the next run is a content object's */
/* Where a checked record's pages go (its address, or the staging window's). */
uint64_t pr_dest(const struct pages_hdr *h, const struct page_run *runs);
/* A checked record whose checksum matched: its payload's data (after the header) into its object
 * or task (LZ4 decompressed first). */
int pr_put(const struct pl_frame *f, const struct pages_hdr *h, unsigned char *buf, const struct page_run *runs,
	   const struct page_sink *sink);
/* --skip-memory: the parts of len bytes of task's pages at addr inside a skipped range become zeros. */
void pr_zero_skipped(const struct page_sink *sink, uint32_t task, uint64_t addr, unsigned char *buf, size_t len);
int pr_fill_failed(uint64_t addr, pid_t pid, int err);
int pr_crc_failed(uint64_t addr);
/* The record is in: digest, counters, the next position in the runs. */
void pr_done(const struct pages_hdr *h, uint32_t crc, const struct page_run *runs, const struct page_sink *sink,
	     uint32_t *digest, uint64_t *bytes, uint64_t *records);

/* The whole stream from an image file on tmpfs, in two lanes (see pages_lanes.c); 1 if the input
 * is not such a file (the caller uses the reader pipeline then). */
int lanes_restore(int in, const struct page_run *runs, size_t n, const struct page_sink *sink,
		  uint32_t *digest, uint64_t *bytes, uint64_t *records, char **trailer_hex);
#endif
