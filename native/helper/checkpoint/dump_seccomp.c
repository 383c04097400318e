/* Checkpoint of seccomp (dump_seccomp.c). At the freeze, every thread whose /proc status shows
 * a seccomp mode gets PTRACE_O_SUSPEND_SECCOMP: the calls the checkpoint injects (the gadget's
 * mmap, rt_sigaction, ...) would otherwise be filtered, or kill a task in strict mode. The
 * option needs CAP_SYS_ADMIN and a tracer not itself under seccomp; detaching ends it.
 * `seccomp <pid>` then reads every filter of every thread (PTRACE_SECCOMP_GET_FILTER: index 0
 * is the oldest, the first installed) and its flags (PTRACE_SECCOMP_GET_METADATA:
 * SECCOMP_FILTER_FLAG_LOG); the coordinator finds the filters threads and processes share
 * (src/kernel/seccomp.ts). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "dump.h"
#include "helper.h"
#include "proto.h"
#include "proto_gen.h"

#define MAX_INSNS 4096 /* BPF_MAXINSNS: the kernel's bound per filter */

/* A "Cpus_allowed_list:" value of status text into out (cap bytes), "" when it is not there
 * whole (the text cut short) or longer. */
void status_cpus(const char *text, char *out, size_t cap)
{
	out[0] = 0;
	const char *p = strstr(text, "\nCpus_allowed_list:");
	if (!p)
		return;
	p += strlen("\nCpus_allowed_list:");
	p += strspn(p, " \t");
	size_t n = strcspn(p, "\n");
	if (n >= cap || p[n] != '\n' || strspn(p, "0123456789,-") != n) /* cut short: "" */
		return;
	memcpy(out, p, n);
	out[n] = 0;
}

/* The "Seccomp:" line of /proc/PID/task/TID/status (0 when unreadable): one raw read of the
 * file's first 4 KiB (~9 us a thread here, half of what stdio costs); line by line when a long
 * Groups line pushed it further. The thread's Cpus_allowed_list is kept from the same read
 * (the state's scheduling then need not read the file again). */
static int mode_of(pid_t pid, struct dthread *t)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, t->tid);
	ssize_t n = proc_text(path, buf, sizeof buf);
	t->cpus[0] = 0;
	if (n > 0)
		status_cpus(buf, t->cpus, sizeof t->cpus);
	const char *at = strstr(buf, "\nSeccomp:");
	if (at || n < (ssize_t)sizeof buf - 1)
		return at ? atoi(at + 10) : 0;
	FILE *f = fopen(path, "r");
	int mode = 0;
	while (f && fgets(buf, sizeof buf, f))
		if (!strncmp(buf, "Seccomp:", 8)) {
			mode = atoi(buf + 8);
			break;
		}
	if (f)
		fclose(f);
	return mode;
}

int seccomp_suspend(struct dtask *d)
{
	for (int k = 0; k < d->nth; k++) {
		struct dthread *t = &d->th[k];
		if (t->gone || !t->stopped || !(t->seccomp = (unsigned char)mode_of(d->tgid, t)))
			continue;
		if (ptrace(PTRACE_SETOPTIONS, t->tid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP) < 0) {
			char obj[32];
			snprintf(obj, sizeof obj, "thread %d", t->tid);
			return proto_fail_sys("PTRACE_SETOPTIONS", "freeze", obj, errno,
					      "it runs under seccomp: checkpointing it needs PTRACE_O_SUSPEND_SECCOMP "
					      "(CAP_SYS_ADMIN, and a checkpointer not under seccomp itself)");
		}
	}
	return 0;
}

/* [[flags,"hex"],...] of one thread's filters, oldest first (the kernel counts index 0 from
 * the bottom of the chain). */
static int filters_of(pid_t tid, struct sbuf *out)
{
	static struct sock_filter insns[MAX_INSNS];
	char obj[32];
	snprintf(obj, sizeof obj, "thread %d", tid);
	sb_add(out, "[");
	for (unsigned long i = 0;; i++) {
		long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)i, NULL);
		if (n < 0 && errno == ENOENT && i > 0)
			break;
		if (n < 0)
			return proto_fail_sys("PTRACE_SECCOMP_GET_FILTER", "seccomp", obj, errno, "cannot read its seccomp filter %lu", i);
		if (n == 0 || n > MAX_INSNS)
			return proto_fail("seccomp", obj, E2BIG, "its seccomp filter %lu has %ld instructions", i, n);
		struct __ptrace_seccomp_metadata md = { .filter_off = i, .flags = 0 };
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)i, insns) != n ||
		    ptrace(PTRACE_SECCOMP_GET_METADATA, tid, (void *)sizeof md, &md) < 0)
			return proto_fail_sys("PTRACE_SECCOMP_GET_FILTER", "seccomp", obj, errno, "cannot read its seccomp filter %lu", i);
		sb_add(out, "%s[%llu,", i ? "," : "", (unsigned long long)md.flags);
		sb_hex(out, insns, (size_t)n * sizeof insns[0]);
		sb_add(out, "]");
	}
	sb_add(out, "]");
	return 0;
}

int on_dump_seccomp(struct dump_in *in, struct msg_dump_seccomp *m)
{
	(void)in;
	struct dtask *d = find_task((pid_t)m->pid);
	if (!d)
		return proto_fail("seccomp", "task", ESRCH, "process %llu is not frozen", (unsigned long long)m->pid);
	struct sbuf out = { 0 };
	int n = 0, rc = 0;
	sb_add(&out, "[");
	for (int k = 0; k < d->nth && !rc; k++) {
		const struct dthread *t = &d->th[k];
		if (t->gone || !t->seccomp)
			continue;
		sb_add(&out, "%s[%d,%d,", n++ ? "," : "", t->tid, t->seccomp);
		if (t->seccomp == 2)
			rc = filters_of(t->tid, &out);
		else
			sb_add(&out, "[]");
		sb_add(&out, "]");
	}
	sb_add(&out, "]");
	if (!rc && !out.p)
		rc = proto_fail("seccomp", "memory", ENOMEM, "out of memory");
	if (!rc)
		EMIT_SECCOMP(.pid = m->pid, .threads = out.p);
	free(out.p);
	return rc;
}
