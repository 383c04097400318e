/*
 * memcpy.c - the machine's limit: memcpy bandwidth into already-touched memory.
 *
 *   memcpy MIB REPS
 *
 * Allocates two MIB areas, touches both, then times REPS copies of one into the other; prints
 * one line per copy: seconds (CLOCK_MONOTONIC).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: memcpy MIB REPS\n"), 2;
	size_t len = strtoul(argv[1], NULL, 10) << 20;
	int reps = atoi(argv[2]);
	char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		return perror("mmap"), 1;
	memset(a, 0x5a, len);
	memset(b, 0xa5, len);
	for (int i = 0; i < reps; i++) {
		double t = now();
		memcpy(i & 1 ? a : b, i & 1 ? b : a, len);
		printf("%.6f\n", now() - t);
		fflush(stdout);
	}
	return 0;
}
