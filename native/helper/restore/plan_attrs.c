/* The plan lines of a task's attributes (format in plan.h): `attrs <oom_score_adj> <membarrier
 * registrations> <mlockall> <loginuid> <root|->` and one `sched <tid> <policy> <flags> <nice>
 * <priority> <runtime> <deadline> <period> <util min> <util max> <personality>` per thread;
 * restored by restore_attrs.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper.h"
#include "plan_parse.h"
#include "proto.h"

int plan_attrs_line(struct task_plan *t, char **w, int n)
{
	uint64_t v[8];
	int64_t s;
	if (!strcmp(w[0], "attrs")) {
		NEED(n == 6 && !parse_i64(w[1], &s) && s >= -1000 && s <= 1000 && plan_u64s(w, 2, 3, v) == 0 &&
		     !(v[0] & ~(uint64_t)(4 | 16 | 64 | 256)) && (v[1] == 0 || v[1] == 2 || v[1] == 6) && v[2] <= 0xffffffffu);
		t->attrs = (struct attrs_plan){ .have = 1, .oom_adj = (int)s, .oom_fd = -1, .membarrier = (uint32_t)v[0],
						.mlockall = (uint32_t)v[1], .loginuid = (uint32_t)v[2],
						.sched = t->attrs.sched, .nsched = t->attrs.nsched };
		if (strcmp(w[5], "-"))
			NEED((t->attrs.root = plan_hex_string(w[5])) != NULL && t->attrs.root[0] == '/');
		return 0;
	}
	uint64_t u[7]; /* priority runtime deadline period umin umax personality */
	NEED(n == 12 && plan_u64s(w, 1, 3, v) == 0 && v[0] > 0 && v[0] < (1u << 22) && v[1] <= 6 && v[2] <= 7 &&
	     !parse_i64(w[4], &s) && s >= -20 && s <= 19 && plan_u64s(w, 5, 7, u) == 0 && u[0] <= 99 && u[4] <= u[5] &&
	     u[5] <= 1024 && u[6] <= 0xffffffffu);
	struct sched_plan *sp = GROW(t->attrs.sched, t->attrs.nsched);
	NEED(sp != NULL);
	*sp = (struct sched_plan){ .tid = (pid_t)v[0], .policy = (uint32_t)v[1], .flags = v[2], .nice = (int)s,
				   .priority = (uint32_t)u[0], .runtime = u[1], .deadline = u[2], .period = u[3],
				   .util_min = (uint32_t)u[4], .util_max = (uint32_t)u[5], .personality = (long)u[6] };
	return 0;
}
