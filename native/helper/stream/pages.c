#define _GNU_SOURCE
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <lz4.h>

#include "crc32c.h"
#include "ucr_compat.h"
#include "fault.h"
#include "pipeline.h"
#include "proto.h"
#include "proto_gen.h"
#include "tracee.h"

uint32_t digest_add(uint32_t digest, uint32_t crc)
{
	unsigned char b[4] = { (unsigned char)crc, (unsigned char)(crc >> 8), (unsigned char)(crc >> 16),
			       (unsigned char)(crc >> 24) };
	return ucr_crc32c(digest, b, 4);
}

/* Records go out through the writer pipeline (pipeline.c), packed into slots: the helper reads
 * chunk N+1 from the task while the writer process writes chunk N to the image (or, when it
 * keeps up, fills chunk N itself from an order). Checksums are folded into the digest as slots
 * come back from the writer, in stream order, whoever computed them. */
static int pack_slot = -1;
static size_t pack_len;
static uint32_t *cur_digest; /* the digest of the dump_runs in progress */
static int pages_lz4;
static uint64_t pages_stored;

void pages_compress(int lz4)
{
	pages_lz4 = lz4;
}

uint64_t pages_stored_since(int reset)
{
	uint64_t s = pages_stored;
	if (reset)
		pages_stored = 0;
	return s;
}

/* A slot back from the writer: every record in it (frame, page header, data). */
static void slot_written(unsigned char *slot, size_t len)
{
	for (size_t off = 0; off + sizeof(struct rec_frame) <= len;) {
		struct rec_frame f;
		memcpy(&f, slot + off, sizeof f);
		*cur_digest = digest_add(*cur_digest, f.crc);
		pages_stored += f.len - sizeof(struct pages_hdr);
		off += sizeof f + f.len;
	}
}

static int pack_flush(void)
{
	if (pack_slot < 0 || !pack_len)
		return 0;
	int s = pack_slot;
	pack_slot = -1;
	return pl_writer_submit(s, pack_len);
}

static long fill_order(unsigned char *slot, const struct pl_order *o);

/* What the source that starts the writer will write (dump_runs): a small first source starts
 * it without its io process (pl_writer_start). */
static uint64_t first_bytes;

static int writer_started(void)
{
	static int started;
	if (!started) {
		pl_fill = fill_order;
		pl_written = slot_written;
		if (pl_writer_start(3, first_bytes) < 0)
			return -1;
		started = 1;
	}
	return 0;
}

/* Records share a slot within its first PACK_LIMIT bytes only; a larger record (a chunk of up
 * to 4 MiB) has a slot of its own. The ring is shared memory that both the helper and the
 * writer touch (each counts what it touched in its resident memory): small records, however
 * many (2,000 thread stacks, 10,000 one-page mappings), then touch 4 x 1 MiB of it, not all 16. */
#define PACK_LIMIT (1UL << 20)

/* Room for a record of len data bytes: where its data goes (frame and header before it). */
static unsigned char *pack_room(size_t len)
{
	if (writer_started() < 0)
		return NULL;
	if (pack_slot >= 0 && pack_len && pack_len + 32 + len > PACK_LIMIT && pack_flush() < 0)
		return NULL;
	if (pack_slot < 0) {
		if ((pack_slot = pl_writer_slot()) < 0)
			return NULL;
		pack_len = 0;
	}
	return pl_slot(pack_slot) + pack_len + 32;
}

/* Completes a record at rec whose len raw bytes are at src: rec + 32 itself, or with --compress
 * a scratch buffer, compressed into rec + 32 when that is shorter (kind lz4_kind then). Page
 * header, crc, frame; returns the record's size. Used by the helper and by the writer. */
static size_t seal_record(unsigned char *rec, const unsigned char *src, const struct pages_hdr *h, size_t len,
			  uint32_t kind, uint32_t lz4_kind)
{
	unsigned char *data = rec + 32;
	size_t stored = len;
	if (src != data) {
		int c = LZ4_compress_default((const char *)src, (char *)data, (int)len, (int)len - 1);
		if (c > 0) {
			kind = lz4_kind;
			stored = (size_t)c;
		} else {
			memcpy(data, src, len);
		}
	}
	memcpy(rec + 16, h, sizeof *h);
	struct rec_frame f = { .kind = kind, .crc = ucr_crc32c(0, rec + 16, sizeof *h + stored), .len = sizeof *h + stored };
	memcpy(rec, &f, sizeof f);
	return 32 + stored;
}

/* Reports a failure of the writer: an order's reading (then like the helper's own, naming the
 * memory) or the writing. */
static int writer_fail(const char *phase)
{
	int err = errno;
	uint64_t at = pl_failed_read();
	if (!at)
		return proto_fail(phase, "image", err, "cannot write the image");
	char obj[64];
	snprintf(obj, sizeof obj, "memory at 0x%llx", (unsigned long long)at);
	return proto_fail(phase, obj, err, "cannot read the task");
}

/* Everything packed so far is in the image. */
static int pack_done(const char *phase)
{
	if (pack_flush() < 0 || pl_writer_drain() < 0)
		return writer_fail(phase);
	return 0;
}

/* A whole chunk, raw, for compressing (checkpoint) or decompressing (restart) into. */
unsigned char *pages_scratch(void)
{
	static unsigned char *buf;
	if (!buf)
		buf = malloc(MAX_CHUNK_PAGES * PAGE_SZ);
	return buf;
}

/* Where the chunk of len bytes is read to: the slot itself, or with --compress the scratch
 * buffer (then pack_data compresses it into the slot). */
static unsigned char *pack_src(size_t len)
{
	unsigned char *room = pack_room(len);
	if (!room || !pages_lz4)
		return room;
	unsigned char *s = pages_scratch();
	if (!s)
		errno = ENOMEM;
	return s;
}

/* Completes a chunk read to pack_src (see seal_record). */
static void pack_data(uint32_t kind, uint32_t lz4_kind, const struct pages_hdr *h, size_t len)
{
	unsigned char *rec = pl_slot(pack_slot) + pack_len;
	pack_len += seal_record(rec, pages_lz4 ? pages_scratch() : rec + 32, h, len, kind, lz4_kind);
}

/* In the writer process: a chunk of a task, read, sealed into its slot (see pipeline.h). */
static long fill_order(unsigned char *slot, const struct pl_order *o)
{
	size_t len = (size_t)o->npages * PAGE_SZ;
	unsigned char *src = pages_lz4 ? pages_scratch() : slot + 32;
	if (fault_at("order-read", o->pid)) {
		errno = ECANCELED;
		return -1;
	}
	if (!src || t_read_pages(o->pid, o->addr, src, len) < 0)
		return -1;
	struct pages_hdr h = { .task = o->task, .npages = o->npages, .addr = o->addr };
	return (long)seal_record(slot, src, &h, len, REC_PAGES, REC_PAGES_LZ4);
}

void pages_stop(void)
{
	pl_stop();
}

/* A `progress` event each time another PROGRESS_STEP bytes of pages went through (the coordinator
 * turns them into bytes-done events; only a few per second even at memory speed). */
#define PROGRESS_STEP (16ULL << 20)
void pages_progress(uint64_t before, uint64_t after)
{
	if (before / PROGRESS_STEP != after / PROGRESS_STEP)
		EMIT_PROGRESS(.bytes = after);
}

/* Where a chunk's bytes come from: a task's memory or a content object's file. Reports its
 * own failure and returns -1. */
struct chunk_src {
	const char *phase;
	int (*read)(const struct chunk_src *s, unsigned char *buf, uint64_t at, size_t len);
	pid_t pid; /* a task */
	int fd;    /* a content object */
	uint32_t id, kind, lz4_kind;
};

#define ORDER_MIN_PAGES 256 /* chunks given to the writer: 1 MiB or more (one per slot) */

#define BATCH_RUNS 64 /* small runs of a task read together */

/* Small whole runs from r on (64 pages at most each), as many as fit in a slot's PACK_LIMIT,
 * read from the task in one call and sealed one after the other (10,000 one-page mappings:
 * one process_vm_readv per 64 runs instead of per run). How many were dumped; 0: none (fewer
 * than two, compression, a shared page, a read that fell short: the caller goes run by run). */
static size_t dump_batch(const struct chunk_src *src, const struct page_run *runs, size_t r, size_t n,
			 uint64_t *bytes, uint64_t *records)
{
	struct iovec local[BATCH_RUNS], remote[BATCH_RUNS];
	size_t k = 0, total = 0;
	if (src->pid <= 0 || pages_lz4)
		return 0;
	while (r + k < n && k < BATCH_RUNS && runs[r + k].npages && runs[r + k].npages <= 64 &&
	       total + 32 + runs[r + k].npages * PAGE_SZ <= PACK_LIMIT)
		total += 32 + runs[r + k++].npages * PAGE_SZ;
	unsigned char *data = k >= 2 ? pack_room(total - 32) : NULL; /* room for all of them */
	if (!data)
		return 0;
	for (size_t i = 0; i < k; i++) {
		size_t len = runs[r + i].npages * PAGE_SZ;
		local[i] = (struct iovec){ data, len };
		remote[i] = (struct iovec){ (void *)(uintptr_t)runs[r + i].addr, len };
		data += len + 32; /* the next record's data, after its frame and header */
	}
	if (t_read_pages_v(src->pid, local, remote, k) != 0)
		return 0;
	for (size_t i = 0; i < k; i++) {
		size_t len = runs[r + i].npages * PAGE_SZ;
		struct pages_hdr h = { .task = src->id, .npages = (uint32_t)runs[r + i].npages, .addr = runs[r + i].addr };
		pack_data(src->kind, src->lz4_kind, &h, len);
		pages_progress(*bytes, *bytes + len);
		*bytes += len;
		(*records)++;
	}
	return k;
}

/* Every run, in chunks of at most WRITE_CHUNK_PAGES (MAX_CHUNK_PAGES when the runs hold more
 * than SMALL_SOURCE_PAGES), as records of src's kind. */
static int dump_runs(const struct chunk_src *src, const struct page_run *runs, size_t n, uint32_t *digest,
		     uint64_t *bytes, uint64_t *records)
{
	cur_digest = digest;
	uint64_t pages = 0;
	for (size_t r = 0; r < n; r++)
		pages += runs[r].npages;
	const uint64_t chunk = pages > SMALL_SOURCE_PAGES ? MAX_CHUNK_PAGES : WRITE_CHUNK_PAGES;
	first_bytes = pages * PAGE_SZ;
	for (size_t r = 0; r < n; r++) {
		size_t b = dump_batch(src, runs, r, n, bytes, records);
		if (b) {
			r += b - 1;
			continue;
		}
		for (uint64_t done = 0; done < runs[r].npages;) {
			uint64_t cnt = runs[r].npages - done;
			if (cnt > chunk)
				cnt = chunk;
			uint64_t at = runs[r].addr + done * PAGE_SZ;
			size_t len = cnt * PAGE_SZ;
			if (src->pid > 0 && cnt >= ORDER_MIN_PAGES && writer_started() == 0 && pl_writer_can_help()) {
				/* the writer fills this one (after what is packed so far, to keep the order) */
				struct pl_order o = { .pid = src->pid, .task = src->id, .npages = (uint32_t)cnt, .addr = at };
				int slot;
				if (pack_flush() < 0 || (slot = pl_writer_slot()) < 0 || pl_writer_order(slot, &o) < 0)
					return writer_fail(src->phase);
			} else {
				unsigned char *buf = pack_src(len);
				if (!buf)
					return writer_fail(src->phase);
				if (src->read(src, buf, at, len) < 0)
					return -1;
				struct pages_hdr h = { .task = src->id, .npages = (uint32_t)cnt, .addr = at };
				pack_data(src->kind, src->lz4_kind, &h, len);
			}
			pages_progress(*bytes, *bytes + len);
			*bytes += len;
			(*records)++;
			done += cnt;
		}
	}
	return pack_done(src->phase);
}

static int read_task(const struct chunk_src *s, unsigned char *buf, uint64_t addr, size_t len)
{
	if (t_read_pages(s->pid, addr, buf, len) == 0)
		return 0;
	char obj[64];
	snprintf(obj, sizeof obj, "memory at 0x%llx", (unsigned long long)addr);
	return proto_fail(s->phase, obj, errno, "cannot read %zu bytes of the task", len);
}

static int read_object(const struct chunk_src *s, unsigned char *buf, uint64_t off, size_t len)
{
	ssize_t got = pread(s->fd, buf, len, (off_t)off);
	if (got < 0) {
		char what[64];
		snprintf(what, sizeof what, "content object %u", s->id);
		return proto_fail(s->phase, what, errno, "cannot read it at offset %llu", (unsigned long long)off);
	}
	if ((size_t)got < len) /* truncated meanwhile (held outside the tree): zeros */
		memset(buf + got, 0, len - (size_t)got);
	return 0;
}

int pages_dump(pid_t pid, uint32_t task, const struct page_run *runs, size_t n, int out,
	       uint32_t *digest, uint64_t *bytes, uint64_t *records)
{
	(void)out; /* the writer has fd 3 */
	t_read_pages_reset(); /* nothing read ahead before this dump is taken */
	struct chunk_src src = { "dump-pages", read_task, pid, -1, task, REC_PAGES, REC_PAGES_LZ4 };
	return dump_runs(&src, runs, n, digest, bytes, records);
}

int object_dump(int fd, uint32_t obj, const struct page_run *runs, size_t n, int out,
		uint32_t *digest, uint64_t *bytes, uint64_t *records)
{
	(void)out;
	struct chunk_src src = { "dump-object", read_object, 0, fd, obj, REC_OBJECT, REC_OBJECT_LZ4 };
	return dump_runs(&src, runs, n, digest, bytes, records);
}
