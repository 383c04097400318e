/* What the helper reads about a process from /proc (and pidfds): mappings, thread states, a
 * copy of one of its fds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

/* A maps line of an AIO ring: its start address added (once r->err is set, nothing is). */
static void ring_add(struct aio_rings *r, const char *line)
{
	unsigned long long s;
	if (r->err || sscanf(line, "%llx-", &s) != 1)
		return;
	if (r->n == r->cap) {
		int cap = r->cap * 2 + 8;
		uint64_t *at = realloc(r->at, (size_t)cap * sizeof *at);
		if (!at) {
			r->err = ENOMEM;
			return;
		}
		r->at = at, r->cap = cap;
	}
	r->at[r->n++] = s;
}

int find_special_vma(pid_t pid, const char *name, uint64_t *start, uint64_t *end, struct aio_rings *aio)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	if (aio)
		aio->n = 0, aio->err = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (aio)
			aio->err = errno;
		return -1;
	}
	/* stdio reads /proc files 1 KiB at a time: 10,000 mappings were ~500 reads (the kernel gives
	 * up to a page a read: ~125 this way) */
	static char big[1 << 16];
	setvbuf(f, big, _IOFBF, sizeof big);
	int found = -1, whole = 1; /* at the start of a line (fgets cuts a line longer than line) */
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		int start_of_line = whole;
		whole = len && line[len - 1] == '\n';
		/* a ring's line is short: never cut, so the rest of a cut line is never one */
		if (aio && start_of_line && strstr(line, " /[aio] (deleted)"))
			ring_add(aio, line);
		unsigned long long s, e;
		char *nm = strrchr(line, ' ');
		if (found == 0 || !start_of_line || !nm)
			continue;
		nm++;
		nm[strcspn(nm, "\n")] = 0;
		/* the name first: sscanf on every line of 10,000 mappings costs more than the rest */
		if (!strcmp(nm, name) && sscanf(line, "%llx-%llx", &s, &e) == 2) {
			*start = s;
			*end = e;
			found = 0;
			if (!aio)
				break;
		}
	}
	fclose(f);
	return found;
}

ssize_t proc_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

int thread_is_zombie(pid_t pid, pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
	if (proc_text(path, buf, sizeof buf) <= 0)
		return 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

int grab_fd(pid_t pid, int fd)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return -1;
	int s = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	int e = errno;
	close(pfd);
	errno = e;
	return s;
}
