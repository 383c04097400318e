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
#include "pages_lanes.h"
#include "proto.h"
#include "tracee.h"

/* --skip-memory: the parts of a task's page record inside a skipped range become zeros. */
void pr_zero_skipped(const struct page_sink *sink, uint32_t task, uint64_t addr, unsigned char *buf, size_t len)
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

int pr_record_failed(const struct pl_record *rec)
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

uint64_t pr_want_addr(const struct page_run *runs)
{
	return runs[r].addr + off * PAGE_SZ;
}

int pr_trailer(const struct pl_frame *f, const unsigned char *payload, uint32_t crc, size_t n,
	       const struct page_run *runs, char **trailer_hex)
{
	if (r != n)
		return bad_record("trailer before all pages", pr_want_addr(runs));
	if (crc != f->crc)
		return proto_fail("restore-pages", "trailer", 0, "corrupt image: trailer checksum mismatch");
	*trailer_hex = hex_dup(payload, f->len);
	return 0;
}

int pr_shm(const struct pl_frame *f, const unsigned char *payload, uint32_t crc, size_t n,
	   const struct page_run *runs, const struct page_sink *sink, uint32_t *digest, uint64_t *records)
{
	if (r != n)
		return bad_record("shared memory before all pages", pr_want_addr(runs));
	if (!sink->shm)
		return bad_record("shared memory without System V objects", 0);
	if (sink->shm(payload, f->len, crc, f->crc, digest, sink->check_only, sink->shm_bytes) < 0)
		return -1;
	(*records)++;
	return 0;
}

int pr_check(const struct pl_frame *f, const struct pages_hdr *h, const struct page_run *runs, size_t n,
	     const struct page_sink *sink)
{
	if (f->len < sizeof *h)
		return proto_fail("restore-pages", "image", 0, "truncated or corrupt page record");
	if (r >= n)
		return bad_record("more pages than the metadata lists", h->addr);
	int lz4 = f->kind == REC_PAGES_LZ4 || f->kind == REC_OBJECT_LZ4;
	int is_obj = f->kind == REC_OBJECT || f->kind == REC_OBJECT_LZ4;
	uint64_t raw = (uint64_t)h->npages * PAGE_SZ;
	if (lz4 && !sink->lz4)
		return bad_record("compressed page record in an image without compression", h->addr);
	if (h->task != runs[r].task || h->addr != pr_want_addr(runs) || h->npages == 0 ||
	    is_obj != (runs[r].obj != 0) ||
	    h->npages > MAX_CHUNK_PAGES || h->npages > runs[r].npages - off ||
	    (lz4 ? f->len <= sizeof *h || f->len >= sizeof *h + raw : f->len != sizeof *h + raw) ||
	    (runs[r].obj ? !sink->objknown(h->task) : h->task >= sink->ntasks))
		return bad_record("it does not match the page runs in the metadata", h->addr);
	return 0;
}

uint64_t pr_dest(const struct pages_hdr *h, const struct page_run *runs)
{
	return runs[r].stage ? runs[r].stage + off * PAGE_SZ : h->addr;
}

int pr_is_obj(const struct page_run *runs, size_t n)
{
	return r < n && runs[r].obj != 0;
}

static int pr_task_fill(const struct pages_hdr *h, uint64_t at, unsigned char *buf, size_t len,
			const struct page_run *runs, const struct page_sink *sink);

int pr_put(const struct pl_frame *f, const struct pages_hdr *h, unsigned char *buf, const struct page_run *runs,
	   const struct page_sink *sink)
{
	size_t len = (size_t)h->npages * PAGE_SZ;
	int lz4 = f->kind == REC_PAGES_LZ4 || f->kind == REC_OBJECT_LZ4;
	if (lz4) {
		unsigned char *out = pages_scratch();
		if (!out)
			return proto_fail("restore-pages", "memory", ENOMEM, "no room to decompress pages");
		int got = LZ4_decompress_safe((const char *)buf, (char *)out, (int)(f->len - sizeof *h), (int)len);
		if (got != (int)len) {
			char why[96];
			snprintf(why, sizeof why, "compressed pages do not decompress to %zu bytes", len);
			return bad_record(why, h->addr);
		}
		buf = out;
	}
	if (sink->stored && lz4)
		*sink->stored += f->len - sizeof *h;
	if (sink->check_only)
		return 0; /* inspect --verify: checked, not written */
	if (runs[r].obj) {
		if (sink->objfill(h->task, h->addr, buf, len) < 0) {
			char obj[64];
			snprintf(obj, sizeof obj, "content object %u", h->task);
			return proto_fail("restore-pages", obj, errno ? errno : EIO,
					  "cannot fill it at offset %llu", (unsigned long long)h->addr);
		}
		return 0;
	}
	return pr_task_fill(h, 0, buf, len, runs, sink);
}

static int pr_task_fill(const struct pages_hdr *h, uint64_t at, unsigned char *buf, size_t len,
		 const struct page_run *runs, const struct page_sink *sink)
{
	if (sink->check_only)
		return 0;
	pr_zero_skipped(sink, h->task, h->addr + at, buf, len);
	if (sink->fill(h->task, sink->pids[h->task], pr_dest(h, runs) + at, buf, len) < 0)
		return pr_fill_failed(h->addr + at, sink->pids[h->task], errno);
	return 0;
}

int pr_fill_failed(uint64_t addr, pid_t pid, int err)
{
	char obj[64];
	snprintf(obj, sizeof obj, "memory at 0x%llx", (unsigned long long)addr);
	return proto_fail("restore-pages", obj, err, "cannot write pages into task %d", pid);
}

int pr_crc_failed(uint64_t addr)
{
	return bad_record("checksum mismatch", addr);
}

void pr_done(const struct pages_hdr *h, uint32_t crc, const struct page_run *runs, const struct page_sink *sink,
	     uint32_t *digest, uint64_t *bytes, uint64_t *records)
{
	size_t len = (size_t)h->npages * PAGE_SZ;
	*digest = digest_add(*digest, crc);
	if (sink->progress)
		*sink->progress += h->npages;
	pages_progress(*bytes, *bytes + len);
	*bytes += len;
	(*records)++;
	off += h->npages;
	if (off == runs[r].npages) {
		r++;
		off = 0;
	}
}

static int pages_consume(const struct page_run *runs, size_t n, size_t upto, const struct page_sink *sink,
			 uint32_t *digest, uint64_t *bytes, uint64_t *records, char **trailer_hex)
{
	for (;;) {
		if (!trailer_hex && r >= upto) /* a part only (pages_restore_upto) */
			return 0;
		struct pl_record rec;
		pl_reader_next(&rec);
		if (rec.status != PR_OK)
			return pr_record_failed(&rec);
		const struct pl_frame *f = rec.frame;
		if (f->kind == REC_TRAILER)
			return pr_trailer(f, rec.payload, rec.crc, n, runs, trailer_hex);
		if (f->kind == REC_SHM) { /* System V shared memory, after all pages */
			if (pr_shm(f, rec.payload, rec.crc, n, runs, sink, digest, records) < 0)
				return -1;
		} else {
			struct pages_hdr h;
			if (f->len >= sizeof h)
				memcpy(&h, rec.payload, sizeof h);
			if (pr_check(f, &h, runs, n, sink) < 0)
				return -1;
			if (rec.crc != f->crc)
				return pr_crc_failed(h.addr);
			if (pr_put(f, &h, rec.payload + sizeof h, runs, sink) < 0)
				return -1;
			pr_done(&h, rec.crc, runs, sink, digest, bytes, records);
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
	if (!reading) {
		int rc = lanes_restore(in, runs, n, sink, digest, bytes, records, trailer_hex);
		if (rc != 1)
			return rc;
	}
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
