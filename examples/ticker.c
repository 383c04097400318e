/* A small program for trying ucr by hand: it counts, keeps a running checksum of its heap
 * data, and prints one line per tick with its pid, so a restart at the same pid that carries
 * on the sequence is easy to see.   ./ticker [interval_ms]                                 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 500;
	size_t n = 1 << 20;
	uint64_t *data = malloc(n * sizeof *data); /* 8 MiB of state on the heap */
	uint64_t x = 88172645463325252ULL, sum = 0;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = x;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned long tick = 1;; tick++) {
		for (size_t i = 0; i < n; i += 4096)
			sum += data[(i + tick) % n];
		printf("ticker pid %d tick %lu sum %016llx\n", (int)getpid(), tick, (unsigned long long)sum);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0)
			;
	}
}
