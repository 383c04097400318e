/* Checkpoint side of copy-on-write sharing (src/kernel/cow.ts): which pages of a child are still
 * the very pages of its parent, shared since the fork and written by neither since. Both are
 * frozen; a page is shared when both pagemaps show it present, anonymous (bit 61 clear) and at
 * the same frame. Frame numbers read 0 without CAP_SYS_ADMIN: then nothing is found shared and
 * every page is saved as the child's own, as before. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "dump.h"
#include "image.h"
#include "proto.h"
#include "proto_gen.h"

static int pagemap_of(uint64_t v, pid_t *pid)
{
	struct dtask *d;
	if (!(d = find_task((pid_t)v)))
		return -1;
	*pid = d->t.pid; /* a live thread of it (the main one may have exited) */
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", *pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

struct runs_text {
	char *buf;
	size_t len, cap;
	int count;
};

/* The runs of [start,end) shared by the two page maps, appended to o; -1 with errno. */
static int shared_range(int cfd, int pfd, uint64_t start, uint64_t end, struct runs_text *o)
{
	enum { BATCH = 4096 };
	static uint64_t ce[BATCH], pe[BATCH];
	uint64_t run = 0, nrun = 0;
	for (uint64_t a = start; a <= end;) {
		uint64_t k = (end - a) / PAGE_SZ > BATCH ? BATCH : (end - a) / PAGE_SZ;
		if (k && (pread(cfd, ce, k * 8, (off_t)(a / PAGE_SZ * 8)) != (ssize_t)(k * 8) ||
			  pread(pfd, pe, k * 8, (off_t)(a / PAGE_SZ * 8)) != (ssize_t)(k * 8))) {
			if (!errno)
				errno = EIO;
			return -1;
		}
		for (uint64_t i = 0; i < k || (i == k && a == end); i++, a += PAGE_SZ) {
			uint64_t x = i < k ? ce[i] : 0, y = i < k ? pe[i] : 0;
			if ((x & PM_PRESENT) && (y & PM_PRESENT) && !((x | y) & PM_FILE_OR_SHARED_ANON) && (x & PM_PFN_MASK) &&
			    (x & PM_PFN_MASK) == (y & PM_PFN_MASK)) {
				if (!nrun++)
					run = a;
				continue;
			}
			if (!nrun)
				continue;
			if (o->len + 64 > o->cap) {
				char *b = realloc(o->buf, o->cap *= 2);
				if (!b) {
					errno = ENOMEM;
					return -1;
				}
				o->buf = b;
			}
			o->len += (size_t)snprintf(o->buf + o->len, o->cap - o->len, "%s[%llu,%llu]", o->count++ ? "," : "",
						   (unsigned long long)run, (unsigned long long)nrun);
			nrun = 0;
		}
	}
	return 0;
}

/* `shared <pid> <parent pid> <start,end,start,end...>`: the runs of those ranges (ascending, a
 * task's mappings) shared with the parent, in one answer (a run never spans two ranges). */
int on_dump_shared(struct dump_in *in, struct msg_dump_shared *m)
{
	(void)in;
	if (m->ranges_count % 2)
		return proto_fail("shared", "command", EINVAL, "bad shared command");
	for (size_t i = 0; i < m->ranges_count; i += 2)
		if (m->ranges[i] >= m->ranges[i + 1] || m->ranges[i] % PAGE_SZ || m->ranges[i + 1] % PAGE_SZ)
			return proto_fail("shared", "command", EINVAL, "bad shared command");
	pid_t cp, pp;
	int cfd = pagemap_of(m->pid, &cp), pfd = cfd < 0 ? -1 : pagemap_of(m->parent, &pp);
	if (cfd < 0 || pfd < 0) {
		int e = errno;
		if (cfd >= 0)
			close(cfd);
		return proto_fail("shared", cfd < 0 ? "process" : "parent", e ? e : ESRCH, "cannot read the page map of a frozen process");
	}
	struct runs_text o = { malloc(4096), 0, 4096, 0 };
	int rc = 0;
	for (size_t i = 0; i < m->ranges_count && o.buf && rc == 0; i += 2) {
		errno = 0;
		if (shared_range(cfd, pfd, m->ranges[i], m->ranges[i + 1], &o) < 0)
			rc = errno == ENOMEM ? proto_fail("shared", "memory", ENOMEM, "no memory")
					     : proto_fail("shared", "pagemap", errno, "cannot read the page maps of %d and %d", cp, pp);
	}
	close(cfd);
	close(pfd);
	if (!o.buf)
		return proto_fail("shared", "memory", ENOMEM, "no memory");
	char *runs = rc == 0 ? proto_json_array(o.buf, o.len) : NULL;
	free(o.buf);
	if (rc == 0 && !runs)
		return proto_fail("shared", "memory", ENOMEM, "no memory");
	if (rc == 0)
		EMIT_SHARED(.start = m->ranges[0], .runs = runs);
	free(runs);
	return rc;
}
