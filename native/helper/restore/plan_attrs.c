/* The plan lines of a task's attributes (format in plan.h): `attrs <oom_score_adj> <membarrier
 * registrations> <mlockall> <loginuid> <root|-> <thp> <stop signal>` and one `sched <tid> <policy> <flags> <nice>
 * <priority> <runtime> <deadline> <period> <util min> <util max> <personality>` per thread;
 * an `affinity <tid> <cpus>` after a thread's sched line when it has one; restored by restore_attrs.c. Their handlers, on decoded messages (protocol/schema.mjs). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helper.h"
#include "plan_parse.h"
#include "proto.h"
#include "proto_gen.h"

int on_plan_attrs(struct plan_in *in, struct msg_plan_attrs *m)
{
	TASK(t);
	NEED(!(m->membarrier & ~(uint64_t)(4 | 16 | 64 | 256)) && (!m->root || m->root[0] == '/'));
	t->attrs = (struct attrs_plan){ .have = 1, .oom_adj = (int)m->oom, .oom_fd = -1, .membarrier = (uint32_t)m->membarrier,
					.mlockall = (uint32_t)m->mlockall, .loginuid = (uint32_t)m->loginuid, .thp = (uint32_t)m->thp, .stopsig = (int)m->stopsig,
					.root = plan_strdup(m->root), .sched = t->attrs.sched, .nsched = t->attrs.nsched };
	NEED(!m->root || t->attrs.root);
	return 0;
}

int on_plan_sched(struct plan_in *in, struct msg_plan_sched *m)
{
	TASK(t);
	NEED(m->umin <= m->umax);
	struct sched_plan *sp = GROW(t->attrs.sched, t->attrs.nsched);
	NEED(sp != NULL);
	*sp = (struct sched_plan){ .tid = (pid_t)m->tid, .policy = (uint32_t)m->policy, .flags = m->flags, .nice = (int)m->nice,
				   .priority = (uint32_t)m->priority, .runtime = m->runtime, .deadline = m->deadline, .period = m->period,
				   .util_min = (uint32_t)m->umin, .util_max = (uint32_t)m->umax, .personality = (long)m->personality };
	return 0;
}

int on_plan_affinity(struct plan_in *in, struct msg_plan_affinity *m)
{
	TASK(t);
	NEED(t->attrs.nsched > 0 && t->attrs.sched[t->attrs.nsched - 1].tid == (pid_t)m->tid);
	struct sched_plan *sp = &t->attrs.sched[t->attrs.nsched - 1];
	NEED(sp->cpus == NULL);
	uint64_t top = 0;
	for (size_t i = 0; i < m->cpus_count; i++)
		top = m->cpus[i] > top ? m->cpus[i] : top; /* each below 8192 (schema) */
	size_t words = (size_t)(top / (8 * sizeof(unsigned long))) + 1;
	sp->cpus = calloc(words, sizeof(unsigned long));
	NEED(sp->cpus != NULL);
	sp->ncpus = words * sizeof(unsigned long);
	for (size_t i = 0; i < m->cpus_count; i++)
		sp->cpus[m->cpus[i] / (8 * sizeof(unsigned long))] |= 1UL << (m->cpus[i] % (8 * sizeof(unsigned long)));
	return 0;
}

int on_plan_share(struct plan_in *in, struct msg_plan_share *m)
{
	TASK(t);
	t->share_files = (int)m->files, t->share_fs = (int)m->fs;
	return 0;
}
