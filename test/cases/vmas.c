// build: gcc -O2 -g -Wall -Wextra -o vmas vmas.c
/*
 * vmas.c - many mappings: more than one batch of injected calls on restart.
 *
 *   vmas --out FILE
 *
 * Splits a 2000-page anonymous area into 2000 mappings by alternating protections (read-only /
 * read-write, each page holding its own index), and maps one page of FILE.map 400 times
 * privately (every other page written), so the restart maps 2400 areas, opens the file 400
 * times and puts back 1000 final protections: several batches each. After SIGTERM every page
 * is checked, and the protections in /proc/self/maps must be the same as before.
 */
#include "case.h"

#include <sys/mman.h>

#define NPAGES 2000
#define NFILE 400

static char maps_before[1 << 20];

static size_t read_maps(char *buf, size_t cap)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;
	while (fd >= 0 && len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	if (fd >= 0)
		close(fd);
	buf[len] = 0;
	return len;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	size_t pg = 4096;
	unsigned char *a = mmap(NULL, NPAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	for (size_t i = 0; i < NPAGES; i++)
		memcpy(a + i * pg, &i, sizeof i);
	for (size_t i = 0; i < NPAGES; i += 2)
		if (mprotect(a + i * pg, pg, PROT_READ) < 0)
			case_setup_fail("mprotect: %s", strerror(errno));
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.map", case_out);
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)pg) < 0)
		case_setup_fail("%s: %s", path, strerror(errno));
	if (pwrite(fd, "file page", 9, 0) != 9)
		case_setup_fail("pwrite: %s", strerror(errno));
	unsigned char *f[NFILE];
	for (int i = 0; i < NFILE; i++) {
		f[i] = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		if (f[i] == MAP_FAILED)
			case_setup_fail("mmap file: %s", strerror(errno));
		if (i % 2)
			memcpy(f[i], &i, sizeof i);
	}
	close(fd);
	read_maps(maps_before, sizeof maps_before);
	case_ready();
	case_wait_term();
	static char maps_after[sizeof maps_before];
	read_maps(maps_after, sizeof maps_after);
	if (strcmp(maps_before, maps_after) != 0)
		case_fail("/proc/self/maps differs after the restart");
	for (size_t i = 0; i < NPAGES && !case_failed; i++) {
		size_t v;
		memcpy(&v, a + i * pg, sizeof v);
		if (v != i)
			case_fail("page %zu holds %zu", i, v);
	}
	for (int i = 0; i < NFILE && !case_failed; i++) {
		int v;
		memcpy(&v, f[i], sizeof v);
		if (i % 2 ? v != i : memcmp(f[i], "file page", 9) != 0)
			case_fail("file mapping %d changed", i);
	}
	unlink(path);
	case_finish();
}
