// build: gcc -O2 -g -Wall -Wextra -o aio_unreaped aio_unreaped.c
/*
 * aio_unreaped.c - AIO rings come back with their head, tail and completed events not yet
 * reaped (docs/restart.md, "AIO rings").
 *
 *   aio_unreaped --out FILE [--refuse tail]
 *
 * Context A (io_setup 64): nr + 40 writes submitted one by one, each reaped (and checked) once
 * 60 more were submitted: the ring wrapped past its end, head = nr - 20, tail = 40, the last 60
 * events unreaped (20 before the ring's end, 40 after its start). Context B (io_setup 1): 5
 * writes submitted and reaped: head = tail = 5. After SIGTERM:
 *   - both rings: nr, head and tail as before;
 *   - A's 60 events read from the ring itself (data, obj, res, res2), in order across the wrap;
 *   - more writes submitted to A until the kernel says EAGAIN: the first lands at the old tail,
 *     they never overwrite an unreaped event (60 + their number <= nr - 1: the kernel counts
 *     the restored events' slots) and at least the 4 the context still owes (io_setup asked 64)
 *     are taken;
 *   - every event read with io_getevents (10, then the rest, across the wrap), in order, head
 *     then equal to tail; a last write and its event;
 *   - B: a write lands at slot 5 (tail 6) and io_getevents returns it;
 *   - C (io_setup 64), filled on one CPU until the kernel said EAGAIN (as many events as a
 *     context can hold: the slots below one batch of the kernel's stay in its pool): all of
 *     them there, in order, a further write refused with EAGAIN as before the checkpoint (the
 *     kernel counts the slots of every event put back); once they are read, writes again.
 * --refuse tail: A's ring tail written as tail + nr (not below nr; the kernel reads it mod nr):
 * refused at checkpoint; after SIGTERM the tail is put back and a write and its event still
 * work. (A head written so is brought below nr by the checkpoint's io_getevents probe, as by
 * any io_getevents: dump_aio.c.)
 */
#include "case.h"

#include <linux/aio_abi.h>
#include <sched.h>
#include <sys/syscall.h>

struct ring {
	unsigned id, nr, head, tail, magic, compat, incompat, header_length;
	struct io_event ev[];
};

static long io_setup(unsigned n, aio_context_t *c) { return syscall(SYS_io_setup, n, c); }
static long io_submit(aio_context_t c, long n, struct iocb **i) { return syscall(SYS_io_submit, c, n, i); }
static long io_getevents(aio_context_t c, long min, long n, struct io_event *e) { return syscall(SYS_io_getevents, c, min, n, e, NULL); }

#define KEPT 60   /* events left unreaped in A */
#define PAST 40   /* A's tail: how far past the ring's end the writes went */
#define MORE 1024 /* at most this many writes after the restart */

static int fd;
static char payload[16] = "0123456789abcdef";

/* request i of a set (base: its data's high bits): a write of 1 + i % 8 bytes at 16 * i */
static void prep(struct iocb *cb, unsigned long long base, unsigned i)
{
	memset(cb, 0, sizeof *cb);
	cb->aio_data = base + i;
	cb->aio_lio_opcode = IOCB_CMD_PWRITE;
	cb->aio_fildes = (uint32_t)fd;
	cb->aio_buf = (uint64_t)(uintptr_t)payload;
	cb->aio_nbytes = 1 + i % 8;
	cb->aio_offset = 16LL * i;
}

static long submit(aio_context_t ctx, struct iocb *cb)
{
	struct iocb *list[1] = { cb };
	return io_submit(ctx, 1, list);
}

/* an event of request i of the set at cbs: 0 or what differs */
static const char *same(const struct io_event *e, const struct iocb *cbs, unsigned long long base, unsigned i)
{
	if (e->data != base + i)
		return "data";
	if (e->obj != (uint64_t)(uintptr_t)&cbs[i])
		return "obj";
	if (e->res != (long long)(1 + i % 8) || e->res2 != 0)
		return "res or res2";
	return NULL;
}

static struct iocb full_cbs[1024];

/* Writes into ctx until EAGAIN (from request `from` on, at most 1024 in all), on one CPU: the
 * kernel hands a context's slots to CPUs in batches, and a task moving between CPUs would leave
 * some behind. Returns how many requests the context holds then. */
static unsigned fill(aio_context_t ctx, unsigned from)
{
	cpu_set_t old, one;
	int cpu = 0;
	if (sched_getaffinity(0, sizeof old, &old) < 0)
		case_setup_fail("sched_getaffinity: %s", strerror(errno));
	while (!CPU_ISSET(cpu, &old))
		cpu++;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof one, &one) < 0)
		case_setup_fail("sched_setaffinity: %s", strerror(errno));
	unsigned n = from;
	for (; n < 1024; n++) {
		prep(&full_cbs[n], 0xf10000, n);
		if (submit(ctx, &full_cbs[n]) != 1)
			break;
	}
	int err = errno;
	sched_setaffinity(0, sizeof old, &old);
	if (n == 1024 || err != EAGAIN)
		case_setup_fail("filling a context: %u requests (%s)", n, strerror(err));
	return n;
}

/* C after the restart: its full events in place and no slot more; read, then a write again */
static void check_full(aio_context_t c, unsigned full)
{
	volatile struct ring *rc = (struct ring *)c;
	if (rc->head != 0 || rc->tail != full || full < 64 || full > rc->nr - 1) {
		case_fail("C: head %u tail %u, not 0 and %u (nr %u)", rc->head, rc->tail, full, rc->nr);
		return;
	}
	for (unsigned j = 0; j < full; j++) {
		struct io_event e = rc->ev[j];
		const char *what = same(&e, full_cbs, 0xf10000, j);
		if (what) {
			case_fail("C: event %u read from the ring: its %s differs", j, what);
			return;
		}
	}
	prep(&full_cbs[full], 0xf10000, full);
	if (submit(c, &full_cbs[full]) != -1 || errno != EAGAIN) { /* the kernel counts every restored event */
		case_fail("C: a request taken over a ring that was full (tail %u)", rc->tail);
		return;
	}
	static struct io_event evs[1024];
	long r = io_getevents(c, 1, 1024, evs);
	if (r != (long)full) {
		case_fail("C: io_getevents gave %ld of %u events (%s)", r, full, strerror(errno));
		return;
	}
	for (unsigned j = 0; j < (unsigned)r; j++)
		if (same(&evs[j], full_cbs, 0xf10000, j)) {
			case_fail("C: event %u from io_getevents differs", j);
			return;
		}
	prep(&full_cbs[0], 0xf10000, 0);
	if (submit(c, &full_cbs[0]) != 1 || io_getevents(c, 1, 1, evs) != 1 || evs[0].data != 0xf10000)
		case_fail("C: a write once its events were read: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	const char *refuse = case_arg(argc, argv, "--refuse");
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.data", case_out);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		case_setup_fail("open %s: %s", path, strerror(errno));
	aio_context_t a = 0, b = 0;
	aio_context_t c = 0;
	if (io_setup(64, &a) < 0 || io_setup(1, &b) < 0 || io_setup(64, &c) < 0)
		case_setup_fail("io_setup: %s", strerror(errno));
	volatile struct ring *ra = (struct ring *)a, *rb = (struct ring *)b;
	const unsigned nr = ra->nr, nrb = rb->nr, total = nr + PAST;
	if (nr < 2 * KEPT || nrb <= 6)
		case_setup_fail("rings of %u and %u events", nr, nrb);
	struct iocb *cbs = calloc(total, sizeof *cbs), *more = calloc(MORE, sizeof *more), one;
	struct io_event *evs = calloc(KEPT + MORE, sizeof *evs);
	if (!cbs || !more || !evs)
		case_setup_fail("out of memory");
	for (unsigned i = 0; i < total; i++) {
		prep(&cbs[i], 0xa10000, i);
		if (submit(a, &cbs[i]) != 1)
			case_setup_fail("io_submit %u: %s", i, strerror(errno));
		if (i < KEPT)
			continue;
		const char *e;
		if (io_getevents(a, 1, 1, evs) != 1)
			case_setup_fail("io_getevents %u: %s", i, strerror(errno));
		if ((e = same(evs, cbs, 0xa10000, i - KEPT)))
			case_setup_fail("event %u before the checkpoint: its %s", i - KEPT, e);
	}
	const unsigned head = ra->head, tail = ra->tail;
	if (head != nr - (KEPT - PAST) || tail != PAST)
		case_setup_fail("A's head %u and tail %u, not %u and %u", head, tail, nr - (KEPT - PAST), PAST);
	for (unsigned i = 0; i < 5; i++) {
		prep(&one, 0xb10000, i);
		if (submit(b, &one) != 1 || io_getevents(b, 1, 1, evs) != 1)
			case_setup_fail("B's request %u: %s", i, strerror(errno));
	}
	if (rb->head != 5 || rb->tail != 5)
		case_setup_fail("B's head %u and tail %u", rb->head, rb->tail);
	if (refuse && !strcmp(refuse, "tail"))
		ra->tail = tail + nr; /* the kernel reads it mod nr: the same ring to it */
	unsigned full = fill(c, 0);
	case_ready();
	case_wait_term();

	if (refuse) { /* refused: still the process that was started; the tail back, and a write */
		if (ra->head != head || ra->tail != tail + nr)
			case_fail("head %u and tail %u after the refusal, not %u and %u", ra->head, ra->tail, head, tail + nr);
		ra->tail = tail;
		if (io_getevents(a, KEPT, KEPT, evs) != KEPT)
			case_fail("io_getevents of the %d events: %s", KEPT, strerror(errno));
		prep(&one, 0xc10000, 0);
		if (submit(a, &one) != 1 || io_getevents(a, 1, 1, evs) != 1 || evs[0].data != 0xc10000)
			case_fail("a write after the refusal: %s", strerror(errno));
		case_finish();
		return case_failed;
	}
	if (ra->nr != nr || ra->head != head || ra->tail != tail || ra->magic != 0xa10a10a1)
		case_fail("A: nr %u head %u tail %u, was %u %u %u", ra->nr, ra->head, ra->tail, nr, head, tail);
	else if (rb->nr != nrb || rb->head != 5 || rb->tail != 5)
		case_fail("B: nr %u head %u tail %u, was %u 5 5", rb->nr, rb->head, rb->tail, nrb);
	for (unsigned j = 0; j < KEPT && !case_failed; j++) { /* the ring itself, across its end */
		struct io_event e = ra->ev[(head + j) % nr];
		const char *what = same(&e, cbs, 0xa10000, total - KEPT + j);
		if (what)
			case_fail("unreaped event %u (slot %u) read from the ring: its %s differs", j, (head + j) % nr, what);
	}
	if (case_failed) {
		case_finish();
		return 1;
	}
	unsigned n = 0;
	while (n < MORE) { /* until the kernel has no slot left: never past an unreaped event */
		prep(&more[n], 0xd10000, n);
		if (submit(a, &more[n]) != 1)
			break;
		if (n == 0 && ra->tail != (tail + 1) % nr)
			case_fail("the first write after the restart made tail %u, not %u", ra->tail, (tail + 1) % nr);
		n++;
	}
	if (n == MORE || errno != EAGAIN)
		case_fail("io_submit stopped after %u writes: %s", n, strerror(errno));
	else if (KEPT + n > nr - 1 || n < 64 - KEPT)
		case_fail("%u writes taken with %d events unreaped in a ring of %u", n, KEPT, nr);
	else if (ra->tail != (tail + n) % nr)
		case_fail("tail %u after %u writes from %u", ra->tail, n, tail);
	unsigned got = 0;
	long r = io_getevents(a, 10, 10, evs);
	if (r != 10)
		case_fail("io_getevents of 10: %ld (%s)", r, strerror(errno));
	else if (ra->head != (head + 10) % nr)
		case_fail("head %u after 10 events read, not %u", ra->head, (head + 10) % nr);
	for (got = r > 0 ? (unsigned)r : 0; got < KEPT + n && !case_failed; got += (unsigned)r)
		if ((r = io_getevents(a, 1, KEPT + n - got, evs + got)) <= 0)
			case_fail("io_getevents after %u events: %ld (%s)", got, r, strerror(errno));
	for (unsigned j = 0; j < KEPT + n && !case_failed; j++) {
		const char *what = j < KEPT ? same(&evs[j], cbs, 0xa10000, total - KEPT + j) : same(&evs[j], more, 0xd10000, j - KEPT);
		if (what)
			case_fail("event %u from io_getevents: its %s differs", j, what);
	}
	if (!case_failed && (ra->head != ra->tail || ra->tail != (tail + n) % nr))
		case_fail("head %u and tail %u once every event was read", ra->head, ra->tail);
	prep(&one, 0xe10000, 3);
	if (!case_failed && (submit(a, &one) != 1 || io_getevents(a, 1, 1, evs) != 1 || evs[0].data != 0xe10003 || evs[0].obj != (uint64_t)(uintptr_t)&one || evs[0].res != 4))
		case_fail("a last write through A: %s", strerror(errno));
	prep(&one, 0xb10000, 0);
	if (!case_failed && (submit(b, &one) != 1 || rb->tail != 6))
		case_fail("B: a write after the restart: tail %u (%s)", rb->tail, strerror(errno));
	else if (!case_failed && (io_getevents(b, 1, 1, evs) != 1 || evs[0].data != 0xb10000 || rb->head != 6))
		case_fail("B: its event after the restart (head %u)", rb->head);
	if (!case_failed)
		check_full(c, full);
	case_finish();
	return case_failed;
}
