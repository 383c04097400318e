/* The task's [vvar][vvar_vclock][vdso] group as its image has it, at restore_map's step (after
 * everything but the gadget and the staging window's kept ranges is gone):
 * - the whole group where the kernel puts it (the common case): arch_prctl(ARCH_MAP_VDSO_64) at
 *   the image's [vvar], in restore_map's unmap batch, and nothing more;
 * - none of it (the task unmapped it, or a kernel booted with vdso=0): no arch_prctl, and the
 *   check that none is left;
 * - some parts unmapped (e.g. [vvar] gone, [vdso] kept) or moved with mremap: the group is
 *   mapped where no part of the image's goes, then each part the image has is moved to its
 *   place (mremap: the kernel lets a special mapping move whole, the vdso updating the task's
 *   context.vdso) and each part it lacks is unmapped. Sizes are the kernel's: an image whose
 *   part differs in size (another kernel, with --force) is refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch.h"
#include "ucr_compat.h"
#include "helper.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct plan plan;

static const char *const part[3] = { "[vvar]", "[vvar_vclock]", "[vdso]" };

int vdso_scan(pid_t pid, int *others, uint64_t at[3][2])
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	*others = 0;
	memset(at, 0, 3 * sizeof at[0]);
	while (fgets(line, sizeof line, f)) {
		unsigned long long s, e;
		if (sscanf(line, "%llx-%llx", &s, &e) != 2 || s >= USER_END)
			continue;
		char *nm = strrchr(line, ' ');
		int i = 3;
		if (nm && line[strlen(line) - 1] == '\n') {
			nm[strcspn(nm, "\n")] = 0;
			for (i = 0; i < 3 && strcmp(nm + 1, part[i]); i++)
				;
		}
		if (i < 3)
			at[i][0] = s, at[i][1] = e;
		else
			(*others)++;
	}
	fclose(f);
	return 0;
}

/* 1 MiB free of every part's place in the image (of its mappings too), of the gadget and of the
 * staging window: where nothing of the task is mapped at this step (0: none found). */
static uint64_t free_span(const struct task_plan *p, uint64_t gadget)
{
	return plan_range_free(&plan, p, 1ULL << 32, 1ULL << 20, 1ULL << 20, gadget);
}

uint64_t vdso_hint(const struct task_plan *p, uint64_t gadget)
{
	if (p->special[0][1])
		return p->special[0][0];
	return p->special[1][1] || p->special[2][1] ? free_span(p, gadget) : 0;
}

/* Whether every part is where the image has it (or absent as there); *moves: parts to move. */
static int settled(const struct task_plan *p, uint64_t at[3][2], int *moves)
{
	int ok = 1;
	*moves = 0;
	for (int i = 0; i < 3; i++) {
		ok &= at[i][0] == p->special[i][0] && at[i][1] == p->special[i][1];
		*moves += p->special[i][1] && at[i][0] != p->special[i][0];
	}
	return ok;
}

static int fail_place(const struct task_plan *p, uint64_t at[3][2])
{
	for (int i = 0; i < 3; i++)
		if (at[i][0] != p->special[i][0] || at[i][1] != p->special[i][1])
			return proto_fail("memory", part[i], EFAULT,
					  "the %s could not be placed at 0x%llx-0x%llx (kernel differs from the image's?)", part[i],
					  (unsigned long long)p->special[i][0], (unsigned long long)p->special[i][1]);
	return proto_fail("memory", "[vdso]", EFAULT, "the vdso group could not be placed");
}

int vdso_settle(const struct task_plan *p, uint64_t gadget, uint64_t hint, uint64_t at[3][2])
{
	int moves, others;
	long ret;
	if (settled(p, at, &moves))
		return 0;
	for (int i = 0; i < 3; i++)
		if (p->special[i][1] && at[i][1] - at[i][0] != p->special[i][1] - p->special[i][0])
			return fail_place(p, at);
	if (moves && hint == p->special[0][0]) {
		/* placed at the image's [vvar]: the other parts may lie where a moved one goes. The
		 * group again, away from every part's place. Not decided before the first mapping
		 * (vdso_hint): whether the parts land in place at [vvar] depends on the kernel's group
		 * (which parts it has, their sizes), known once it is mapped; the image's parts lying
		 * one after the other does not prove it (a part the task unmapped between two, the
		 * next one moved down to close the gap). Knowing it first would cost a read of the
		 * helper's own maps on every restart; only a task that moved parts pays this. */
		uint64_t away = free_span(p, gadget);
		for (int i = 0; i < 3; i++)
			if (at[i][1] && rt_call("memory", part[i], SYSCALL_REQ(SYS_munmap, at[i][0], at[i][1] - at[i][0]), &ret) < 0)
				return -1;
		if (!away || rt_call("memory", "arch_prctl(ARCH_MAP_VDSO_64)", SYSCALL_REQ(SYS_arch_prctl, ARCH_MAP_VDSO_64, away), &ret) < 0 ||
		    vdso_scan(rt.pid, &others, at) < 0)
			return proto_fail("memory", "[vdso]", EFAULT, "the vdso group could not be mapped apart");
	}
	for (int i = 0; i < 3; i++) {
		uint64_t len = at[i][1] - at[i][0];
		if (!at[i][1] || at[i][0] == p->special[i][0])
			continue;
		if (!p->special[i][1] ? rt_call("memory", part[i], SYSCALL_REQ(SYS_munmap, at[i][0], len), &ret) < 0
				       : rt_call("memory", part[i], SYSCALL_REQ(SYS_mremap, at[i][0], len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
										p->special[i][0]), &ret) < 0)
			return -1;
	}
	if (vdso_scan(rt.pid, &others, at) < 0 || !settled(p, at, &moves))
		return fail_place(p, at);
	return 0;
}
