/* The tracer's part of a task's restart that rebuilds its address space (restore_map), and the
 * task's share of faulting in its own pages while the helper streams them (restore_populate).
 * The rest of the task's state is restore_task.c's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch.h"
#include "ucr_compat.h"
#include "batch.h"
#include "helper.h"
#include "image.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct restore_ctx ctx;

static char vma_obj[64];
static const char *vma_name(const struct vma_plan *m)
{
	snprintf(vma_obj, sizeof vma_obj, "mapping 0x%llx-0x%llx", (unsigned long long)m->start,
		 (unsigned long long)m->end);
	return vma_obj;
}

/* A System V segment attached at its old address with its old flags; a protection changed
 * later with mprotect is put back too. */
static int attach_shm(const struct vma_plan *m, const char *obj)
{
	long ret;
	const struct kind_ops *k = KIND_WITH(ctx.kinds, shm_id);
	int id = k ? k->shm_id(m->shmid) : -1;
	if (id < 0)
		return proto_fail("memory", obj, ENOENT, "shared memory segment %d is not in the plan", m->shmid);
	if (rt_call("memory", "shmat", SYSCALL_REQ(SYS_shmat, (uint64_t)id, m->start, (uint64_t)m->shmflg), &ret) < 0)
		return -1;
	if ((uint64_t)ret != m->start)
		return proto_fail("memory", obj, EFAULT, "shmat placed segment %d elsewhere", id);
	int natural = PROT_READ | (m->shmflg & SHM_RDONLY ? 0 : PROT_WRITE) | (m->shmflg & SHM_EXEC ? PROT_EXEC : 0);
	if (m->prot != natural &&
	    rt_call("memory", "mprotect", SYSCALL_REQ(SYS_mprotect, m->start, m->end - m->start, (uint64_t)m->prot), &ret) < 0)
		return -1;
	return 0;
}

/* Reports the entry of a batch of mappings that failed (tag: the mapping's index). */
static int map_failed(struct task_plan *p, struct batch *b, int bad)
{
	const struct vma_plan *m = &p->vmas[b->tags[bad]];
	int err = bad < b->done ? (int)-(long)b->calls[bad].ret : EPROTO;
	return proto_fail_sys("mmap", "memory", vma_name(m), err, "mmap failed%s%s", m->path ? " for " : "", m->path ? m->path : "");
}

/* Runs the batch of moves (restore_cow.c) and mappings and checks every mmap landed where asked. */
static int map_run(struct task_plan *p, struct batch *b)
{
	int moves = b->n && (b->tags[0] & COW_TAG);
	if (batch_run(b, &rt) < 0)
		return moves ? proto_fail("memory", "mremap", errno, "cannot drive the task through mremap")
			     : proto_fail_sys("mmap", "memory", "mmap", errno, "cannot drive the task through mmap");
	int bad = batch_failed(b);
	if (cow_check(p, b, bad) < 0)
		return -1;
	if (bad >= 0)
		return map_failed(p, b, bad);
	for (int i = 0; i < b->n; i++)
		if (b->calls[i].nr == SYS_mmap && b->calls[i].ret != p->vmas[b->tags[i]].start)
			return proto_fail_sys("mmap", "memory", vma_name(&p->vmas[b->tags[i]]), EFAULT, "mmap placed it elsewhere");
	batch_init(b, 0);
	return 0;
}

/* Every mapping, MAP_FIXED, in as few stops as fit; a file's with the fd the task inherited
 * (opened with its credentials: restore_paths.c). */
static int map_vmas(struct task_plan *p)
{
	static struct batch b;
	batch_init(&b, 0);
	if (cow_moves(p, &b, map_run) < 0) /* in the same stop as the first mappings */
		return -1;
	for (int i = 0; i < p->nvmas; i++) {
		const struct vma_plan *m = &p->vmas[i];
		if (m->moved) /* there already: from the staging window */
			continue;
		if (m->is_aio) /* once every mapping exists (restore_aio.c) */
			continue;
		if (m->is_shm) { /* a System V segment: shmat, after the mappings batched so far */
			if ((b.n && map_run(p, &b) < 0) || attach_shm(m, vma_name(m)) < 0)
				return -1;
			continue;
		}
		if (!batch_room(&b, 0, 1) && map_run(p, &b) < 0)
			return -1;
		int prot = m->fill ? (m->prot | PROT_READ | PROT_WRITE) : m->prot;
		batch_add(&b, SYS_mmap, m->start, m->end - m->start, (uint64_t)prot, (uint64_t)(m->flags | MAP_FIXED),
			  (uint64_t)(int64_t)m->fd, m->fd >= 0 ? m->pgoff : 0, 0, i);
	}
	if (map_run(p, &b) < 0)
		return -1;
	for (int i = 0; i < p->nvmas; i++)
		if (p->vmas[i].is_aio && restore_aio_ring(p, &p->vmas[i], vma_name(&p->vmas[i])) < 0)
			return -1;
	return 0;
}

int restore_map(struct task_plan *p, uint64_t gadget)
{
	long ret;
	if (use_task(p, gadget, "memory") < 0)
		return -1;

	/* The clone inherited the helper's rseq area: dropped first, before its memory goes away;
	 * then everything but the gadget goes, and the [vvar][vvar_vclock][vdso] group comes back
	 * at its old place as one unit: one stop (restore_vdso.c: a task without it, or with parts
	 * of it unmapped or moved). */
	static struct batch b;
	batch_init(&b, 0);
	struct ucr_rseq_configuration rc = { 0 };
	if (ptrace(UCR_PTRACE_GET_RSEQ_CONFIGURATION, rt.pid, (void *)sizeof rc, &rc) > 0 && rc.rseq_abi_pointer)
		batch_add(&b, SYS_rseq, rc.rseq_abi_pointer, rc.rseq_abi_size, RSEQ_FLAG_UNREGISTER, rc.signature, 0, 0, 0, 2);
	int kept; /* mappings of the staging window the task keeps (restore_cow.c) */
	if (cow_unmap_rest(p, gadget, &b, &kept) < 0)
		return -1;
	uint64_t hint = vdso_hint(p, gadget);
	if (hint)
		batch_add(&b, SYS_arch_prctl, ARCH_MAP_VDSO_64, hint, 0, 0, 0, 0, 0, 1);
	if (batch_run(&b, &rt) < 0)
		return proto_fail_sys("munmap", "memory", "munmap", errno, "cannot drive the task through munmap");
	int bad = batch_failed(&b);
	if (bad >= 0) {
		static const char *const whats[] = { "munmap", "arch_prctl(ARCH_MAP_VDSO_64)", "rseq unregister" };
		const char *what = whats[b.tags[bad]];
		return proto_fail("memory", what, bad < b.done ? (int)-(long)b.calls[bad].ret : EPROTO, "%s failed in the task", what);
	}
	int others;
	uint64_t at[3][2];
	if (vdso_scan(rt.pid, &others, at) < 0 || others != 2 + kept) /* the gadget's code and scratch parts */
		return proto_fail("memory", "address space", EBUSY, "mappings survived the unmap");
	if (vdso_settle(p, gadget, hint, at) < 0)
		return -1;

	if (map_vmas(p) < 0)
		return -1;
	/* A userfaultfd for the helper to fill the anonymous memory with (restore_uffd.c); a
	 * failure only means it is filled the old way. */
	int idx = (int)(p - ctx.plan->tasks);
	if (uffd_wanted(p, idx) && t_inject(&rt, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0, &ret) == 0 && ret >= 0)
		ctx.uffd[idx] = (int)ret;
	return 0;
}

#define POPULATE_MIN_PAGES 256 /* smaller tasks are left to the helper alone */
#define POPULATE_CHUNK 512     /* pages per injected madvise: 2 MiB */

uint64_t task_image_pages(int idx)
{
	const struct plan *pl = ctx.plan;
	uint64_t n = 0;
	for (size_t r = 0; r < pl->nruns; r++)
		if (!pl->runs[r].obj && pl->runs[r].task == (uint32_t)idx)
			n += pl->runs[r].npages;
	return n;
}

int restore_populate(struct task_plan *p, int idx, uint64_t gadget)
{
	const struct plan *pl = ctx.plan;
	uint64_t base = 0;
	if (ctx.uffd[idx] >= 0)
		return 0; /* the helper fills it with UFFDIO_COPY: nothing to fault in first */
	if (task_image_pages(idx) < POPULATE_MIN_PAGES)
		return 0;
	for (size_t r = 0; r < pl->nruns; r++)
		base += pl->runs[r].npages; /* the stream's end, in pages */
	if (use_task(p, gadget, "memory") < 0)
		return -1;
	for (size_t r = pl->nruns; r-- > 0;) {
		const struct page_run *run = &pl->runs[r];
		base -= run->npages; /* this run's first page in the stream */
		/* staged: in before the map step; a small run: the helper's write faults it in (10,000
		 * one-page runs would be 10,000 injected calls) */
		if (run->obj || run->stage || run->task != (uint32_t)idx || run->npages < 16)
			continue;
		for (uint64_t end = run->npages; end > 0;) {
			uint64_t start = end > POPULATE_CHUNK ? end - POPULATE_CHUNK : 0;
			if (base + end <= *ctx.progress)
				return 0; /* the helper has written everything from here back */
			long ret; /* an error only means the helper faults these pages in itself */
			if (t_inject(&rt, SYS_madvise, run->addr + start * PAGE_SZ, (end - start) * PAGE_SZ,
				     MADV_POPULATE_WRITE, 0, 0, 0, &ret) < 0)
				return proto_fail_sys("madvise", "memory", "madvise", errno, "cannot drive task %d through madvise", p->pid);
			end = start;
		}
	}
	return 0;
}
