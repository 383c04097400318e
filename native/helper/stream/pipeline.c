/* Page-record pipeline: the helper moves pages between tasks and slots while a forked io
 * process moves slots to or from the image fd, so both run at once (on two CPUs).
 *
 * Slots live in one MAP_SHARED area made before the fork; each holds whole records: frame
 * (16 bytes), page header (16 bytes), up to MAX_CHUNK_PAGES pages (the reader packs several
 * small records into one slot). Slot numbers travel over pipes (messages far below PIPE_BUF,
 * so atomic); a dead peer shows as EOF. The helper stays single-threaded: the io process is a
 * plain fork that only reads or writes the image fd.
 *
 *   writer (checkpoint): helper fills a slot (process_vm_readv, crc) and submits it; the
 *                        writer write()s slots in submission order and hands them back.
 *                        A checkpoint with little to write starts without the io process: the
 *                        helper writes each slot itself as it submits it (direct), until
 *                        DIRECT_BYTES went that way; then the io process is forked (see
 *                        pl_writer_start).
 *                        When the writer is about to run out of work (one slot or none
 *                        queued), the helper gives it the next chunk to fill itself (an
 *                        order: task, address, pages; one at a time), so reading and
 *                        checksumming (and compressing) run on both CPUs when writing is not
 *                        the limit; when it is, the writer always has slots queued and gets
 *                        no orders.
 *   reader (restart):    the reader read()s records in stream order into free slots, checks
 *                        their length and kind and computes their crc; the helper consumes
 *                        them (process_vm_writev) and hands them back. It stops after the
 *                        trailer or at the first bad or short record. */
#define _GNU_SOURCE
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "proto.h"

struct msg {
	int slot;
	int status; /* PR_* for the reader, an errno for the writer */
	uint64_t len;
	uint32_t crc;
	uint32_t pad;
	int op; /* writer: MSG_WRITE, MSG_ORDER (fill first), MSG_READ_FAILED (an order's reading) */
	uint32_t off; /* reader: where the record starts in the slot; a release: len is a count */
	struct pl_order order;
};
enum { MSG_WRITE, MSG_ORDER, MSG_READ_FAILED };

long (*pl_fill)(unsigned char *slot, const struct pl_order *o);
void (*pl_written)(unsigned char *slot, size_t len);
static int orders; /* orders in flight */
static uint64_t failed_read;
static int writer_err; /* the writer failed (and is gone): every later call says why */

static unsigned char *area;
static pid_t io_pid = -1;
static int to_io = -1, from_io = -1; /* the helper's ends */
static int free_slots[PL_SLOTS], nfree;
/* the helper writes slots itself (no io process yet): to this fd, and how much so far (see
 * pl_writer_start) */
#define DIRECT_BYTES (16ULL << 20)
static int direct_out = -1;
static uint64_t direct_bytes;
static int in_flight;

unsigned char *pl_slot(int i)
{
	return area + (size_t)i * PL_SLOT_SIZE;
}

static int msg_read(int fd, struct msg *m)
{
	for (;;) {
		ssize_t n = read(fd, m, sizeof *m);
		if (n == (ssize_t)sizeof *m)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			errno = EPIPE; /* the peer is gone */
		return -1;
	}
}

static int msg_write(int fd, const struct msg *m)
{
	for (;;) {
		ssize_t n = write(fd, m, sizeof *m);
		if (n == (ssize_t)sizeof *m)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			errno = EPIPE;
		return -1;
	}
}

/* Forks the io process running body(fd, rd, wr); the helper keeps the other pipe ends. */
/* The slots, shared with the io process (made before its fork). */
static int ring(void)
{
	if (!area) {
		area = mmap(NULL, (size_t)PL_SLOTS * PL_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (area == MAP_FAILED) {
			area = NULL;
			return -1;
		}
	}
	return 0;
}

static int start(int fd, void (*body)(int fd, int rd, int wr))
{
	if (ring() < 0)
		return -1;
	int down[2], up[2];
	if (pipe2(down, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(up, O_CLOEXEC) < 0) {
		close(down[0]);
		close(down[1]);
		return -1;
	}
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(down[1]);
		close(up[0]);
		body(fd, down[0], up[1]);
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	io_pid = p;
	to_io = down[1];
	from_io = up[0];
	nfree = 0;
	in_flight = 0;
	return 0;
}

void pl_stop(void)
{
	direct_out = -1;
	if (io_pid < 0)
		return;
	close(to_io);
	close(from_io);
	to_io = from_io = -1;
	kill(io_pid, SIGKILL);
	while (waitpid(io_pid, NULL, 0) < 0 && errno == EINTR)
		;
	io_pid = -1;
}

/* ---- writer ---- */

static void writer_body(int out, int rd, int wr)
{
	struct msg m;
	while (msg_read(rd, &m) == 0) {
		if (m.op == MSG_ORDER) {
			long n = pl_fill(pl_slot(m.slot), &m.order);
			if (n < 0) {
				m.status = errno ? errno : EIO;
				m.op = MSG_READ_FAILED;
				msg_write(wr, &m);
				_exit(1);
			}
			m.len = (uint64_t)n;
		}
		m.status = write_full(out, pl_slot(m.slot), m.len) < 0 ? (errno ? errno : EIO) : 0;
		if (msg_write(wr, &m) < 0 || m.status)
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
	if (start(out, writer_body) < 0)
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
	if (bytes > DIRECT_BYTES)
		return go_parallel(out);
	if (ring() < 0)
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
static int writer_failed(const struct msg *m)
{
	failed_read = m->op == MSG_READ_FAILED ? m->order.addr : 0;
	errno = writer_err = m->status;
	return -1;
}

/* One slot back from the writer; its failure is the caller's error. */
static int writer_collect(void)
{
	struct msg m;
	if (writer_err)
		return errno = writer_err, -1;
	if (msg_read(from_io, &m) < 0)
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
	struct msg m;
	if (writer_err)
		return errno = writer_err, -1;
	while (msg_read(from_io, &m) == 0)
		if (m.status)
			return writer_failed(&m);
	failed_read = 0;
	errno = EPIPE;
	return -1;
}

static int send_msg(struct msg *m)
{
	if (msg_write(to_io, m) < 0)
		return writer_gone();
	in_flight++;
	return 0;
}

int pl_writer_submit(int slot, size_t len)
{
	if (direct_out >= 0)
		return direct_write(slot, len);
	struct msg m = { .slot = slot, .len = len, .op = MSG_WRITE };
	return send_msg(&m);
}

int pl_writer_order(int slot, const struct pl_order *o)
{
	struct msg m = { .slot = slot, .op = MSG_ORDER, .order = *o };
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
	struct pollfd p = { .fd = from_io, .events = POLLIN };
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

/* ---- reader ---- */

/* Records are packed into the slots one after the other (64-byte aligned; a record goes to a
 * free slot when it does not fit after the ones before it), so many small records (10,000
 * one-page mappings) share a slot and the reader can run far ahead of the helper instead of
 * waiting for a slot back after every fourth record. A slot is free again once the helper
 * has given back every record in it (a release message carries a count) and the reader has
 * moved on from it. Records go after others in the first PACK_MAX bytes of a slot only: the
 * rest of the slots stays untouched (and out of the resident memory) unless records are large. */
#define PACK_MAX (64u << 10)
static void reader_body(int in, int rd, int wr)
{
	int nf = 0, fr[PL_SLOTS], users[PL_SLOTS] = { 0 }, cur = -1;
	size_t at = 0;
	for (int i = 0; i < PL_SLOTS; i++)
		fr[nf++] = i;
	for (;;) {
		struct msg m = { 0 };
		struct pl_frame fh;
		long got = read_full(in, &fh, sizeof fh);
		int ok = got == (long)sizeof fh;
		if (!ok) {
			m.status = got < 0 ? PR_ERROR : PR_EOF;
			m.pad = got < 0 ? (uint32_t)errno : 0;
			memset(&fh, 0, sizeof fh);
		} else if (fh.kind != PL_KIND_PAGES && fh.kind != PL_KIND_OBJECT && fh.kind != PL_KIND_SHM &&
			   fh.kind != PL_KIND_PAGES_LZ4 && fh.kind != PL_KIND_OBJECT_LZ4 && fh.kind != PL_KIND_TRAILER) {
			m.status = PR_BAD_KIND;
			ok = 0;
		} else if (fh.len > (fh.kind == PL_KIND_TRAILER ? PL_TRAILER_MAX : PL_SLOT_SIZE - sizeof fh)) {
			m.status = PR_TOO_LONG;
			ok = 0;
		}
		size_t need = sizeof fh + (ok ? (size_t)fh.len : 0);
		if (cur < 0 || at + need > (at ? PACK_MAX : PL_SLOT_SIZE)) { /* a free slot: wait for one back */
			if (cur >= 0 && users[cur] == 0)
				fr[nf++] = cur;
			cur = -1;
			while (nf == 0) {
				struct msg back;
				if (msg_read(rd, &back) < 0 || back.slot < 0 || back.slot >= PL_SLOTS ||
				    (users[back.slot] -= (int)back.len) < 0)
					_exit(0);
				if (users[back.slot] == 0)
					fr[nf++] = back.slot;
			}
			cur = fr[--nf];
			at = 0;
		}
		unsigned char *s = pl_slot(cur) + at;
		memcpy(s, &fh, sizeof fh);
		m.slot = cur;
		m.off = (uint32_t)at;
		if (ok) {
			got = read_full(in, s + sizeof fh, fh.len);
			if (got != (long)fh.len) {
				m.status = got < 0 ? PR_ERROR : PR_SHORT;
				m.pad = got < 0 ? (uint32_t)errno : 0;
				m.len = got < 0 ? 0 : (uint64_t)got;
			} else {
				m.status = PR_OK;
				m.len = fh.len;
				m.crc = ucr_crc32c(0, s + sizeof fh, fh.len);
			}
		}
		users[cur]++;
		at += (need + 63) & ~(size_t)63;
		if (msg_write(wr, &m) < 0 || m.status != PR_OK || fh.kind == PL_KIND_TRAILER)
			break;
	}
	/* wait until the helper is done with the slots (EOF), so none is reused under it */
	struct msg m;
	while (msg_read(rd, &m) == 0)
		;
	_exit(0);
}

/* The helper gives records back by slot: the records of one slot, consumed in a row, go back
 * as one message once it takes a record of another slot. Only the slot of the last record
 * taken is ever held back, never the others the waiting reader needs. */
static int rel_slot = -1, rel_n;

static int release_flush(void)
{
	if (!rel_n)
		return 0;
	struct msg m = { .slot = rel_slot, .len = (uint64_t)rel_n };
	rel_n = 0;
	return msg_write(to_io, &m);
}

int pl_reader_start(int in)
{
	rel_n = 0;
	return start(in, reader_body);
}

int pl_reader_next(struct pl_record *r)
{
	struct msg m;
	if (msg_read(from_io, &m) < 0) {
		r->status = PR_ERROR;
		r->err = errno;
		return -1;
	}
	r->slot = m.slot;
	r->status = m.status;
	r->err = (int)m.pad;
	r->len = m.len;
	r->crc = m.crc;
	r->frame = (struct pl_frame *)(pl_slot(m.slot) + m.off);
	r->payload = pl_slot(m.slot) + m.off + sizeof(struct pl_frame);
	return 0;
}

int pl_reader_release(int slot)
{
	if (rel_n && slot != rel_slot && release_flush() < 0)
		return -1;
	rel_slot = slot;
	rel_n++;
	return 0;
}
