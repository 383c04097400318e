/* The spooled image: when the image comes through a pipe from a checkpoint that frees the pids
 * only once its reader has the whole image (`checkpoint --kill`, `--kill-after-ack`), the rest of
 * the stream (page records and trailer) is copied into a memfd first, which then stands in for
 * fd 3. Copied record by record up to the trailer, each checked like the reader pipeline checks
 * it (kind, length, checksum) and counted, so the coordinator can verify the trailer (and, asked
 * to, acknowledge the image) before it waits for the pids: `spooled`. Then the stream must end:
 * data after the trailer is refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crc32c.h"
#include "image.h"
#include "pipeline.h"
#include "proto.h"
#include "proto_gen.h"
#include "restore.h"

int spool_image(uint32_t seed)
{
	int mfd = (int)syscall(SYS_memfd_create, "ucr-image", 1U /* MFD_CLOEXEC */);
	if (mfd < 0)
		return proto_fail("spool", "memfd", errno, "cannot create a memfd for the image");
	enum { BUF = 1 << 20 };
	static unsigned char buf[BUF];
	uint32_t digest = seed;
	uint64_t bytes = 0, shmbytes = 0, records = 0;
	char *trailer = NULL;
	while (!trailer) {
		struct rec_frame f;
		long n = read_full(3, &f, sizeof f);
		if (n < 0)
			return proto_fail("spool", "image", errno, "cannot read the image");
		if (n != (long)sizeof f)
			return proto_fail("spool", "image", 0, "truncated image: it ends before its trailer");
		if (f.kind != REC_PAGES && f.kind != REC_OBJECT && f.kind != REC_SHM && f.kind != REC_PAGES_LZ4 &&
		    f.kind != REC_OBJECT_LZ4 && f.kind != REC_TRAILER)
			return proto_fail("spool", "image", 0, "corrupt image: unexpected record kind %u", f.kind);
		if (f.len > (f.kind == REC_TRAILER ? PL_TRAILER_MAX : PL_SLOT_SIZE - sizeof f) ||
		    (f.kind != REC_TRAILER && f.len < sizeof(struct pages_hdr)))
			return proto_fail("spool", "image", 0, "corrupt image: a record of %llu bytes", (unsigned long long)f.len);
		if (write_full(mfd, &f, sizeof f) < 0)
			return proto_fail("spool", "memfd", errno, "cannot store the image (out of memory?)");
		uint32_t crc = 0;
		struct pages_hdr h = { 0 };
		for (uint64_t done = 0; done < f.len;) {
			size_t want = f.len - done < BUF ? (size_t)(f.len - done) : BUF;
			n = read_full(3, buf, want);
			if (n < 0)
				return proto_fail("spool", "image", errno, "cannot read the image");
			if (n != (long)want)
				return proto_fail("spool", "image", 0, "truncated image: a record is cut short");
			if (!done && f.kind != REC_TRAILER)
				memcpy(&h, buf, sizeof h);
			if (f.kind == REC_TRAILER && !(trailer = hex_dup(buf, want)))
				return proto_fail("spool", "image", ENOMEM, "out of memory");
			if (write_full(mfd, buf, want) < 0)
				return proto_fail("spool", "memfd", errno, "cannot store the image (out of memory?)");
			crc = ucr_crc32c(crc, buf, want);
			done += want;
		}
		if (crc != f.crc)
			return proto_fail("spool", "image", 0, "corrupt image: checksum mismatch in a record");
		if (f.kind == REC_TRAILER)
			break;
		digest = digest_add(digest, f.crc);
		records++;
		if (f.kind == REC_SHM)
			shmbytes += f.len - sizeof h;
		else
			bytes += (uint64_t)h.npages * PAGE_SZ;
	}
	EMIT_SPOOLED(.bytes = bytes, .shmbytes = shmbytes, .records = records, .digest = digest, .trailer = trailer);
	free(trailer);
	/* the producer ends the stream once it has what it waits for (its reader drained the pipe,
	 * or this restart's acknowledgement): nothing may come after the trailer */
	if (image_eof(3) < 0)
		return -1;
	if (lseek(mfd, 0, SEEK_SET) < 0 || dup2(mfd, 3) < 0)
		return proto_fail("spool", "memfd", errno, "cannot rewind the spooled image");
	close(mfd);
	return 0;
}
