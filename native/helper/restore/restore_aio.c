/* AIO rings (io_setup contexts, `/[aio] (deleted)` in /proc/PID/maps): the `aioring` plan line
 * and the ring made again in the traced task at its map step, once every other mapping exists.
 * The kernel sizes a ring from io_setup's nr_events (at least 4 per possible CPU, doubled, plus
 * 2: 32 bytes of header, 32 per event, rounded up to pages), so nr_events = 64 * pages - 2 gives
 * a ring of exactly the saved size (checked: its header's nr); the kernel places it, and mremap
 * moves it to its old address (the kernel supports moving an aio ring and updates the context's
 * id, which is the ring's address, to match).
 *
 * A fresh ring's head and tail are 0. The kernel keeps the tail it writes the next event at in
 * the context (fs/aio.c ctx->tail, no call sets it) and counts the request slots taken by
 * completed events not yet reaped (reqs_available, completed_events), so a saved head and tail
 * come back by really going there: the task submits `head` requests that complete at once (a
 * read of an empty non-blocking eventfd of its own: an event with -EAGAIN) and reaps them by
 * writing the ring's head (what userspace may do instead of io_getevents), then submits as many
 * as there were events not yet reaped and leaves them unreaped; the saved events are written
 * over theirs, the slots of the requests reaped are zeroed, and the header is checked. The
 * kernel hands slots to CPUs in batches (a task moving between CPUs strands some), so the task
 * is pinned to one CPU meanwhile: it then gets back every number of events a task can have.
 * docs/restart.md, "AIO rings". */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/aio_abi.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "arch.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

#define AIO_RING_PAGES_MAX 16384 /* 64 MiB: far above aio-max-nr's default (65536 events) */
#define AIO_EVENTS_MAX 131072    /* unreaped events of one ring (src/image/validate-vmas.ts) */
#define AIO_BATCH 1024           /* requests per io_submit: their pointers, 8 KiB of scratch */
#define AIO_PTRS_OFF 128         /* in the scratch area: the iocb at 0, its 8-byte buffer at 64 */

int on_plan_aioring(struct plan_in *in, struct msg_plan_aioring *m)
{
	TASK(t);
	NEED(m->start < m->end && !(m->start % PAGE_SZ) && !(m->end % PAGE_SZ) && (m->end - m->start) / PAGE_SZ <= AIO_RING_PAGES_MAX);
	uint64_t nr = (m->end - m->start - 32) / 32;
	NEED(m->has_head == m->has_tail && m->has_tail == m->has_events);
	NEED(!m->has_head || (m->head < nr && m->tail < nr));
	uint64_t n = m->has_head ? (m->tail + nr - m->head) % nr : 0;
	NEED(n <= AIO_EVENTS_MAX && (m->has_events ? m->events_len : 0) == n * 32);
	struct aio_plan *a = GROW(t->aios, t->naios);
	NEED(a != NULL);
	*a = (struct aio_plan){ .head = (uint32_t)m->head, .tail = (uint32_t)m->tail, .nevents = (uint32_t)n };
	NEED(!n || (a->events = malloc(n * 32)) != NULL);
	if (n)
		memcpy(a->events, m->events, n * 32);
	struct vma_plan *v = GROW(t->vmas, t->nvmas);
	NEED(v != NULL);
	*v = (struct vma_plan){ .start = m->start, .end = m->end, .prot = PROT_READ | PROT_WRITE, .flags = MAP_SHARED, .is_aio = t->naios, .obj = -1, .fd = -1 };
	return 0;
}

/* Submits count requests (the iocb pointers staged at ptrs) to the context at ring; reap: each
 * batch is reaped at once by writing the ring's head (the events go from slot *done on). */
static int aio_submit(uint64_t ring, uint64_t ptrs, uint32_t count, int reap, uint32_t *done, const char *what, const char *obj)
{
	for (uint32_t sent = 0; sent < count;) {
		long ret;
		uint32_t n = count - sent < AIO_BATCH ? count - sent : AIO_BATCH;
		if (t_inject(&rt, SYS_io_submit, ring, n, ptrs, 0, 0, 0, &ret) < 0)
			return proto_fail_sys("io_submit", "memory", obj, errno, "cannot drive the task through io_submit");
		if (SYSCALL_FAILED(ret) || ret <= 0 || ret > n)
			return proto_fail_sys("io_submit", "memory", obj, SYSCALL_FAILED(ret) ? (int)-ret : EPROTO,
					      "the kernel takes only %u of the %u requests that put the AIO ring's %s back", sent, count, what);
		sent += (uint32_t)ret;
		*done += (uint32_t)ret;
		if (reap && t_write_mem(rt.pid, ring + 8, done, sizeof *done) < 0) /* struct aio_ring: head */
			return proto_fail("memory", obj, errno, "cannot write the AIO ring's head");
	}
	return 0;
}

/* Writes len bytes (buf, or zeros when NULL: from a zeroed buffer, whose fresh pages cost
 * nothing until read) into the ring's events from slot on, in one write. */
static int aio_slots(uint64_t ring, uint32_t slot, const unsigned char *buf, size_t len, const char *obj)
{
	if (!len)
		return 0;
	unsigned char *zeros = buf ? NULL : calloc(1, len);
	if (!buf && !zeros)
		return proto_fail("memory", obj, ENOMEM, "out of memory");
	int r = t_write_mem(rt.pid, ring + 32 + (uint64_t)slot * 32, buf ? buf : zeros, len), e = errno;
	free(zeros);
	return r < 0 ? proto_fail("memory", obj, e, "cannot write the AIO ring's events") : 0;
}

/* The ring at ring (nr events, fresh) brought to the saved head and tail with the saved events. */
static int aio_fill(const struct aio_plan *a, uint64_t ring, uint32_t nr, const char *obj)
{
	cpu_set_t old, one;
	int pinned = 0;
	if (sched_getaffinity(rt.pid, sizeof old, &old) == 0) {
		int cpu = 0;
		while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &old))
			cpu++;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = sched_setaffinity(rt.pid, sizeof one, &one) == 0;
	}
	long efd, ret;
	int rc = rt_call("memory", "eventfd2", SYSCALL_REQ(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC), &efd);
	if (rc == 0) {
		struct iocb cb = { .aio_lio_opcode = IOCB_CMD_PREAD, .aio_fildes = (uint32_t)efd, .aio_buf = rt.scratch + 64, .aio_nbytes = 8 };
		uint64_t ptrs[AIO_BATCH];
		for (int i = 0; i < AIO_BATCH; i++)
			ptrs[i] = rt.scratch;
		uint32_t done = 0;
		if (!t_scratch_put(&rt, 0, &cb, sizeof cb) || !t_scratch_put(&rt, AIO_PTRS_OFF, ptrs, sizeof ptrs))
			rc = proto_fail("memory", obj, E2BIG, "cannot stage the AIO requests in the scratch area");
		else if (aio_submit(ring, rt.scratch + AIO_PTRS_OFF, a->head, 1, &done, "head", obj) < 0 ||
			 aio_submit(ring, rt.scratch + AIO_PTRS_OFF, a->nevents, 0, &done, "unreaped events", obj) < 0)
			rc = -1;
		if (rt_call("memory", "close", SYSCALL_REQ(SYS_close, (uint64_t)efd), &ret) < 0)
			rc = -1; /* its own eventfd: fails only with the task gone (an earlier failure is the one reported) */
	}
	if (pinned)
		sched_setaffinity(rt.pid, sizeof old, &old);
	if (rc < 0)
		return -1;
	/* the saved events over the requests' (wrapping past the ring's end), the slots of the
	 * requests reaped zeroed: [0, head), or [tail, head) when the events wrapped */
	uint32_t first = a->nevents < nr - a->head ? a->nevents : nr - a->head;
	if (aio_slots(ring, a->head, a->events, (size_t)first * 32, obj) < 0 ||
	    aio_slots(ring, 0, a->events ? a->events + (size_t)first * 32 : NULL, (size_t)(a->nevents - first) * 32, obj) < 0)
		return -1;
	uint32_t stale = a->head + a->nevents >= nr ? a->tail : 0;
	if (aio_slots(ring, stale, NULL, (size_t)(a->head - stale) * 32, obj) < 0)
		return -1;
	uint32_t hdr[4]; /* id, nr, head, tail */
	if (t_read_mem(rt.pid, ring, hdr, sizeof hdr) < 0)
		return proto_fail("memory", obj, errno, "cannot read the AIO ring back");
	if (hdr[1] != nr || hdr[2] != a->head || hdr[3] != a->tail)
		return proto_fail("memory", obj, EPROTO, "the AIO ring came back with head %u and tail %u, not %u and %u", hdr[2], hdr[3], a->head, a->tail);
	return 0;
}

int restore_aio_ring(const struct task_plan *p, const struct vma_plan *m, const char *obj)
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
	const struct aio_plan *s = &p->aios[m->is_aio - 1];
	return s->head || s->tail ? aio_fill(s, m->start, hdr[1], obj) : 0;
}
