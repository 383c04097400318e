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

#include "../common/crc32c.h"
#include "../include/ucr_compat.h"
#include "pipeline.h"
#include "proto.h"
#include "tracee.h"

uint32_t digest_add(uint32_t digest, uint32_t crc)
{
	unsigned char b[4] = { (unsigned char)crc, (unsigned char)(crc >> 8), (unsigned char)(crc >> 16),
			       (unsigned char)(crc >> 24) };
	return ucr_crc32c(digest, b, 4);
}

/* The shared zero page's frame number, read from our own pagemap (root sees PFNs). */
static uint64_t zero_pfn(void)
{
	static uint64_t pfn = (uint64_t)-1;
	static int done;
	if (done)
		return pfn;
	done = 1;
	volatile char *p = mmap(NULL, PAGE_SZ, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return pfn;
	(void)p[0];
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;
	if (fd >= 0 && pread(fd, &e, 8, (off_t)((uintptr_t)p / PAGE_SZ * 8)) == 8 && (e & PM_PRESENT) &&
	    (e & PM_PFN_MASK))
		pfn = e & PM_PFN_MASK;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, PAGE_SZ);
	return pfn;
}

int pagemap_runs(pid_t pid, uint64_t start, uint64_t end,
		 void (*emit)(void *ctx, uint64_t addr, uint64_t npages), void *ctx)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	uint64_t zpfn = zero_pfn();
	enum { BATCH = 8192 };
	static uint64_t ent[BATCH];
	uint64_t run_start = 0, run_len = 0;
	for (uint64_t a = start; a < end;) {
		uint64_t n = (end - a) / PAGE_SZ;
		if (n > BATCH)
			n = BATCH;
		ssize_t got = pread(fd, ent, n * 8, (off_t)(a / PAGE_SZ * 8));
		if (got <= 0) {
			int e = got < 0 ? errno : EIO;
			close(fd);
			errno = e;
			return -1;
		}
		n = (uint64_t)got / 8;
		for (uint64_t i = 0; i < n; i++, a += PAGE_SZ) {
			uint64_t e = ent[i];
			int want = (e & (PM_PRESENT | PM_SWAPPED)) && !(e & PM_FILE_OR_SHARED_ANON);
			if (want && (e & PM_PRESENT) && zpfn != (uint64_t)-1 && (e & PM_PFN_MASK) == zpfn)
				want = 0;
			if (want) {
				if (run_len == 0)
					run_start = a;
				run_len++;
			} else if (run_len) {
				emit(ctx, run_start, run_len);
				run_len = 0;
			}
		}
	}
	if (run_len)
		emit(ctx, run_start, run_len);
	close(fd);
	return 0;
}

/* Records go out through the writer pipeline (pipeline.c), packed into slots: the helper reads
 * chunk N+1 from the task while the writer process writes chunk N to the image. */
static int pack_slot = -1;
static size_t pack_len;

static int pack_flush(void)
{
	if (pack_slot < 0 || !pack_len)
		return 0;
	int s = pack_slot;
	pack_slot = -1;
	return pl_writer_submit(s, pack_len);
}

/* Room for a record of len data bytes: where its data goes (frame and header before it). */
static unsigned char *pack_room(size_t len)
{
	static int started;
	if (!started) {
		if (pl_writer_start(3) < 0)
			return NULL;
		started = 1;
	}
	if (pack_slot >= 0 && pack_len + 32 + len > PL_SLOT_SIZE && pack_flush() < 0)
		return NULL;
	if (pack_slot < 0) {
		if ((pack_slot = pl_writer_slot()) < 0)
			return NULL;
		pack_len = 0;
	}
	return pl_slot(pack_slot) + pack_len + 32;
}

/* Completes the record whose data pack_room placed: frame and header, crc, digest. */
static void pack_commit(uint32_t kind, const struct pages_hdr *h, size_t len, uint32_t *digest)
{
	unsigned char *rec = pl_slot(pack_slot) + pack_len;
	memcpy(rec + 16, h, sizeof *h);
	uint32_t crc = ucr_crc32c(0, rec + 16, sizeof *h + len);
	struct rec_frame f = { .kind = kind, .crc = crc, .len = sizeof *h + len };
	memcpy(rec, &f, sizeof f);
	pack_len += 32 + len;
	*digest = digest_add(*digest, crc);
}

/* Everything packed so far is in the image. */
static int pack_done(const char *phase)
{
	if (pack_flush() < 0 || pl_writer_drain() < 0)
		return proto_fail(phase, "image", errno, "cannot write the image");
	return 0;
}

int pages_lz4;
uint64_t pages_stored;

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

/* Completes a chunk read to pack_src: compressed into the slot when that is shorter (kind
 * lz4_kind), else as the raw record. */
static void pack_data(uint32_t kind, uint32_t lz4_kind, const struct pages_hdr *h, size_t len, uint32_t *digest)
{
	if (pages_lz4) {
		unsigned char *room = pl_slot(pack_slot) + pack_len + 32;
		int c = LZ4_compress_default((const char *)pages_scratch(), (char *)room, (int)len, (int)len - 1);
		if (c > 0) {
			pack_commit(lz4_kind, h, (size_t)c, digest);
			pages_stored += (uint64_t)c;
			return;
		}
		memcpy(room, pages_scratch(), len);
	}
	pack_commit(kind, h, len, digest);
	pages_stored += len;
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
		proto_emit("{\"ev\":\"progress\",\"bytes\":%llu}", (unsigned long long)after);
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

/* Every run, in chunks of at most MAX_CHUNK_PAGES, as records of src's kind. */
static int dump_runs(const struct chunk_src *src, const struct page_run *runs, size_t n, uint32_t *digest,
		     uint64_t *bytes, uint64_t *records)
{
	for (size_t r = 0; r < n; r++) {
		for (uint64_t done = 0; done < runs[r].npages;) {
			uint64_t cnt = runs[r].npages - done;
			if (cnt > MAX_CHUNK_PAGES)
				cnt = MAX_CHUNK_PAGES;
			uint64_t at = runs[r].addr + done * PAGE_SZ;
			size_t len = cnt * PAGE_SZ;
			unsigned char *buf = pack_src(len);
			if (!buf)
				return proto_fail(src->phase, "image", errno, "cannot write the image");
			if (src->read(src, buf, at, len) < 0)
				return -1;
			struct pages_hdr h = { .task = src->id, .npages = (uint32_t)cnt, .addr = at };
			pack_data(src->kind, src->lz4_kind, &h, len, digest);
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
	if (t_read_mem(s->pid, addr, buf, len) == 0)
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
