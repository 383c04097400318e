/* The /proc files a task's capture parses (src/kernel/dump-task.ts), read here at the end of
 * its `state` (the gadget unmapped: smaps shows the task's own mappings only) and appended to
 * the state's binary frame after the registers: the coordinator reads none of them itself, and
 * this helper reads them while the coordinator works on the tasks before. A file that cannot be
 * read is marked -errno: the coordinator then reads it itself, and fails as it always did.
 * smaps is condensed as it is read, and a long one streamed after the state (dump_smaps.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"
#include "helper.h"
#include "proto.h"

/* In the order of PROC_FILES in src/kernel/proc-files.ts; the last four are symbolic links. */
static const char *const files[] = { "stat", "status", "smaps", "auxv", "personality", "oom_score_adj", "loginuid", "timers", "cgroup", "exe", "cwd", "root", "ns/cgroup" };
#define NLINKS 4

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
static long read_one(const char *name, int link, pid_t proc, const char *path, struct sbuf *bin, int *smaps_streamed)
{
	if (link)
		return read_link(path, bin);
	if (!strcmp(name, "smaps"))
		return smaps_read(path, proc, bin, smaps_streamed);
	if (!strcmp(name, "timers") && timers_of == proc)
		return sb_bytes(bin, timers_text, timers_len) < 0 ? -ENOMEM : (long)timers_len;
	return read_file(path, bin);
}

/* Thread tid's cgroup namespace link against the process's (ns: where it is in bin): when they
 * differ, the thread and its link into apart. */
static void ns_compare(pid_t proc, pid_t tid, const struct sbuf *bin, const struct procfs_span *ns, struct threads_apart *apart)
{
	char path[64], link[sizeof apart->ns];
	snprintf(path, sizeof path, "/proc/%d/task/%d/ns/cgroup", proc, tid);
	ssize_t n = readlink(path, link, sizeof link);
	if (n < 0)
		return; /* exited meanwhile (a zombie has no namespaces) */
	if (n == ns->len && !memcmp(link, bin->p + ns->at, (size_t)n))
		return;
	apart->ns_tid = tid;
	apart->ns_len = (size_t)n;
	memcpy(apart->ns, link, (size_t)n);
}

void procfs_threads_apart(pid_t proc, const struct dtask *cur, const struct sbuf *bin, const struct procfs_read *rd,
			  struct threads_apart *apart)
{
	memset(apart, 0, sizeof *apart);
	if (cur->nth < 2)
		return;
	/* still to compare: each only when the process's own was read (a kernel without cgroup
	 * namespaces has no link: nothing to compare; another failure, the coordinator's read of
	 * the process's link fails too, and refuses it) */
	int cg = rd->cgroup.len >= 0, ns = rd->ns.len >= 0;
	for (int i = 0; i < cur->nth && (cg || ns); i++) {
		pid_t tid = cur->th[i].tid;
		if (tid == proc || cur->th[i].gone)
			continue;
		if (ns) {
			ns_compare(proc, tid, bin, &rd->ns, apart);
			ns = !apart->ns_tid;
		}
		if (cg) {
			char path[64], text[8192];
			snprintf(path, sizeof path, "/proc/%d/task/%d/cgroup", proc, tid);
			ssize_t len = proc_text(path, text, sizeof text);
			if (len < 0)
				continue; /* exited meanwhile */
			if (len != rd->cgroup.len || memcmp(text, bin->p + rd->cgroup.at, (size_t)len))
				apart->cgroup = 1, cg = 0;
		}
	}
}

int dump_procfs(pid_t proc, struct sbuf *bin, struct sbuf *lens, int *smaps_streamed, struct procfs_read *rd)
{
	*smaps_streamed = 0;
	rd->cgroup.len = rd->ns.len = -ENOENT;
	const int n = (int)(sizeof files / sizeof files[0]);
	sb_add(lens, "[");
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/%s", proc, files[i]);
		size_t at = bin->len;
		long len = proc <= 0 ? -ESRCH : read_one(files[i], i >= n - NLINKS, proc, path, bin, smaps_streamed);
		if (len == -ENOMEM)
			return -1;
		if (!strcmp(files[i], "cgroup"))
			rd->cgroup = (struct procfs_span){ at, len };
		else if (!strcmp(files[i], "ns/cgroup"))
			rd->ns = (struct procfs_span){ at, len };
		sb_add(lens, "%s%ld", i ? "," : "", len);
	}
	sb_add(lens, "]");
	timers_of = 0;
	return lens->p ? 0 : -1;
}
