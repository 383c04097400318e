/* What the helper reads about a process from /proc (and pidfds): mappings, thread states, a
 * copy of one of its fds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "ucr_compat.h"

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

/* The time slice a fair thread (SCHED_OTHER, SCHED_BATCH) has by default, in ns: Linux 6.12 on
 * reports a fair thread's slice as its sched_runtime, its own when set with sched_setattr
 * (inherited by its threads and children), else this default (which depends on the number of
 * CPUs); 0 on older kernels. Learned once: a fair helper asks for its own policy again without
 * a slice (its scheduling otherwise unchanged); a real-time one forks a child that asks for
 * SCHED_OTHER without a slice and reports what it got. */
uint64_t fair_default_slice(void)
{
	static int known;
	static uint64_t slice;
	if (known)
		return slice;
	known = 1;
	struct ucr_sched_attr a = { 0 };
	if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) < 0)
		return slice = 0;
	if (a.policy == 0 || a.policy == 3) {
		struct ucr_sched_attr w = { .size = sizeof w, .policy = a.policy, .flags = a.flags & 1, .nice = a.nice };
		if (syscall(SYS_sched_setattr, 0, &w, 0) < 0 || syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) < 0)
			return slice = 0;
		return slice = a.runtime;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return slice = 0;
	pid_t c = fork();
	if (c == 0) {
		struct ucr_sched_attr w = { .size = sizeof w, .policy = 0 };
		uint64_t v = 0;
		if (syscall(SYS_sched_setattr, 0, &w, 0) == 0 && syscall(SYS_sched_getattr, 0, &w, sizeof w, 0) == 0)
			v = w.runtime;
		_exit(write(p[1], &v, sizeof v) == sizeof v ? 0 : 1);
	}
	close(p[1]);
	if (c < 0 || read(p[0], &slice, sizeof slice) != sizeof slice)
		slice = 0;
	close(p[0]);
	if (c > 0)
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
	return slice;
}
