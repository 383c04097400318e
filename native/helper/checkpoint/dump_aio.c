/* AIO rings at checkpoint (part of the `state` command): which `/[aio] (deleted)` mappings of
 * the task are rings of its own contexts. A child forked after io_setup keeps the mapping but
 * not the context (contexts belong to an mm, fork copies none), and nothing in /proc tells the
 * two apart: io_getevents(ring address, 0, 0, NULL, NULL) injected in the task does, without
 * side effects (0: its context; EINVAL: none). src/kernel/memory.ts restores the first kind and
 * refuses the second; docs/restart.md, "AIO rings". The rings are those the maps read that
 * found the gadget's `syscall` showed (core/procfs.c find_special_vma): the task is frozen
 * since, its maps are not read again. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>

#include "helper.h"
#include "proto.h"
#include "tracee.h"

#include "dump.h"

int aio_state(struct tracee *task, const struct dtask *d, struct sbuf *out)
{
	const struct aio_rings *r = &d->aio; /* found by the maps read for the gadget (gadget.c) */
	if (r->err)
		return r->err == ENOMEM ? proto_fail("state", "aio", ENOMEM, "out of memory")
					: proto_fail_sys("open", "state", "aio", r->err, "cannot read the task's mappings");
	for (int i = 0; i < r->n; i++) {
		long ret;
		if (inject_ok(task, SYS_io_getevents, r->at[i], 0, 0, 0, &ret, "io_getevents") < 0)
			return -1;
		sb_add(out, "%s[%llu,%ld]", i ? "," : ",\"aio\":[", (unsigned long long)r->at[i], ret < 0 ? -ret : 0);
	}
	if (r->n)
		sb_add(out, "]");
	return 0;
}
