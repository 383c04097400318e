/* AIO rings (io_setup contexts, `/[aio] (deleted)` in /proc/PID/maps): the `aioring` plan line
 * and the ring made again in the traced task at its map step, once every other mapping exists.
 * The kernel sizes a ring from io_setup's nr_events (at least 4 per possible CPU, doubled, plus
 * 2: 32 bytes of header, 32 per event, rounded up to pages), so nr_events = 64 * pages - 2 gives
 * a ring of exactly the saved size (checked: its header's nr); the kernel places it, and mremap moves it to its old address
 * (the kernel supports moving an aio ring and updates the context's id, which is the ring's
 * address, to match). The ring is fresh: its head and tail are 0, and nothing was pending
 * (checked at checkpoint: src/kernel/memory.ts). docs/restart.md, "AIO rings". */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arch.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

#define AIO_RING_PAGES_MAX 16384 /* 64 MiB: far above aio-max-nr's default (65536 events) */

int on_plan_aioring(struct plan_in *in, struct msg_plan_aioring *m)
{
	TASK(t);
	NEED(m->start < m->end && !(m->start % PAGE_SZ) && !(m->end % PAGE_SZ) && (m->end - m->start) / PAGE_SZ <= AIO_RING_PAGES_MAX);
	struct vma_plan *v = GROW(t->vmas, t->nvmas);
	NEED(v != NULL);
	*v = (struct vma_plan){ .start = m->start, .end = m->end, .prot = PROT_READ | PROT_WRITE, .flags = MAP_SHARED, .is_aio = 1, .obj = -1, .fd = -1 };
	return 0;
}

int restore_aio_ring(const struct vma_plan *m, const char *obj)
{
	uint64_t len = m->end - m->start, pages = len / PAGE_SZ, ctx_id = 0;
	uint32_t hdr[2] = { 0, 0 }; /* struct aio_ring: id, nr */
	long ret;
	uint64_t a = t_scratch_put(&rt, 0, &ctx_id, sizeof ctx_id);
	if (!a)
		return proto_fail("memory", obj, E2BIG, "cannot stage io_setup's context in the scratch area");
	if (t_inject(&rt, SYS_io_setup, pages * 64 - 2, a, 0, 0, 0, 0, &ret) < 0)
		return proto_fail_sys("io_setup", "memory", obj, errno, "cannot drive the task through io_setup");
	if (SYSCALL_FAILED(ret))
		return proto_fail_sys("io_setup", "memory", obj, (int)-ret, "cannot make the AIO context again (%llu events%s)",
				      (unsigned long long)(pages * 64 - 2), -ret == EAGAIN ? ": above /proc/sys/fs/aio-max-nr" : "");
	if (t_read_mem(rt.pid, a, &ctx_id, sizeof ctx_id) < 0 || t_read_mem(rt.pid, ctx_id, hdr, sizeof hdr) < 0)
		return proto_fail("memory", obj, errno, "cannot read the new AIO ring");
	/* a ring of another size (a machine with many more CPUs gives small rings more events) */
	if (hdr[1] != (len - 32) / 32) {
		t_inject(&rt, SYS_io_destroy, ctx_id, 0, 0, 0, 0, 0, &ret);
		return proto_fail("memory", obj, EINVAL, "io_setup made a ring of %u events, the image's has %llu", hdr[1], (unsigned long long)((len - 32) / 32));
	}
	if (ctx_id != m->start) {
		if (t_inject(&rt, SYS_mremap, ctx_id, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, m->start, 0, &ret) < 0)
			return proto_fail_sys("mremap", "memory", obj, errno, "cannot drive the task through mremap");
		if (SYSCALL_FAILED(ret) || (uint64_t)ret != m->start)
			return proto_fail_sys("mremap", "memory", obj, SYSCALL_FAILED(ret) ? (int)-ret : EFAULT, "cannot move the AIO ring to its address");
	}
	return 0;
}
