/* What the helper reads about a process from /proc (and pidfds): mappings, thread states, a
 * copy of one of its fds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

int find_special_vma(pid_t pid, const char *name, uint64_t *start, uint64_t *end, unsigned char *aio)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	if (aio)
		*aio = 1;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	/* stdio reads /proc files 1 KiB at a time: 10,000 mappings were ~500 reads (the kernel gives
	 * up to a page a read: ~125 this way) */
	static char big[1 << 16];
	setvbuf(f, big, _IOFBF, sizeof big);
	int found = -1, whole = 1; /* at the start of a line (fgets cuts a line longer than line) */
	unsigned char rings = 0, cut = 0;
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		int start_of_line = whole;
		whole = len && line[len - 1] == '\n';
		cut |= !whole;
		if (aio)
			rings |= strstr(line, " /[aio] (deleted)") != NULL;
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
	if (aio)
		*aio = rings || cut;
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
