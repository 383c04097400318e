/* /proc/PID/smaps for the coordinator's parsers (src/kernel/smaps.ts, native/addon/smaps.cc),
 * condensed as it is read: only a mapping's first line and its VmFlags line are kept (the
 * coordinator parses the same mappings from them as from the whole text; a path's newline is
 * escaped by the kernel: lines are the kernel's records): 10,000 mappings take ~0.8 MB instead
 * of ~7, fewer pages touched here, less to send, copy and scan there.
 *
 * A short one (read whole within SMAPS_STREAM_FROM bytes) goes in the task's `state` frame
 * with its other /proc files. A longer one is streamed: what was kept so far waits, the state is
 * sent, then the rest is read and sent in `smaps` events of whole mappings (each part begins
 * with a mapping's first line) as it is read, so the coordinator classifies the mappings while
 * the kernel makes the text of the next ones (10,000 mappings: ~11 ms of the kernel's). */
#define _GNU_SOURCE
#include <emmintrin.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"
#include "helper.h"
#include "proto.h"
#include "proto_gen.h"

#define SMAPS_READ (256 << 10)        /* a read of the kernel's text */
#define SMAPS_STREAM_FROM (256 << 10) /* text read before the state is sent: more is streamed */
#define SMAPS_PART (48 << 10)         /* kept bytes per `smaps` part (at least) */

/* Whether the line at p (n bytes, its newline included) is one the coordinator's smaps parsers
 * look at (src/kernel/smaps.ts, native/addon/smaps.cc): a mapping's first line (it begins with
 * a lower-case hex digit) or its VmFlags line. Every other line (Size:, Rss:... ~22 of the ~24
 * lines of a mapping) begins with an upper-case letter and is looked at by neither. */
static int smaps_kept(const char *p, size_t n)
{
	char c = p[0];
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (n >= 8 && memcmp(p, "VmFlags:", 8) == 0);
}

/* The whole lines of buf[0, end) that smaps_kept keeps, appended to bin in their order (lines
 * kept one after the other in one piece): where the last whole line ends, or -1 (no memory).
 * The newlines are found 16 bytes at a time (x86_64's SSE2): 10,000 mappings are ~250,000 lines
 * of ~29 bytes, and a memchr call per line cost ~2-3 ms of the helper's `state`. */
static size_t smaps_lines(const char *buf, size_t end, struct sbuf *bin)
{
	size_t line = 0, from = 0, to = 0; /* the line being looked at; the kept lines not yet added */
	const __m128i nl = _mm_set1_epi8('\n');
	size_t i = 0;
	for (;;) {
		unsigned mask;
		if (i + 16 <= end) {
			mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(buf + i)), nl));
		} else if (i < end) {
			mask = 0;
			for (size_t k = i; k < end; k++)
				mask |= (unsigned)(buf[k] == '\n') << (k - i);
		} else {
			break;
		}
		for (; mask; mask &= mask - 1) {
			size_t next = i + (size_t)__builtin_ctz(mask) + 1; /* after this line's newline */
			if (smaps_kept(buf + line, next - line)) {
				if (line != to) { /* not right after the kept lines before */
					if (to > from && sb_bytes(bin, buf + from, to - from) < 0)
						return (size_t)-1;
					from = line;
				}
				to = next;
			}
			line = next;
		}
		i += 16;
	}
	if (to > from && sb_bytes(bin, buf + from, to - from) < 0)
		return (size_t)-1;
	return line;
}

/* The smaps being read: its fd, the text read but not yet looked at (a line not yet whole), how
 * much was read, and (streamed) the kept lines not yet sent and whose they are. */
static struct {
	int fd;
	char *buf;
	size_t cap, have, raw;
	struct sbuf part;
	pid_t proc;
} rd = { .fd = -1 };

static void smaps_close(void)
{
	if (rd.fd >= 0)
		close(rd.fd);
	rd.fd = -1;
	rd.part.len = 0;
}

/* One read of the open smaps, its whole lines kept appended to out: 1 more to read, 0 at its
 * end, -errno. The read buffer is kept from task to task (a line longer than it grows it). */
static int smaps_step(struct sbuf *out)
{
	if (!rd.buf && !(rd.buf = malloc(rd.cap = SMAPS_READ)))
		return -ENOMEM;
	for (;;) {
		if (rd.have == rd.cap) { /* one line fills the buffer */
			char *q = realloc(rd.buf, rd.cap * 2);
			if (!q)
				return -ENOMEM;
			rd.buf = q, rd.cap *= 2;
		}
		ssize_t n = read(rd.fd, rd.buf + rd.have, rd.cap - rd.have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		rd.raw += n > 0 ? (size_t)n : 0;
		int more = n > 0;
		if (n == 0) /* a last line without its newline (the kernel always ends one) */
			n = rd.have ? (rd.buf[rd.have] = '\n', 1) : 0;
		if (n == 0)
			return 0;
		size_t end = rd.have + (size_t)n, at = smaps_lines(rd.buf, end, out);
		if (at == (size_t)-1)
			return -ENOMEM;
		memmove(rd.buf, rd.buf + at, end - at);
		rd.have = end - at;
		if (!more)
			return 0;
		return 1;
	}
}

long smaps_read(const char *path, pid_t proc, struct sbuf *bin, int *streamed)
{
	*streamed = 0;
	smaps_close();
	if ((rd.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	rd.have = rd.raw = 0;
	size_t start = bin->len;
	int r;
	while ((r = smaps_step(bin)) == 1 && rd.raw < SMAPS_STREAM_FROM)
		;
	if (r <= 0) {
		smaps_close();
		if (r < 0)
			bin->len = start;
		return r < 0 ? r : (long)(bin->len - start);
	}
	/* more to come: what was kept so far is the first part, sent after the state */
	if (sb_bytes(&rd.part, bin->p + start, bin->len - start) < 0) {
		smaps_close();
		bin->len = start;
		return -ENOMEM;
	}
	bin->len = start;
	rd.proc = proc;
	*streamed = 1;
	return 0;
}

/* The start of the last mapping's first line in the kept lines p[0, len) (0: none after the
 * first): what comes before it is whole mappings. */
static size_t last_head(const char *p, size_t len)
{
	for (size_t at = len; at > 0; at--)
		if (p[at - 1] == '\n' && at < len && ((p[at] >= '0' && p[at] <= '9') || (p[at] >= 'a' && p[at] <= 'f')))
			return at;
	return 0;
}

int smaps_stream(void)
{
	for (;;) {
		int r = smaps_step(&rd.part);
		if (r < 0) {
			smaps_close();
			return proto_fail_sys("read", "state", "smaps", -r, "cannot read /proc/%d/smaps", rd.proc);
		}
		size_t cut = r == 0 ? rd.part.len : rd.part.len >= SMAPS_PART ? last_head(rd.part.p, rd.part.len) : 0;
		if (cut || r == 0) {
			proto_emit_bin(rd.part.p, cut);
			EMIT_SMAPS(.pid = (uint64_t)rd.proc, .bin = cut, .last = r == 0);
			memmove(rd.part.p, rd.part.p + cut, rd.part.len - cut);
			rd.part.len -= cut;
		}
		if (r == 0) {
			smaps_close();
			return 0;
		}
	}
}
