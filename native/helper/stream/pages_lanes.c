/* The restart's page stream from an image file on tmpfs (or a spooled image's memfd), in two
 * lanes, one per CPU.
 *
 * Such an image is in memory already: reading it costs a copy at memory speed, and what bounds
 * the restart is putting the pages into the tasks (UFFDIO_COPY allocates and copies every page,
 * restore_uffd.c) and checksumming them. The reader pipeline (pipeline.c) does the reading and
 * checksums in one process and the copies in the other, so the copies, the larger half, were
 * all on one CPU; here both lanes do both, for every other record:
 *
 *   the helper  walks the records in stream order: reads each frame and page header (pread
 *               into its window: a record's head, or 256 KiB ahead while records are small),
 *               checks them against the runs exactly as for the pipeline (pr_check: order,
 *               task, address, length), keeps the digest and counters, and takes half the
 *               bytes of the large task page records (each to the lane that has had fewer of
 *               them so far), and one group of small ones in three, itself; objects,
 *               LZ4 and SHM records and the trailer too (read whole, checksum, then put);
 *   the worker  a fork made once the tasks' userfaultfds are taken (it has them, and the plan):
 *               the other large records and groups, sent on a pipe, in order.
 *
 * Small records (at most 64 KiB of pages: one-page mappings) go in groups, read with one pread
 * (lanes_records.c). The lanes read a large record's page data through a shared read-only mapping of the file (no copy into a
 * buffer first): a lane hands a piece of PIECE bytes, where it lies in the page cache, to
 * UFFDIO_COPY and checksums the same bytes while they are in the CPU's cache, one copy per page;
 * the record's checksum is compared at its end, and its range is unmapped again (MADV_DONTNEED:
 * the lanes' resident size stays one record each, the page cache is untouched). Anyone who can
 * write the file while it is read can make the bytes copied differ from the bytes checksummed;
 * that gives them nothing they could not have by writing a different image before the restart
 * (the checksums are no signature, docs/security.md), and what the helper does never depends on
 * the page bytes. What such a writer must not cause is a crash: a truncated file makes a read
 * of the mapping past its new end raise SIGBUS, which the lanes catch (sigsetjmp around each
 * record; the handler only jumps for an address in the mapping) and report as a truncated
 * image, and UFFDIO_COPY or process_vm_writev from there fails with EFAULT, reported the same
 * when the file is found shorter. The frames and headers are read with pread, as before.
 * A mismatch (or any failure) fails the restart as before: pages are only ever put into tasks
 * that have not run and that a failed restart kills, and the coordinator resumes nothing before
 * every record and the trailer are verified. The helper reports its own failure at once (then
 * ends the worker), else the worker's, which it learns when the worker has done every job (one
 * verdict at the end).
 * At the end the fd is left after the trailer, as the pipeline leaves it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "fault.h"
#include "lanes_int.h"
#include "proto.h"

#define LANES_MIN (8UL << 20) /* a smaller stream: the helper alone (no fork) */

static int put_worker(const struct page_sink *sink, const struct job *j, uint64_t at, const unsigned char *buf,
		      size_t len)
{
	return sink->fill(j->h.task, j->pid, j->dest + at, buf, len);
}

static unsigned char *skipbuf; /* --skip-memory: a piece copied to be zeroed in part (the helper only) */

static int put_helper(const struct page_sink *sink, const struct job *j, uint64_t at, const unsigned char *buf,
		      size_t len)
{
	if (sink->nskips) {
		memcpy(skipbuf, buf, len);
		pr_zero_skipped(sink, j->h.task, j->h.addr + at, skipbuf, len);
		buf = skipbuf;
	}
	return sink->fill(j->h.task, j->pid, j->dest + at, buf, len);
}

static int report(const struct verdict *v)
{
	switch (v->code) {
	case L_READ:
		return proto_fail("restore-pages", "image", v->err, "cannot read the image");
	case L_SHORT:
		return proto_fail("restore-pages", "image", 0, "truncated image: page data cut short");
	case L_CRC:
		return pr_crc_failed(v->addr);
	default:
		return pr_fill_failed(v->addr, v->pid, v->err);
	}
}

/* The worker: groups until EOF, then its verdict (the first failure; after one it only drains). */
static void worker_body(int rd, int wr, const struct page_sink *sink)
{
	struct verdict v = { L_OK, 0, 0, 0 };
	static struct group g;
	while (read_full(rd, &g, sizeof g) == (long)sizeof g)
		if (v.code == L_OK && g.n <= GROUP_MAX)
			(void)(g.big ? lane_record(&g.j[0], sink, put_worker, &v) : group_read(&g, sink, put_worker, &v));
	write_full(wr, &v, sizeof v);
	_exit(0);
}

static pid_t wpid = -1;
static int to_w = -1, from_w = -1;

static void worker_start(const struct page_sink *sink)
{
	int down[2], up[2];
	if (pipe2(down, O_CLOEXEC) < 0)
		return;
	if (pipe2(up, O_CLOEXEC) < 0) {
		close(down[0]);
		close(down[1]);
		return;
	}
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(down[1]);
		close(up[0]);
		worker_body(down[0], up[1], sink);
	}
	close(down[0]);
	close(up[1]);
	if (p < 0) { /* the helper alone */
		close(down[1]);
		close(up[0]);
		return;
	}
	wpid = p;
	to_w = down[1];
	from_w = up[0];
}

/* Ends the worker: its verdict if it is to be heard (else it is killed). */
static void worker_end(struct verdict *v)
{
	if (wpid < 0)
		return;
	if (!v)
		kill(wpid, SIGKILL);
	close(to_w);
	if (v && read_full(from_w, v, sizeof *v) != (long)sizeof *v)
		*v = (struct verdict){ L_READ, EPIPE, 0, 0 }; /* it died */
	close(from_w);
	while (waitpid(wpid, NULL, 0) < 0 && errno == EINTR)
		;
	wpid = -1;
}

/* A frame that cannot be read whole, or a record the file is too short for: the pipeline's words. */
static int unreadable(struct pl_frame *f, int status, int err, uint64_t len)
{
	struct pl_record rec = { .status = status, .err = err, .len = len, .frame = f };
	return pr_record_failed(&rec);
}

/* The group being gathered (lanes_int.h), and the helper's window: the file's bytes
 * [wlo, wlo + wlen), read ahead GROUP_WIN at a time while records are small (a record's head
 * alone otherwise). A group's records lie in the window until it is flushed: every read of the
 * window flushes first. */
static struct group pend;
static unsigned char *win;
static uint64_t wlo, wlen;

/* The gathered group to a lane: the worker (two groups in three) or the helper,
 * from its window. */
static int flush(const struct page_sink *sink, int *turn)
{
	if (!pend.n)
		return 0;
	int rc = 0;
	if (wpid >= 0 && (*turn = (*turn + 1) % 3)) { /* the worker takes two groups in three (the helper reads every window) */
		if (write_full(to_w, &pend, sizeof pend) < 0)
			rc = proto_fail("restore-pages", "worker", errno, "the page worker is gone");
	} else {
		struct verdict v;
		if (fault_at("image-cut", 0) || fault_at("image-cut-copy", 0)) /* what follows meets the cut */
			cut_image(pend.lo);
		if (group_from(&pend, win + (pend.lo - wlo), sink, put_helper, &v) < 0)
			rc = report(&v);
	}
	pend.n = 0;
	return rc;
}

/* The window from at on: len bytes at most, fewer where the file ends. */
static int refill(int in, uint64_t at, uint64_t size, uint64_t len, const struct page_sink *sink, int *turn)
{
	if (flush(sink, turn) < 0)
		return -1;
	if (len > GROUP_WIN)
		len = GROUP_WIN;
	if (at + len > size)
		len = size > at ? size - at : 0;
	long got = pread_full(in, win, len, at);
	if (got < 0)
		return unreadable(NULL, PR_ERROR, errno, 0);
	wlo = at;
	wlen = (uint64_t)got;
	return 0;
}

static int walk(int in, uint64_t at, uint64_t size, const struct page_run *runs, size_t n,
		const struct page_sink *sink, uint32_t *digest, uint64_t *bytes, uint64_t *records,
		char **trailer_hex, unsigned char *buf, uint64_t *end)
{
	int turn = 0, small = 1;
	/* large records go to the lane that has had fewer of their bytes (the groups' turn is its
	 * own: toggling it here once left every large record to the worker) */
	uint64_t big_w = 0, big_h = 0;
	wlo = wlen = 0;
	pend.n = 0;
	for (;;) {
		unsigned char head[32];
		struct pl_frame f;
		struct pages_hdr h;
		if ((at < wlo || at + sizeof head > wlo + wlen) &&
		    refill(in, at, size, small ? GROUP_WIN : sizeof head, sink, &turn) < 0)
			return -1;
		uint64_t got = at >= wlo && wlo + wlen > at ? wlo + wlen - at : 0;
		memcpy(head, win + (at - wlo), got < sizeof head ? got : sizeof head);
		if (got < sizeof f)
			return flush(sink, &turn) < 0 ? -1 : unreadable(NULL, PR_EOF, 0, 0);
		memcpy(&f, head, sizeof f);
		if (f.kind != REC_PAGES && f.kind != REC_OBJECT && f.kind != REC_SHM && f.kind != REC_PAGES_LZ4 &&
		    f.kind != REC_OBJECT_LZ4 && f.kind != REC_TRAILER)
			return unreadable(&f, PR_BAD_KIND, 0, 0);
		if (f.len > (f.kind == REC_TRAILER ? PL_TRAILER_MAX : PL_SLOT_SIZE - sizeof f))
			return unreadable(&f, PR_TOO_LONG, 0, 0);
		uint64_t data = at + sizeof f, avail = size > data ? size - data : 0;
		if (avail < f.len)
			return unreadable(&f, PR_SHORT, 0, avail);
		uint64_t frame = at;
		at = data + f.len;
		int task_pages = f.kind == REC_PAGES && f.len >= sizeof h && !pr_is_obj(runs, n);
		if (!task_pages) { /* the record whole, as the pipeline does it */
			if (flush(sink, &turn) < 0)
				return -1;
			if (pread_full(in, buf, f.len, data) != (long)f.len)
				return unreadable(&f, PR_ERROR, errno ? errno : EIO, 0);
			uint32_t crc = ucr_crc32c(0, buf, f.len);
			if (f.kind == REC_TRAILER) {
				*end = at;
				return pr_trailer(&f, buf, crc, n, runs, trailer_hex);
			}
			if (f.kind == REC_SHM) {
				if (pr_shm(&f, buf, crc, n, runs, sink, digest, records) < 0)
					return -1;
				continue;
			}
			if (f.len >= sizeof h)
				memcpy(&h, buf, sizeof h);
			if (pr_check(&f, &h, runs, n, sink) < 0)
				return -1;
			if (crc != f.crc)
				return pr_crc_failed(h.addr);
			if (pr_put(&f, &h, buf + sizeof h, runs, sink) < 0)
				return -1;
			pr_done(&h, crc, runs, sink, digest, bytes, records);
			continue;
		}
		if (got < sizeof head) /* the file was cut after its size was taken */
			return flush(sink, &turn) < 0 ? -1 : unreadable(&f, PR_SHORT, 0, got - sizeof f);
		memcpy(&h, head + sizeof f, sizeof h);
		if (pr_check(&f, &h, runs, n, sink) < 0)
			return -1;
		struct job j = { h, data + sizeof h, pr_dest(&h, runs), f.crc, sink->check_only ? 0 : sink->pids[h.task] };
		small = f.len - sizeof h <= GROUP_RECORD;
		if (small) { /* into the group, read with the window */
			if (at > wlo + wlen && refill(in, frame, size, GROUP_WIN, sink, &turn) < 0)
				return -1;
			if (at > wlo + wlen) {
				struct verdict v = { L_SHORT, 0, h.addr, j.pid };
				return flush(sink, &turn) < 0 ? -1 : report(&v);
			}
			if (pend.n == GROUP_MAX && flush(sink, &turn) < 0)
				return -1;
			if (!pend.n)
				pend = (struct group){ .lo = data, .big = 0 };
			pend.j[pend.n++] = j;
			pend.hi = at;
		} else {
			if (flush(sink, &turn) < 0)
				return -1;
			uint64_t len = f.len - sizeof h;
			if (wpid >= 0 && big_w <= big_h) {
				big_w += len;
				struct group one = { .n = 1, .big = 1 };
				one.j[0] = j;
				if (write_full(to_w, &one, sizeof one) < 0)
					return proto_fail("restore-pages", "worker", errno, "the page worker is gone");
			} else {
				struct verdict v;
				big_h += len;
				if (lane_record(&j, sink, put_helper, &v) < 0)
					return report(&v);
			}
		}
		pr_done(&h, f.crc, runs, sink, digest, bytes, records);
	}
}

int lanes_restore(int in, const struct page_run *runs, size_t n, const struct page_sink *sink,
		  uint32_t *digest, uint64_t *bytes, uint64_t *records, char **trailer_hex)
{
	struct stat st;
	struct statfs sf;
	off_t base = lseek(in, 0, SEEK_CUR);
	if (base < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(in, &sf) < 0 ||
	    sf.f_type != TMPFS_MAGIC)
		return 1;
	static unsigned char *buf; /* a whole record (objects, LZ4, SHM, trailer) or a piece to zero in part */
	if (!buf && !(buf = aligned_alloc(PAGE_SZ, PL_SLOT_SIZE)))
		return 1;
	if (!win && !(win = malloc(GROUP_WIN)))
		return 1;
	void *m = st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, in, 0) : MAP_FAILED;
	if (m == MAP_FAILED)
		return 1;
	img = m;
	img_len = (size_t)st.st_size;
	img_fd = in;
	skipbuf = buf;
	struct sigaction sa = { .sa_sigaction = on_bus, .sa_flags = SA_SIGINFO }, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (!sink->check_only && sink->fill && !sink->nskips && (uint64_t)st.st_size - (uint64_t)base >= LANES_MIN)
		worker_start(sink);
	uint64_t end = 0;
	int rc = walk(in, (uint64_t)base, (uint64_t)st.st_size, runs, n, sink, digest, bytes, records, trailer_hex,
		      buf, &end);
	struct verdict v = { L_OK, 0, 0, 0 };
	worker_end(rc < 0 ? NULL : &v);
	sigaction(SIGBUS, &old, NULL);
	munmap(m, img_len);
	img = NULL;
	img_len = 0;
	img_fd = -1;
	if (rc < 0)
		return -1;
	if (v.code != L_OK) {
		free(*trailer_hex);
		*trailer_hex = NULL;
		return report(&v);
	}
	if (lseek(in, (off_t)end, SEEK_SET) < 0)
		return proto_fail("restore-pages", "image", errno, "cannot read the image");
	return 0;
}
