/* The restart's side of the page stream: SHM, OBJECT, PAGES (plain or LZ4) records from the
 * reader pipeline, checked against the runs of the plan and written into the content objects
 * and the tasks, then the trailer (pages.c writes them at checkpoint). */
#define _GNU_SOURCE
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>

#include "pipeline.h"
#include "proto.h"
#include "tracee.h"

/* --skip-memory: the parts of a task's page record inside a skipped range become zeros. */
static void zero_skipped(const struct page_sink *sink, uint32_t task, uint64_t addr, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < sink->nskips; i++) {
		const struct skip_range *s = &sink->skips[i];
		if (s->task >= 0 && (uint32_t)s->task != task)
			continue;
		uint64_t a = s->start > addr ? s->start : addr, b = s->end < addr + len ? s->end : addr + len;
		if (a < b)
			memset(buf + (a - addr), 0, b - a);
	}
}

static int bad_record(const char *what, uint64_t addr)
{
	char obj[64];
	snprintf(obj, sizeof obj, "page record at 0x%llx", (unsigned long long)addr);
	return proto_fail("restore-pages", obj, 0, "corrupt image: %s", what);
}

static int record_failed(const struct pl_record *rec)
{
	uint32_t kind = rec->status == PR_EOF || rec->status == PR_ERROR ? 0 : rec->frame->kind;
	switch (rec->status) {
	case PR_ERROR:
		return proto_fail("restore-pages", "image", rec->err, "cannot read the image");
	case PR_EOF:
		return proto_fail("restore-pages", "image", 0, "truncated image: it ends before its trailer");
	case PR_BAD_KIND:
		return proto_fail("restore-pages", "image", 0, "corrupt image: unexpected record kind %u", kind);
	case PR_TOO_LONG:
		if (kind == REC_TRAILER)
			return proto_fail("restore-pages", "trailer", 0, "corrupt image: trailer too long");
		return proto_fail("restore-pages", "image", 0, "corrupt image: page record too long");
	default: /* PR_SHORT */
		if (kind == REC_TRAILER)
			return proto_fail("restore-pages", "trailer", 0, "truncated image: trailer cut short");
		if (rec->len < sizeof(struct pages_hdr))
			return proto_fail("restore-pages", "image", 0, "truncated or corrupt page record");
		return proto_fail("restore-pages", "image", 0, "truncated image: page data cut short");
	}
}

/* Where the stream is: run r, of which off pages are filled; kept between the calls of a restart
 * that reads part of the stream while the tree is built (pages_restore_upto). */
static size_t r;
static uint64_t off;
static int reading;

static int pages_consume(const struct page_run *runs, size_t n, size_t upto, const struct page_sink *sink,
			 uint32_t *digest, uint64_t *bytes, uint64_t *records, char **trailer_hex)
{
	for (;;) {
		if (!trailer_hex && r >= upto) /* a part only (pages_restore_upto) */
			return 0;
		struct pl_record rec;
		pl_reader_next(&rec);
		if (rec.status != PR_OK)
			return record_failed(&rec);
		const struct pl_frame *f = rec.frame;
		if (f->kind == REC_TRAILER) {
			if (r != n)
				return bad_record("trailer before all pages", runs[r].addr + off * PAGE_SZ);
			if (rec.crc != f->crc)
				return proto_fail("restore-pages", "trailer", 0, "corrupt image: trailer checksum mismatch");
			*trailer_hex = hex_dup(rec.payload, f->len);
			return 0;
		}
		if (f->kind == REC_SHM) { /* System V shared memory, after all pages */
			if (r != n)
				return bad_record("shared memory before all pages", runs[r].addr + off * PAGE_SZ);
			if (!sink->shm)
				return bad_record("shared memory without System V objects", 0);
			if (sink->shm(rec.payload, f->len, rec.crc, f->crc, digest, sink->check_only, sink->shm_bytes) < 0)
				return -1;
			(*records)++;
			if (pl_reader_release(rec.slot) < 0)
				return proto_fail("restore-pages", "reader", errno, "the image reader is gone");
			continue;
		}
		struct pages_hdr h;
		if (f->len < sizeof h)
			return proto_fail("restore-pages", "image", 0, "truncated or corrupt page record");
		memcpy(&h, rec.payload, sizeof h);
		if (r >= n)
			return bad_record("more pages than the metadata lists", h.addr);
		uint64_t want_addr = runs[r].addr + off * PAGE_SZ;
		int lz4 = f->kind == REC_PAGES_LZ4 || f->kind == REC_OBJECT_LZ4;
		int is_obj = f->kind == REC_OBJECT || f->kind == REC_OBJECT_LZ4;
		uint64_t raw = (uint64_t)h.npages * PAGE_SZ;
		if (lz4 && !sink->lz4)
			return bad_record("compressed page record in an image without compression", h.addr);
		if (h.task != runs[r].task || h.addr != want_addr || h.npages == 0 ||
		    is_obj != (runs[r].obj != 0) ||
		    h.npages > MAX_CHUNK_PAGES || h.npages > runs[r].npages - off ||
		    (lz4 ? f->len <= sizeof h || f->len >= sizeof h + raw : f->len != sizeof h + raw) ||
		    (runs[r].obj ? !sink->objknown(h.task) : h.task >= sink->ntasks))
			return bad_record("it does not match the page runs in the metadata", h.addr);
		if (rec.crc != f->crc)
			return bad_record("checksum mismatch", h.addr);
		size_t len = (size_t)raw;
		unsigned char *buf = rec.payload + sizeof h;
		if (lz4) {
			unsigned char *out = pages_scratch();
			if (!out)
				return proto_fail("restore-pages", "memory", ENOMEM, "no room to decompress pages");
			int got = LZ4_decompress_safe((const char *)buf, (char *)out, (int)(f->len - sizeof h), (int)len);
			if (got != (int)len) {
				char why[96];
				snprintf(why, sizeof why, "compressed pages do not decompress to %zu bytes", len);
				return bad_record(why, h.addr);
			}
			buf = out;
		}
		if (sink->stored && lz4)
			*sink->stored += f->len - sizeof h;
		if (sink->check_only) {
			/* inspect --verify: checked, not written */
		} else if (runs[r].obj) {
			if (sink->objfill(h.task, h.addr, buf, len) < 0) {
				char obj[64];
				snprintf(obj, sizeof obj, "content object %u", h.task);
				return proto_fail("restore-pages", obj, errno ? errno : EIO,
						  "cannot fill it at offset %llu", (unsigned long long)h.addr);
			}
		} else if (zero_skipped(sink, h.task, h.addr, buf, len),
			   sink->fill(h.task, sink->pids[h.task], runs[r].stage ? runs[r].stage + off * PAGE_SZ : h.addr, buf, len) < 0) {
			char obj[64];
			snprintf(obj, sizeof obj, "memory at 0x%llx", (unsigned long long)h.addr);
			return proto_fail("restore-pages", obj, errno, "cannot write pages into task %d",
					  sink->pids[h.task]);
		}
		*digest = digest_add(*digest, rec.crc);
		if (sink->progress)
			*sink->progress += h.npages;
		pages_progress(*bytes, *bytes + len);
		*bytes += len;
		(*records)++;
		off += h.npages;
		if (off == runs[r].npages) {
			r++;
			off = 0;
		}
		if (pl_reader_release(rec.slot) < 0)
			return proto_fail("restore-pages", "reader", errno, "the image reader is gone");
	}
}

/* The records come from the reader pipeline (pipeline.c): the reader process reads and checks
 * record N+1 while the helper writes record N into its task. */
int pages_restore(int in, const struct page_run *runs, size_t n, const struct page_sink *sink,
		  uint32_t *digest, uint64_t *bytes, uint64_t *records, char **trailer_hex)
{
	if (!reading && pl_reader_start(in) < 0)
		return proto_fail("restore-pages", "reader", errno, "cannot start the image reader");
	reading = 1;
	int rc = pages_consume(runs, n, n, sink, digest, bytes, records, trailer_hex);
	pl_stop();
	reading = 0;
	return rc;
}

/* The records of runs before upto only (restore_cow.c: staged pages while the tree is built);
 * the reader keeps going for the next call. */
int pages_restore_upto(int in, const struct page_run *runs, size_t n, size_t upto, const struct page_sink *sink,
		       uint32_t *digest, uint64_t *bytes, uint64_t *records)
{
	if (!reading && pl_reader_start(in) < 0)
		return proto_fail("restore-pages", "reader", errno, "cannot start the image reader");
	reading = 1;
	int rc = pages_consume(runs, n, upto, sink, digest, bytes, records, NULL);
	if (rc < 0) {
		pl_stop();
		reading = 0;
	}
	return rc;
}

int image_eof(int in)
{
	char c;
	long n = read_full(in, &c, 1);
	if (n < 0)
		return proto_fail("verify", "image", errno, "cannot read the image");
	if (n > 0)
		return proto_fail("verify", "image", 0, "corrupt image: data after the trailer");
	return 0;
}
