/*
 * storewrite.c - the image store's own limit: writing MIB to a new file in DIR.
 *
 *   storewrite DIR MIB REPS
 *
 * REPS times: creates DIR/storewrite.tmp, writes MIB of non-zero bytes to it with 4 MiB
 * pwrite()s (the size of ucr's page records), closes and removes it; prints one line per
 * repetition: seconds (CLOCK_MONOTONIC) from the open to the last write. On tmpfs this is the
 * page-cache allocation and copy that every checkpoint to that store pays once per byte.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (4UL << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return fprintf(stderr, "usage: storewrite DIR MIB REPS\n"), 2;
	size_t len = strtoul(argv[2], NULL, 10) << 20;
	int reps = atoi(argv[3]);
	char path[4096];
	snprintf(path, sizeof path, "%s/storewrite.tmp", argv[1]);
	unsigned char *buf = aligned_alloc(4096, CHUNK);
	if (!buf)
		return perror("malloc"), 1;
	memset(buf, 0x5a, CHUNK);
	for (int i = 0; i < reps; i++) {
		double t = now();
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return perror(path), 1;
		for (size_t off = 0; off < len; off += CHUNK) {
			size_t n = len - off < CHUNK ? len - off : CHUNK;
			if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
				return perror("pwrite"), unlink(path), 1;
		}
		printf("%.6f\n", now() - t);
		fflush(stdout);
		close(fd);
		unlink(path);
	}
	return 0;
}
