/*
 * prefault.c - touches MIB of fresh memory and exits (frees it).
 *
 *   prefault MIB
 *
 * On a VM that reports free pages to its host (free page reporting, virtio-balloon), memory
 * freed a while ago costs a host fault on its first write. Run right before a timed operation
 * (`npm run bench -- --prefault MIB`), this leaves MIB of just-freed, host-backed pages at the
 * head of the free lists, so the operation's own allocations (image pages on tmpfs, a restored
 * task's pages) do not pay those faults: the figures then show ucr's own costs, not the VM's.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return fprintf(stderr, "usage: prefault MIB\n"), 2;
	size_t len = strtoul(argv[1], NULL, 10) << 20;
	unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return perror("mmap"), 1;
	madvise(m, len, MADV_NOHUGEPAGE); /* 4 KiB pages, like the image's and the task's */
	for (size_t off = 0; off < len; off += 4096)
		m[off] = 1;
	return 0;
}
