/* The checkpoint's half of the page-record pipeline (pipeline.c): records written to the image
 * fd in the order submitted, by the io process, or by the helper itself while little was
 * written. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "pipeline_int.h"
#include "proto.h"

long (*pl_fill)(unsigned char *slot, const struct pl_order *o);
void (*pl_written)(unsigned char *slot, size_t len);
static int orders; /* orders in flight */
static uint64_t failed_read;
static int writer_err; /* the writer failed (and is gone): every later call says why */
static int free_slots[PL_SLOTS], nfree;
static int in_flight;
/* the helper writes slots itself (no io process yet): to this fd, and how much so far (see
 * pl_writer_start) */
#define DIRECT_BYTES (16ULL << 20)
static int direct_out = -1;
static uint64_t direct_bytes;

/* The output's blocks reserved ahead (pl_writer_reserve): the process doing it, while it may. */
static pid_t reserver = -1;

static void reserve_stop(void)
{
	if (reserver < 0)
		return;
	/* the tests' reserve-wait: the whole range reserved before the first record is written */
	int whole = fault_at("reserve-wait", 0);
	if (whole || waitpid(reserver, NULL, WNOHANG) == 0) {
		if (!whole)
			kill(reserver, SIGKILL);
		while (waitpid(reserver, NULL, 0) < 0 && errno == EINTR)
			;
	}
	reserver = -1;
}

void pl_writer_stopped(void)
{
	direct_out = -1;
	reserve_stop();
}

/* A write into a tmpfs file allocates each page it reaches (about 60% of its time on the
 * machines measured: 24 MiB in 10 ms, 4 ms into pages allocated before; docs/performance.md),
 * under the file's lock. While the tree is captured and the metadata encoded, a process of its
 * own allocates the blocks the page records will fill (fallocate, the file's size kept), from
 * the end of the range down, RESERVE_CHUNK at a time so that a write of the metadata (at the
 * range's start) waits for one chunk at most; it is stopped as the first record is written
 * (from then on it would only take turns with the writer for the file's lock: nothing gained).
 * Only a regular file on tmpfs with room for the range (else the image does not fit either:
 * its writes fail as before, not the metadata's for blocks reserved at the range's end); the
 * range is a lower bound of what follows (the page bytes alone), so no block stays reserved
 * past the image's end. A failure (ENOSPC when another writer took the room...) only ends it. */
#define RESERVE_MIN (1ULL << 20)
#define RESERVE_CHUNK (64ULL << 10)

void pl_writer_reserve(int out, uint64_t bytes)
{
	struct stat st;
	struct statfs sf;
	off_t at;
	if (reserver >= 0 || bytes < RESERVE_MIN || fstat(out, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fstatfs(out, &sf) < 0 || sf.f_type != TMPFS_MAGIC || bytes > (uint64_t)sf.f_bavail * sf.f_bsize ||
	    (at = lseek(out, 0, SEEK_CUR)) < 0)
		return;
	pid_t parent = getpid();
	pid_t p = fork();
	if (p != 0) {
		reserver = p; /* (or -1: nothing reserved) */
		return;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	/* nothing of the helper's but the output: the coordinator sees the helper's pipes close
	 * when it exits, not when this does */
	if (out != 0)
		syscall(SYS_close_range, 0U, (unsigned)out - 1, 0U);
	syscall(SYS_close_range, (unsigned)out + 1, ~0U, 0U);
	for (uint64_t end = bytes; end > 0;) {
		uint64_t start = end > RESERVE_CHUNK ? end - RESERVE_CHUNK : 0;
		if (fallocate(out, FALLOC_FL_KEEP_SIZE, at + (off_t)start, (off_t)(end - start)) < 0)
			break;
		end = start;
	}
	_exit(0);
}

static void writer_body(int out, int rd, int wr)
{
	struct pl_msg m;
	while (pl_msg_read(rd, &m) == 0) {
		if (m.op == MSG_ORDER) {
			long n = pl_fill(pl_slot(m.slot), &m.order);
			if (n < 0) {
				m.status = errno ? errno : EIO;
				m.op = MSG_READ_FAILED;
				pl_msg_write(wr, &m);
				_exit(1);
			}
			m.len = (uint64_t)n;
		}
		m.status = write_full(out, pl_slot(m.slot), m.len) < 0 ? (errno ? errno : EIO) : 0;
		if (pl_msg_write(wr, &m) < 0 || m.status)
			_exit(1);
	}
}

static void writer_reset(void)
{
	nfree = 0;
	for (int i = 0; i < PL_SLOTS; i++)
		free_slots[nfree++] = i;
	in_flight = 0;
	orders = 0;
	failed_read = 0;
	writer_err = 0;
}

/* The io process from now on (nothing is in flight when the helper writes directly). */
static int go_parallel(int out)
{
	direct_out = -1;
	if (pl_io_start(out, writer_body) < 0)
		return -1;
	writer_reset();
	return 0;
}

/* Writing a small image through the io process costs more than it overlaps: its fork, the
 * first touch of every slot it cycles through (shared memory: a fault and a zeroed page each,
 * 4 x 1 MiB ~1.6 ms here) and a CPU for it, which the coordinator checking the image meanwhile
 * also wants (an 8 MiB process: the pages 6.1 ms through the io process, 4.4 ms written by the
 * helper through one slot). So the helper writes each slot itself as it submits it until
 * DIRECT_BYTES went out; the io process starts at once when the first source has more. */
int pl_writer_start(int out, uint64_t bytes)
{
	reserve_stop();
	if (bytes > DIRECT_BYTES)
		return go_parallel(out);
	if (pl_ring() < 0)
		return -1;
	direct_out = out;
	direct_bytes = 0;
	writer_reset();
	return 0;
}

/* A slot written by the helper itself; the io process takes over after DIRECT_BYTES. */
static int direct_write(int slot, size_t len)
{
	if (writer_err)
		return errno = writer_err, -1;
	if (write_full(direct_out, pl_slot(slot), len) < 0) {
		failed_read = 0;
		writer_err = errno ? errno : EIO;
		return errno = writer_err, -1;
	}
	if (pl_written)
		pl_written(pl_slot(slot), len);
	free_slots[nfree++] = slot;
	direct_bytes += len;
	return direct_bytes > DIRECT_BYTES ? go_parallel(direct_out) : 0;
}

/* The writer's failure (m.status): its errno, and which order's reading it was, if any. */
static int writer_failed(const struct pl_msg *m)
{
	failed_read = m->op == MSG_READ_FAILED ? m->order.addr : 0;
	errno = writer_err = m->status;
	return -1;
}

/* One slot back from the writer; its failure is the caller's error. */
static int writer_collect(void)
{
	struct pl_msg m;
	if (writer_err)
		return errno = writer_err, -1;
	if (pl_msg_read(pl_io.from, &m) < 0)
		return -1;
	in_flight--;
	if (m.op != MSG_WRITE)
		orders--;
	if (m.status)
		return writer_failed(&m);
	if (pl_written)
		pl_written(pl_slot(m.slot), m.len);
	free_slots[nfree++] = m.slot;
	return 0;
}

int pl_writer_slot(void)
{
	while (nfree == 0)
		if (writer_collect() < 0)
			return -1;
	return free_slots[--nfree];
}

/* The writer is gone: its last words say why (ENOSPC, EIO...), else the pipe broke. */
static int writer_gone(void)
{
	struct pl_msg m;
	if (writer_err)
		return errno = writer_err, -1;
	while (pl_msg_read(pl_io.from, &m) == 0)
		if (m.status)
			return writer_failed(&m);
	failed_read = 0;
	errno = EPIPE;
	return -1;
}

static int send_msg(struct pl_msg *m)
{
	if (pl_msg_write(pl_io.to, m) < 0)
		return writer_gone();
	in_flight++;
	return 0;
}

int pl_writer_submit(int slot, size_t len)
{
	if (direct_out >= 0)
		return direct_write(slot, len);
	struct pl_msg m = { .slot = slot, .len = len, .op = MSG_WRITE };
	return send_msg(&m);
}

int pl_writer_order(int slot, const struct pl_order *o)
{
	struct pl_msg m = { .slot = slot, .op = MSG_ORDER, .order = *o };
	if (send_msg(&m) < 0)
		return -1;
	orders++;
	return 0;
}

int pl_writer_can_help(void)
{
	if (direct_out >= 0)
		return 0; /* no io process (yet) */
	/* slots the writer is done with are taken back first (they are otherwise only taken back
	 * when the helper runs out of slots), so its queue is seen as it is now */
	struct pollfd p = { .fd = pl_io.from, .events = POLLIN };
	while (in_flight > 0 && poll(&p, 1, 0) == 1)
		if (writer_collect() < 0)
			return 0; /* the failure shows at the next slot or the drain */
	return pl_fill && orders == 0 && in_flight <= 1;
}

uint64_t pl_failed_read(void)
{
	return failed_read;
}

int pl_writer_drain(void)
{
	while (in_flight > 0)
		if (writer_collect() < 0)
			return -1;
	return 0;
}
