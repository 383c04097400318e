/* Checkpoint of process and thread attributes that only the kernel knows (dump_attrs.c):
 * every thread's scheduling (sched_getattr, read from outside) and personality, the membarrier registrations
 * of the process (an injected membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS)) and mlockall's
 * MCL_FUTURE / MCL_ONFAULT, which no /proc file shows: a mapping made while they are on is
 * locked, so the gadget that cmd_state maps shows them (VmLck grows; VmFlags "lf" for
 * MCL_ONFAULT), and prctl(PR_GET_THP_DISABLE) (injected). Reported as the state event's "attrs" (src/kernel/dump-task.ts). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "dump.h"
#include "helper.h"
#include "proto.h"
#include "tracee.h"

#define UCR_MCL_FUTURE 2
#define UCR_MCL_ONFAULT 4

/* VmLck of the process in kB, -1 when unreadable; trap (when not NULL): TRAP_IGN when its
 * SIGTRAP action may be SIG_IGN (SigIgn, a few lines further; set when not read), TRAP_PENDING
 * when a SIGTRAP is pending for the process or for the thread pid (ShdPnd, SigPnd); fdsize
 * (when not NULL): the slots of its fd table (FDSize, before VmLck; 0 when not read). */
long attrs_vmlck(pid_t pid, int *trap, long *fdsize)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if (trap)
		*trap = TRAP_IGN;
	FILE *f = fopen(path, "r");
	long kb = -1;
	if (!f)
		return -1;
	int pnd = 0;
	if (fdsize)
		*fdsize = 0;
	while (fgets(buf, sizeof buf, f))
		if (fdsize && !strncmp(buf, "FDSize:", 7))
			*fdsize = strtol(buf + 7, NULL, 10);
		else if (!strncmp(buf, "VmLck:", 6)) {
			kb = strtol(buf + 6, NULL, 10);
			if (!trap)
				break;
		} else if (trap && (!strncmp(buf, "SigPnd:", 7) || !strncmp(buf, "ShdPnd:", 7) || !strncmp(buf, "SigIgn:", 7))) {
			char *end;
			unsigned long long set = strtoull(buf + 7, &end, 16);
			if (end == buf + 7 || *end != '\n')
				break;
			if (buf[3] != 'I') {
				pnd |= (set >> (SIGTRAP - 1)) & 1 ? TRAP_PENDING : 0;
				continue;
			}
			*trap = ((set >> (SIGTRAP - 1)) & 1 ? TRAP_IGN : 0) | pnd;
			break;
		}
	fclose(f);
	return kb;
}

/* /proc/PID/task/TID/personality (hex), 0 when unreadable. */
static unsigned long personality_of(pid_t pid, pid_t tid)
{
	char path[64], buf[32];
	snprintf(path, sizeof path, "/proc/%d/task/%d/personality", pid, tid);
	proc_text(path, buf, sizeof buf);
	return strtoul(buf, NULL, 16);
}

/* Cpus_allowed_list of /proc/PID/task/TID/status into out, from which the coordinator
 * records a thread's affinity (src/kernel/affinity.ts); "" when not read here (the
 * coordinator then reads the file itself). As the freeze read it (t->cpus), else read now. */
static void cpus_of(pid_t pid, const struct dthread *t, char *out, size_t cap)
{
	static char buf[16384];
	if (t->cpus[0] && strlen(t->cpus) < cap) {
		strcpy(out, t->cpus);
		return;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, t->tid);
	out[0] = 0;
	if (proc_text(path, buf, sizeof buf) > 0)
		status_cpus(buf, out, cap);
}

/* Whether the VmFlags of the mapping at addr hold "lf" (locked on fault). */
static int onfault_at(pid_t pid, uint64_t addr)
{
	char path[64], line[512], head[32];
	snprintf(path, sizeof path, "/proc/%d/smaps", pid);
	snprintf(head, sizeof head, "%llx-", (unsigned long long)addr);
	FILE *f = fopen(path, "r");
	int in = 0, lf = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (!in) {
			in = !strncmp(line, head, strlen(head));
		} else if (!strncmp(line, "VmFlags:", 8)) {
			lf = strstr(line, " lf") != NULL;
			break;
		}
	}
	fclose(f);
	return lf;
}

/* ,"attrs":{"sched":[[tid,policy,flags,nice,priority,runtime,deadline,period,umin,umax,personality,cpus],...],
 * "membarrier":n,"mlockall":n,"thp":n,"stopsig":n,"seccomp":threads under seccomp} appended to out; the gadget is mapped (vmlck_before: VmLck
 * before it was). */
int attrs_state(struct tracee *task, const struct dtask *d, long vmlck_before, const long *pre_membarrier,
		const long *pre_thp, struct sbuf *out)
{
	long regs;
	if (pre_membarrier)
		regs = *pre_membarrier;
	else if (inject_ok(task, SYS_membarrier, MEMBARRIER_GET_REGISTRATIONS, 0, 0, 0, &regs, "membarrier") < 0)
		return -1;
	if (regs < 0) /* a kernel without it (before 6.3): none are recorded */
		regs = 0;
	/* prctl(PR_SET_THP_DISABLE) of the mm: 1, or 3 with PR_THP_DISABLE_EXCEPT_ADVISED (6.18);
	 * /proc/PID/status "THP_enabled" shows only the first */
	long thp;
	if (pre_thp)
		thp = *pre_thp;
	else if (inject_ok(task, SYS_prctl, UCR_PR_GET_THP_DISABLE, 0, 0, 0, &thp, "prctl") < 0)
		return -1;
	if (thp < 0) /* reported as it is otherwise: the coordinator refuses what it does not know */
		return proto_fail("state", "prctl", (int)-thp, "PR_GET_THP_DISABLE failed");
	int mcl = 0;
	long now = attrs_vmlck(task->pid, NULL, NULL);
	if (vmlck_before >= 0 && now > vmlck_before)
		mcl = UCR_MCL_FUTURE | (onfault_at(task->pid, task->gadget) ? UCR_MCL_ONFAULT : 0);
	int stopsig = 0; /* the group stop's signal (a stopped task's, for the coordinator) */
	for (int k = 0; k < d->nth && !stopsig; k++)
		if (d->th[k].stopped && d->th[k].stopsig != SIGTRAP)
			stopsig = d->th[k].stopsig;
	int seccomp = 0; /* threads under seccomp (freeze.c): the coordinator then asks for them */
	for (int k = 0; k < d->nth; k++)
		seccomp += d->th[k].seccomp != 0;
	sb_add(out, ",\"attrs\":{\"membarrier\":%ld,\"mlockall\":%d,\"thp\":%ld,\"stopsig\":%d,\"seccomp\":%d,\"sched\":[", regs, mcl, thp, stopsig, seccomp);
	for (int k = 0; k < d->nth; k++) {
		struct ucr_sched_attr a;
		memset(&a, 0, sizeof a);
		if (syscall(SYS_sched_getattr, d->th[k].tid, &a, sizeof a, 0) < 0) {
			char obj[32];
			snprintf(obj, sizeof obj, "thread %d", d->th[k].tid);
			return proto_fail("state", obj, errno, "sched_getattr failed");
		}
		/* a fair thread's runtime is its time slice (Linux 6.12 on): sent only when it is its
		 * own (sched_setattr), not the default; SCHED_IDLE takes no slice */
		if (a.policy == 5 || ((a.policy == 0 || a.policy == 3) && a.runtime == fair_default_slice()))
			a.runtime = 0;
		static char cpus[2048];
		if (d->th[k].tid == task->pid)
			cpus[0] = 0; /* the coordinator has it: the status of the task's /proc files */
		else
			cpus_of(d->tgid, &d->th[k], cpus, sizeof cpus);
		sb_add(out, "%s[%d,%u,%llu,%d,%u,%llu,%llu,%llu,%u,%u,%lu,\"%s\"]", k ? "," : "", d->th[k].tid, a.policy,
		       (unsigned long long)a.flags, a.nice, a.priority, (unsigned long long)a.runtime,
		       (unsigned long long)a.deadline, (unsigned long long)a.period, a.util_min, a.util_max,
		       personality_of(d->tgid, d->th[k].tid), cpus);
	}
	sb_add(out, "]}");
	return 0;
}
