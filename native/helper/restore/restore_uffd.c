/* Filling a restored task's anonymous memory with UFFDIO_COPY.
 *
 * process_vm_writev into never-touched memory takes each page through the remote fault path
 * (get_user_pages, 16 pages per pin): about 3 GB/s at best here. A userfaultfd of the task's
 * mm lets the helper hand the kernel whole chunks instead: UFFDIO_COPY allocates the pages and
 * copies into them in one pass (about 5 GB/s for 1 GiB on this machine kind, the cost of merely
 * faulting the memory in), and nothing else has to touch the pages first.
 *
 * The steps:
 *   map (tracer)     a task with enough anonymous pages in the image gets a userfaultfd made
 *                    by an injected userfaultfd(2), after its mappings; its fd number goes to
 *                    the helper through ctx.uffd (shared memory);
 *   pages (helper)   the helper takes the fd (pidfd_getfd), asks for UFFD_FEATURE_SIGBUS (a
 *                    fault there gives SIGBUS/EFAULT instead of waiting for a handler, so a
 *                    mistake cannot hang the restart) and registers the task's private
 *                    anonymous mappings that are filled (missing-page mode); page records for
 *                    them go in with UFFDIO_COPY, all others with process_vm_writev;
 *   after the pages  every range is unregistered and the helper's fd closed (also on failure);
 *   finish (tracer)  the task's own fd is closed by an injected close, before anything else.
 *
 * Any failure before the first copy only means the task is filled the old way. Mappings
 * registered are never touched by the task before they are unregistered: it runs nothing but
 * injected calls meanwhile, and its own populate pass (restore_populate) skips such tasks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "image.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct restore_ctx ctx;

#define UFFD_MIN_PAGES 256 /* smaller tasks: process_vm_writev is as fast, with no set-up */

/* A mapping worth a userfaultfd: private, anonymous, filled from the image, of more than one
 * page (a one-page mapping's registering and unregistering cost more than the copy saves:
 * those go in with process_vm_writev, many records in one call, uffd_fillv). */
static int uffd_vma(const struct vma_plan *m)
{
	return !m->path && m->obj < 0 && !m->is_shm && m->fill && (m->flags & MAP_PRIVATE) && !m->moved && m->end - m->start > PAGE_SZ;
}

int uffd_wanted(const struct task_plan *p, int idx)
{
	if (task_image_pages(idx) < UFFD_MIN_PAGES)
		return 0;
	for (int i = 0; i < p->nvmas; i++)
		if (uffd_vma(&p->vmas[i]))
			return 1;
	return 0;
}

/* The helper's side: per task, its fd and the ranges registered. */
struct range {
	uint64_t start, end;
};
static struct task_fill {
	int fd;
	struct range *r;
	int n;
	int last; /* the range the previous record fell in */
} *fills;
static int nfills;

static int by_start(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static void drop(struct task_fill *f)
{
	for (int i = 0; i < f->n; i++) {
		struct uffdio_range rg = { f->r[i].start, f->r[i].end - f->r[i].start };
		ioctl(f->fd, UFFDIO_UNREGISTER, &rg);
	}
	close(f->fd);
	free(f->r);
	f->fd = -1;
	f->r = NULL;
	f->n = 0;
}

/* Takes task idx's userfaultfd and registers its mappings; 0 also when it has none (filled
 * with process_vm_writev then). */
static int take(const struct task_plan *p, int idx, struct task_fill *f)
{
	f->fd = -1;
	int tfd = ctx.uffd[idx];
	if (tfd < 0)
		return 0;
	int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (pidfd < 0)
		return 0;
	f->fd = (int)syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
	close(pidfd);
	if (f->fd < 0)
		return 0;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_SIGBUS };
	f->r = calloc((size_t)p->nvmas, sizeof *f->r);
	if (!f->r || ioctl(f->fd, UFFDIO_API, &api) < 0) {
		drop(f);
		return 0;
	}
	for (int i = 0; i < p->nvmas; i++) {
		const struct vma_plan *m = &p->vmas[i];
		if (!uffd_vma(m))
			continue;
		struct uffdio_register reg = { .range = { m->start, m->end - m->start }, .mode = UFFDIO_REGISTER_MODE_MISSING };
		if (ioctl(f->fd, UFFDIO_REGISTER, &reg) < 0)
			continue; /* that mapping is filled the old way */
		f->r[f->n++] = (struct range){ m->start, m->end };
	}
	qsort(f->r, (size_t)f->n, sizeof *f->r, by_start); /* for covering(): in order already */
	return 0;
}

void uffd_take_all(void)
{
	const struct plan *pl = ctx.plan;
	fills = calloc((size_t)pl->ntasks, sizeof *fills);
	nfills = fills ? pl->ntasks : 0;
	for (int i = 0; i < nfills; i++) {
		fills[i].fd = -1;
		if (pl->tasks[i].kind == TASK_NORMAL)
			take(&pl->tasks[i], i, &fills[i]);
	}
}

void uffd_drop_all(void)
{
	for (int i = 0; i < nfills; i++)
		if (fills[i].fd >= 0)
			drop(&fills[i]);
	free(fills);
	fills = NULL;
	nfills = 0;
}

/* The registered range holding [addr, addr + len), or NULL. The ranges are in address order
 * (the plan's mappings are) and so are a task's page records: the previous record's range or
 * the next one, else a binary search (a linear scan made 10,000 one-page mappings quadratic). */
static const struct range *covering(struct task_fill *f, uint64_t addr, size_t len)
{
	for (int i = f->last; i < f->n && i <= f->last + 1; i++)
		if (f->r[i].start <= addr && addr + len <= f->r[i].end) {
			f->last = i;
			return &f->r[i];
		}
	int lo = 0, hi = f->n; /* the first range with start > addr */
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (f->r[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && addr + len <= f->r[lo - 1].end) {
		f->last = lo - 1;
		return &f->r[lo - 1];
	}
	return NULL;
}

int uffd_fill(uint32_t task, pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct task_fill *f = task < (uint32_t)nfills ? &fills[task] : NULL;
	if (!f || f->fd < 0 || !covering(f, addr, len))
		return t_write_mem(pid, addr, buf, len);
	const unsigned char *src = buf;
	for (size_t done = 0; done < len;) {
		struct uffdio_copy c = { .dst = addr + done, .src = (uint64_t)(uintptr_t)(src + done), .len = len - done };
		if (ioctl(f->fd, UFFDIO_COPY, &c) == 0) {
			done += c.len;
			continue;
		}
		int err = errno;
		if (c.copy > 0) { /* part of it went in */
			done += (size_t)c.copy;
			continue;
		}
		if (err == EAGAIN || err == EINTR)
			continue;
		if (err != EEXIST)
			return errno = err, -1;
		/* that page is there already (nothing puts one there; but if it is): overwrite it */
		if (t_write_mem(pid, addr + done, src + done, PAGE_SZ) < 0)
			return -1;
		done += PAGE_SZ;
	}
	return 0;
}

#define FILLV_IOV 128 /* records per process_vm_writev (IOV_MAX is 1024) */

/* Many small records of one task: those in registered ranges with UFFDIO_COPY, the others
 * gathered into one process_vm_writev (one system call for up to FILLV_IOV records instead of
 * one each); what that call does not write whole is written record by record, as uffd_fill
 * would. */
int uffd_fillv(uint32_t task, pid_t pid, const struct fill_piece *p, int n, int *bad)
{
	struct task_fill *f = task < (uint32_t)nfills ? &fills[task] : NULL;
	struct iovec local[FILLV_IOV], remote[FILLV_IOV];
	int idx[FILLV_IOV], k = 0;
	for (int i = 0; i <= n; i++) {
		int direct = i < n && !(f && f->fd >= 0 && covering(f, p[i].addr, p[i].len));
		if (direct && k < FILLV_IOV) {
			local[k] = (struct iovec){ (void *)p[i].buf, p[i].len };
			remote[k] = (struct iovec){ (void *)(uintptr_t)p[i].addr, p[i].len };
			idx[k++] = i;
			continue;
		}
		if (k) { /* the records gathered so far */
			size_t want = 0;
			for (int j = 0; j < k; j++)
				want += local[j].iov_len;
			if (process_vm_writev(pid, local, (unsigned long)k, remote, (unsigned long)k, 0) != (ssize_t)want)
				for (int j = 0; j < k; j++)
					if (t_write_mem(pid, p[idx[j]].addr, p[idx[j]].buf, p[idx[j]].len) < 0)
						return *bad = idx[j], -1;
			k = 0;
		}
		if (i == n)
			break;
		if (direct) { /* more than IOV_MAX: this one starts the next batch */
			i--;
			continue;
		}
		if (uffd_fill(task, pid, p[i].addr, p[i].buf, p[i].len) < 0)
			return *bad = i, -1;
	}
	return 0;
}
