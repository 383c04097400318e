/* The /proc files a task's capture parses (src/kernel/dump-task.ts), read here at the end of
 * its `state` (the gadget unmapped: smaps shows the task's own mappings only) and appended to
 * the state's binary frame after the registers: the coordinator reads none of them itself, and
 * this helper reads them while the coordinator works on the tasks before. A file that cannot be
 * read is marked -errno: the coordinator then reads it itself, and fails as it always did. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"
#include "helper.h"

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

int dump_procfs(pid_t proc, struct sbuf *bin, struct sbuf *lens)
{
	const int n = (int)(sizeof files / sizeof files[0]);
	sb_add(lens, "[");
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/%s", proc, files[i]);
		long len = proc <= 0 ? -ESRCH : i >= n - NLINKS ? read_link(path, bin) : read_file(path, bin);
		if (len == -ENOMEM)
			return -1;
		sb_add(lens, "%s%ld", i ? "," : "", len);
	}
	sb_add(lens, "]");
	return lens->p ? 0 : -1;
}
