/* How a lane does its task page records (lanes_int.h; the walk and the worker are
 * pages_lanes.c's): a large record through the read-only mapping of the image, a small one in a
 * group.
 *
 * Groups: a process of 10,000 one-page mappings has 10,000 records of 4 KiB. Through the mapping
 * each cost a populate, an unmap and its TLB flush, and a pread of its head; in a group the helper
 * reads heads and data of many records with one pread into its window, and the worker reads a
 * group it is given with one pread. Checks and outcome as for a record read through the mapping:
 * every record's checksum before its pages are put, a file cut meanwhile is a truncated image. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "fault.h"
#include "lanes_int.h"

#define PIECE (256UL << 10)
#define AROUND (2UL << 20)
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

long pread_full(int fd, void *buf, size_t len, uint64_t at)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(at + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (long)done;
}

/* The image file, mapped whole (read-only, shared) for the lanes' page data. */
const unsigned char *img;
size_t img_len;
int img_fd = -1;
static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;

void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	const unsigned char *a = si->si_addr;
	if (bus_armed && a >= img && a < img + img_len)
		siglongjmp(bus_env, 1);
	signal(sig, SIG_DFL); /* not ours: the default action when the access is retried */
}

/* The file is shorter than off now (it was cut while being read). */
int cut_before(uint64_t off)
{
	struct stat st;
	return fstat(img_fd, &st) == 0 && (uint64_t)st.st_size < off;
}

/* Tests (UCR_FAULT=image-cut, image-cut-copy): the image file is cut where this record's data
 * starts, as a writer of the file could do while it is read (only ever shorter). */
void cut_image(uint64_t at)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/self/fd/%d", img_fd);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > at && ftruncate(fd, (off_t)at) < 0)
		(void)0; /* not cut: the test sees the restart succeed */
	close(fd);
}

/* One task page record of a lane: pieces checksummed where they are mapped, put (put: -1 with
 * errno); the record's range unmapped again. */
int lane_record(const struct job *j, const struct page_sink *sink,
		       int (*put)(const struct page_sink *, const struct job *, uint64_t, const unsigned char *, size_t),
		       struct verdict *v)
{
	size_t len = (size_t)j->h.npages * PAGE_SZ;
	/* the record's pages, and around them what the kernel's fault-around may have mapped too
	 * (never past a 2 MiB page table): all unmapped again after the record */
	uint64_t lo = j->at & ~(uint64_t)(AROUND - 1), hi = (j->at + len + AROUND - 1) & ~(uint64_t)(AROUND - 1);
	if (hi > img_len)
		hi = (img_len + PAGE_SZ - 1) & ~(uint64_t)(PAGE_SZ - 1); /* the mapping's end */
	if (sigsetjmp(bus_env, 1)) {
		bus_armed = 0;
		madvise((void *)(img + lo), hi - lo, MADV_DONTNEED);
		*v = (struct verdict){ L_SHORT, 0, j->h.addr, j->pid };
		return -1;
	}
	bus_armed = 1;
	uint64_t plo = j->at & ~(uint64_t)(PAGE_SZ - 1), phi = (j->at + len + PAGE_SZ - 1) & ~(uint64_t)(PAGE_SZ - 1);
	madvise((void *)(img + plo), (phi < hi ? phi : hi) - plo, MADV_POPULATE_READ); /* one call, not faults; may fail */
	uint32_t crc = ucr_crc32c(0, &j->h, sizeof j->h);
	int rc = 0;
	for (size_t o = 0; o < len; o += PIECE) {
		size_t l = len - o < PIECE ? len - o : PIECE;
		const unsigned char *piece = img + j->at + o;
		if (!o && fault_at("image-cut-copy", 0)) /* then the copy's reading meets it: EFAULT */
			cut_image(j->at);
		/* the copy first, then the checksum of the same bytes: the copy's reading brought them
		 * into the CPU's cache, where the checksum runs at twice its speed from memory (a
		 * mismatch fails the restart all the same: these tasks never run then) */
		if (!sink->check_only && put(sink, j, o, piece, l) < 0) {
			int err = errno ? errno : EIO;
			if (err == EFAULT && cut_before(j->at + len))
				*v = (struct verdict){ L_SHORT, 0, j->h.addr, j->pid };
			else
				*v = (struct verdict){ L_FILL, err, j->h.addr + o, j->pid };
			rc = -1;
			break;
		}
		if (!o && fault_at("image-cut", 0)) /* then the checksum's reading meets the cut: SIGBUS */
			cut_image(j->at);
		crc = ucr_crc32c(crc, piece, l);
	}
	bus_armed = 0;
	madvise((void *)(img + lo), hi - lo, MADV_DONTNEED);
	if (!rc && crc != j->crc) {
		*v = (struct verdict){ L_CRC, 0, j->h.addr, j->pid };
		rc = -1;
	}
	return rc;
}

/* The group's records of one task after another, with one fillv each (their checksums first). */
static int group_fillv(const struct group *g, const unsigned char *buf, const struct page_sink *sink, struct verdict *v)
{
	struct fill_piece p[GROUP_MAX];
	for (uint32_t i = 0; i < g->n;) {
		uint32_t k = 0, first = i;
		for (; i < g->n && g->j[i].pid == g->j[first].pid && g->j[i].h.task == g->j[first].h.task; i++, k++) {
			const struct job *j = &g->j[i];
			size_t len = (size_t)j->h.npages * PAGE_SZ;
			const unsigned char *payload = buf + (j->at - sizeof j->h - g->lo);
			if (ucr_crc32c(0, payload, sizeof j->h + len) != j->crc)
				return *v = (struct verdict){ L_CRC, 0, j->h.addr, j->pid }, -1;
			p[k] = (struct fill_piece){ j->dest, payload + sizeof j->h, len };
		}
		int bad = 0;
		if (sink->fillv(g->j[first].h.task, g->j[first].pid, p, (int)k, &bad) < 0) {
			const struct job *j = &g->j[first + (uint32_t)bad];
			return *v = (struct verdict){ L_FILL, errno ? errno : EIO, j->h.addr, j->pid }, -1;
		}
	}
	return 0;
}

int group_from(const struct group *g, const unsigned char *buf, const struct page_sink *sink, lane_put put,
	       struct verdict *v)
{
	if (sink->fillv && !sink->check_only && !sink->nskips)
		return group_fillv(g, buf, sink, v);
	for (uint32_t i = 0; i < g->n; i++) {
		const struct job *j = &g->j[i];
		size_t len = (size_t)j->h.npages * PAGE_SZ;
		/* the payload is the header and the pages, as they lie in the file */
		const unsigned char *payload = buf + (j->at - sizeof j->h - g->lo);
		if (ucr_crc32c(0, payload, sizeof j->h + len) != j->crc) {
			*v = (struct verdict){ L_CRC, 0, j->h.addr, j->pid };
			return -1;
		}
		if (!sink->check_only && put(sink, j, 0, payload + sizeof j->h, len) < 0) {
			*v = (struct verdict){ L_FILL, errno ? errno : EIO, j->h.addr, j->pid };
			return -1;
		}
	}
	return 0;
}

int group_read(const struct group *g, const struct page_sink *sink, lane_put put, struct verdict *v)
{
	static unsigned char *buf;
	size_t len = (size_t)(g->hi - g->lo);
	if (!buf && !(buf = malloc(GROUP_WIN)))
		return *v = (struct verdict){ L_READ, ENOMEM, 0, 0 }, -1;
	if (len > GROUP_WIN)
		return *v = (struct verdict){ L_READ, EINVAL, 0, 0 }, -1;
	if (fault_at("image-cut", 0) || fault_at("image-cut-copy", 0)) /* the tests' cut, as for a mapped record */
		cut_image(g->lo);
	long got = pread_full(img_fd, buf, len, g->lo);
	if (got != (long)len) {
		int err = errno ? errno : EIO;
		*v = got >= 0 || cut_before(g->hi) ? (struct verdict){ L_SHORT, 0, g->j[0].h.addr, g->j[0].pid }
						   : (struct verdict){ L_READ, err, 0, 0 };
		return -1;
	}
	return group_from(g, buf, sink, put, v);
}

_Static_assert(sizeof(struct group) <= 4096, "a group is one atomic write to the worker's pipe");
_Static_assert(GROUP_WIN / (sizeof(struct pl_frame) + sizeof(struct pages_hdr) + PAGE_SZ) <= GROUP_MAX, "a window's records fit one group");
