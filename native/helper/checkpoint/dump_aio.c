/* AIO rings at checkpoint (part of the `state` command): which `/[aio] (deleted)` mappings of
 * the task are rings of its own contexts. A child forked after io_setup keeps the mapping but
 * not the context (contexts belong to an mm, fork copies none), and nothing in /proc tells the
 * two apart: io_getevents(ring address, 0, 0, NULL, NULL) injected in the task does, without
 * side effects (0: its context; EINVAL: none). src/kernel/memory.ts restores the first kind and
 * refuses the second; docs/restart.md, "AIO rings". */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include "helper.h"
#include "proto.h"
#include "tracee.h"

#include "dump.h"

int aio_state(struct tracee *task, const struct dtask *d, struct sbuf *out)
{
	if (!d->aio) /* its maps, read when the gadget was mapped, show none (gadget.c) */
		return 0;
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", task->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return proto_fail_sys("open", "state", "aio", errno, "cannot read the task's mappings");
	static char big[1 << 16]; /* not stdio's 1 KiB reads (core/procfs.c find_special_vma) */
	setvbuf(f, big, _IOFBF, sizeof big);
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long long start;
		if (!strstr(line, " /[aio] (deleted)") || sscanf(line, "%llx-", &start) != 1)
			continue;
		long ret;
		if (inject_ok(task, SYS_io_getevents, start, 0, 0, 0, &ret, "io_getevents") < 0) {
			fclose(f);
			return -1;
		}
		sb_add(out, "%s[%llu,%ld]", n++ ? "," : ",\"aio\":[", start, ret < 0 ? -ret : 0);
	}
	fclose(f);
	if (n)
		sb_add(out, "]");
	return 0;
}
