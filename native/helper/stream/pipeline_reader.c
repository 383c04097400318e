/* The restart's half of the page-record pipeline (pipeline.c): records read from the image fd
 * in stream order by the io process, checked and checksummed there, consumed by the helper. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "pipeline_int.h"
#include "proto.h"

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
		struct pl_msg m = { 0 };
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
				struct pl_msg back;
				if (pl_msg_read(rd, &back) < 0 || back.slot < 0 || back.slot >= PL_SLOTS ||
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
		if (pl_msg_write(wr, &m) < 0 || m.status != PR_OK || fh.kind == PL_KIND_TRAILER)
			break;
	}
	/* wait until the helper is done with the slots (EOF), so none is reused under it */
	struct pl_msg m;
	while (pl_msg_read(rd, &m) == 0)
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
	struct pl_msg m = { .slot = rel_slot, .len = (uint64_t)rel_n };
	rel_n = 0;
	return pl_msg_write(pl_io.to, &m);
}

int pl_reader_start(int in)
{
	rel_n = 0;
	return pl_io_start(in, reader_body);
}

int pl_reader_next(struct pl_record *r)
{
	struct pl_msg m;
	if (pl_msg_read(pl_io.from, &m) < 0) {
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
