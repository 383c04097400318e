/* The /proc files a task's capture parses (src/kernel/dump-task.ts), read here at the end of
 * its `state` (the gadget unmapped: smaps shows the task's own mappings only) and appended to
 * the state's binary frame after the registers: the coordinator reads none of them itself, and
 * this helper reads them while the coordinator works on the tasks before. A file that cannot be
 * read is marked -errno: the coordinator then reads it itself, and fails as it always did.
 * smaps is condensed as it is read (read_smaps). */
#define _GNU_SOURCE
#include <emmintrin.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"
#include "helper.h"
#include "proto.h"

/* In the order of PROC_FILES in src/kernel/dump-task.ts; the last three are symbolic links. */
static const char *const files[] = { "stat", "status", "smaps", "auxv", "personality", "oom_score_adj", "loginuid", "timers", "exe", "cwd", "root" };
#define NLINKS 3

static long read_file(const char *path, struct sbuf *bin)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	long total = 0;
	for (;;) {
		if (bin->cap - bin->len < 16384) {
			size_t cap = bin->cap * 2 + 65536;
			char *q = realloc(bin->p, cap);
			if (!q) {
				close(fd);
				return -ENOMEM;
			}
			bin->p = q, bin->cap = cap;
		}
		ssize_t n = read(fd, bin->p + bin->len, bin->cap - bin->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			bin->len -= (size_t)total;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		bin->len += (size_t)n, total += n;
	}
	close(fd);
	return total;
}

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

/* /proc/PID/smaps with only the lines smaps_kept keeps, in their order: the coordinator parses
 * the same mappings from it as from the whole text (a path's newline is escaped by the kernel:
 * lines are the kernel's records), and 10,000 mappings take ~1 MB instead of ~11: fewer pages
 * touched here, less to send and to copy and scan there. Read through a buffer kept from task
 * to task (a line longer than it grows it). */
static long read_smaps(const char *path, struct sbuf *bin)
{
	static char *buf;
	static size_t cap;
	if (!buf) {
		cap = 256 << 10;
		if (!(buf = malloc(cap)))
			return -ENOMEM;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t have = 0, start = bin->len;
	long err = 0;
	for (;;) {
		if (have == cap) { /* one line fills the buffer */
			char *q = realloc(buf, cap * 2);
			if (!q) {
				err = -ENOMEM;
				break;
			}
			buf = q, cap *= 2;
		}
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0) /* a last line without its newline (the kernel always ends one) */
			n = have ? (buf[have] = '\n', 1) : 0;
		if (n == 0)
			break;
		size_t end = have + (size_t)n, at = smaps_lines(buf, end, bin);
		if (at == (size_t)-1) {
			err = -ENOMEM;
			break;
		}
		memmove(buf, buf + at, end - at);
		have = end - at;
	}
	close(fd);
	if (err) {
		bin->len = start;
		return err;
	}
	return (long)(bin->len - start);
}

/* /proc/PROC/timers as procfs_timer_ids read it at the start of the task's `state` (timers_of:
 * whose; 0 none): dump_procfs sends this copy instead of reading the file again. */
static char timers_text[65536];
static size_t timers_len;
static pid_t timers_of;

int procfs_timer_ids(pid_t proc, uint64_t *ids, int max)
{
	char path[64];
	timers_of = 0;
	if (proc <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/timers", proc);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t got = 0;
	while (fd >= 0 && len < sizeof timers_text - 1 &&
	       (got = read(fd, timers_text + len, sizeof timers_text - 1 - len)) > 0)
		len += (size_t)got;
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (fd < 0 || got < 0)
		return proto_fail_sys("open", "state", "timers", e, "cannot read %s", path);
	if (len == sizeof timers_text - 1)
		return proto_fail("state", "timers", E2BIG, "too many timers");
	timers_text[len] = 0;
	int n = 0;
	for (char *l = timers_text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, "ID:", 3)) {
			if (n == max)
				return proto_fail("state", "timers", E2BIG, "too many timers");
			ids[n++] = strtoull(l + 3, NULL, 10);
		}
	timers_len = len, timers_of = proc;
	return n;
}

static long read_link(const char *path, struct sbuf *bin)
{
	char target[4097];
	ssize_t n = readlink(path, target, sizeof target);
	if (n < 0)
		return -errno;
	if ((size_t)n == sizeof target) /* longer than PATH_MAX: the coordinator reads it */
		return -ENAMETOOLONG;
	return sb_bytes(bin, target, (size_t)n) < 0 ? -ENOMEM : n;
}

/* One of files[] (at path, a link or not) appended to bin: its length, or -errno. */
static long read_one(const char *name, int link, pid_t proc, const char *path, struct sbuf *bin)
{
	if (link)
		return read_link(path, bin);
	if (!strcmp(name, "smaps"))
		return read_smaps(path, bin);
	if (!strcmp(name, "timers") && timers_of == proc)
		return sb_bytes(bin, timers_text, timers_len) < 0 ? -ENOMEM : (long)timers_len;
	return read_file(path, bin);
}

int dump_procfs(pid_t proc, struct sbuf *bin, struct sbuf *lens)
{
	const int n = (int)(sizeof files / sizeof files[0]);
	sb_add(lens, "[");
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/%s", proc, files[i]);
		long len = proc <= 0 ? -ESRCH : read_one(files[i], i >= n - NLINKS, proc, path, bin);
		if (len == -ENOMEM)
			return -1;
		sb_add(lens, "%s%ld", i ? "," : "", len);
	}
	sb_add(lens, "]");
	timers_of = 0;
	return lens->p ? 0 : -1;
}
