/* The close-on-exec bit of each fd of a task, from F_GETFD injected into it BATCH_MAX at a time
 * (one stop each), for the coordinator's fd scan (kernel/fd-prefetch.ts): the fds it finds
 * inherited (the parent's open file) take their one bit of their own from here instead of from
 * their fdinfo, an open, a read and a close of a /proc file (~10 us per fd on some machines
 * against ~0.5 for an F_GETFD in the task). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmp.h"
#include "batch.h"
#include "dump.h"
#include "helper.h"

/* a table of more slots than this is listed, not probed slot by slot */
#define FD_PROBE_MAX 2048

/* The fds of /proc/PID/fd, ascending, in *fds; their count, -1 on failure. */
static long list_fds(pid_t pid, int **fds)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	size_t n = 0, cap = 0;
	*fds = NULL;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			int *more = realloc(*fds, (cap = cap ? 2 * cap : 1024) * sizeof **fds);
			if (!more) {
				closedir(d);
				free(*fds);
				*fds = NULL;
				return -1;
			}
			*fds = more;
		}
		(*fds)[n++] = atoi(de->d_name);
	}
	closedir(d);
	qsort(*fds, n, sizeof **fds, cmp_int);
	return (long)n;
}

void fd_flags(struct tracee *task, long slots, pid_t proc, size_t fdmin, struct sbuf *out)
{
	pid_t of = proc > 0 ? proc : task->pid;
	if (!fdmin || slots <= (long)fdmin || (of != task->pid && syscall(SYS_kcmp, task->pid, of, 2 /* KCMP_FILES */, 0, 0) != 0))
		return;
	/* the fd numbers asked: every slot (a free one answers EBADF), or the listed fds of a
	 * large table */
	int *fds = NULL;
	long n = slots;
	int listed = slots > FD_PROBE_MAX;
	if (listed ? (n = list_fds(of, &fds)) < 0 : !(fds = malloc((size_t)slots * sizeof *fds)))
		return;
	for (long i = 0; !listed && i < n; i++)
		fds[i] = (int)i;
	long *ret = malloc((size_t)(n ? n : 1) * sizeof *ret);
	int ok = ret != NULL;
	static struct batch b;
	for (long i = 0; ok && i < n;) {
		batch_init(&b, 0);
		long from = i;
		for (; i < n && b.n < BATCH_MAX; i++)
			batch_add(&b, SYS_fcntl, (uint64_t)fds[i], F_GETFD, 0, 0, 0, 0, listed ? 0 : BATCH_MAYFAIL, 0);
		if (batch_run(&b, task) < 0 || b.done != b.n || (listed && batch_failed(&b) >= 0))
			ok = 0;
		for (int k = 0; ok && k < b.n; k++)
			ret[from + k] = (long)b.calls[k].ret;
	}
	if (ok) {
		/* runs of consecutive open fds with the same bit */
		sb_add(out, ",\"fdflags\":[");
		const char *sep = "";
		for (long i = 0; i < n;) {
			if (ret[i] < 0) { /* a free slot */
				i++;
				continue;
			}
			long j = i + 1;
			int bit = (ret[i] & FD_CLOEXEC) != 0;
			while (j < n && ret[j] >= 0 && fds[j] == fds[i] + (int)(j - i) && ((ret[j] & FD_CLOEXEC) != 0) == bit)
				j++;
			sb_add(out, "%s%d,%ld,%d", sep, fds[i], j - i, bit);
			sep = ",";
			i = j;
		}
		sb_add(out, "]");
	}
	free(fds);
	free(ret);
}
