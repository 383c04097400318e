/* A task's credentials at restart (restore_creds.c): the bounding set, ids and groups, the
 * capability sets, dumpable, in the main thread and in each other thread (the raw calls change
 * only the calling thread); used by restore_task.c's restore_finish. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "batch.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

/* The helper's own capability sets, read once (they do not change while it restores; its
 * tasks and their threads are born with them). known -1: capget failed. */
struct own_caps {
	int known, keepcaps;
	uint64_t eff, prm, inh, amb, bnd;
};

static const struct own_caps *own_caps(void)
{
	static struct own_caps o;
	if (o.known)
		return &o;
	struct { uint32_t version; int pid; } hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct { uint32_t eff, prm, inh; } data[2];
	if (syscall(SYS_capget, &hdr, data) < 0) {
		o.known = -1;
		return &o;
	}
	o.eff = data[0].eff | (uint64_t)data[1].eff << 32, o.prm = data[0].prm | (uint64_t)data[1].prm << 32,
	o.inh = data[0].inh | (uint64_t)data[1].inh << 32;
	o.keepcaps = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
	for (int c = 0; c < 64; c++) {
		int a = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0), b = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
		if (a < 0 || b < 0) /* past the last capability this kernel knows */
			break;
		o.amb |= (uint64_t)(a == 1) << c;
		o.bnd |= (uint64_t)(b == 1) << c;
	}
	o.known = 1;
	return &o;
}

/* Whether capability c is in the helper's bounding set (and so in its clones'). */
static int own_bounding(int c)
{
	const struct own_caps *o = own_caps();
	return o->known < 0 ? prctl(PR_CAPBSET_READ, c) == 1 : (int)(o->bnd >> c & 1);
}

/* The bounding set, while the thread is still privileged (before its ids change). Only what
 * the task has (the helper's own set: the task is its clone) is dropped: dropping needs
 * CAP_SETPCAP even for a capability already gone, which a non-root restorer lacks. */
int restore_bounding(struct task_plan *p)
{
	long ret;
	for (int c = 0; c < 64 && p->have_caps; c++)
		if (!(p->cap_bnd >> c & 1) && own_bounding(c)) {
			if (t_inject(&rt, SYS_prctl, PR_CAPBSET_DROP, (uint64_t)c, 0, 0, 0, 0, &ret) < 0)
				return proto_fail_sys("prctl", "finish", "capabilities", errno, "cannot drive the task through prctl");
			if (ret == -EINVAL)
				break; /* past the last capability this kernel knows */
			if (ret < 0)
				return proto_fail("finish", "capabilities", (int)-ret, "cannot drop capability %d from the bounding set", c);
		}
	return 0;
}

/* The image's ids are the helper's own (and so already the task's, a clone of it): always the
 * case for a restorer that is not root (the coordinator refuses any other image), which may not
 * call setgroups or set ids at all. */
static int creds_are_mine(const struct task_plan *p)
{
	uid_t r, e, s;
	gid_t gr, ge, gs, groups[256];
	if (getresuid(&r, &e, &s) || getresgid(&gr, &ge, &gs))
		return 0;
	int n = getgroups(256, groups);
	if (p->uid[0] != r || p->uid[1] != e || p->uid[2] != s || p->uid[3] != e || p->gid[0] != gr || p->gid[1] != ge ||
	    p->gid[2] != gs || p->gid[3] != ge || n != p->ngroups)
		return 0;
	for (int i = 0; i < n; i++)
		if ((gid_t)p->groups[i] != groups[i])
			return 0;
	return 1;
}

/* The image's credentials, last of the injected calls (the steps before need the helper's
 * privilege), in one stop: groups, gids, uids, fs ids (a uid change clears capabilities as for
 * any process, so the permitted set is kept across it with PR_SET_KEEPCAPS), then the other
 * capability sets (capset) and the ambient set; dumpable is put back too (a uid change resets
 * it), and for the main thread its parent-death signal (restore_creds returns 1 then). The loop
 * stops at the first call that fails. */
static const char *const cred_names[] = { "prctl(PR_SET_KEEPCAPS)", "setgroups", "setresgid", "setfsgid",
					  "setresuid", "setfsuid", "capset", "prctl(PR_CAP_AMBIENT_RAISE)",
					  "prctl(PR_SET_KEEPCAPS)", "prctl(PR_SET_DUMPABLE)", "prctl(PR_SET_PDEATHSIG)" };

/* The calls of restore_creds into b, their data staged in rt's scratch area (the same bytes for
 * every thread of the task). */
static int creds_batch(struct task_plan *p, struct batch *b)
{
	batch_init(b, 0);
	struct { uint32_t version; int pid; } hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct { uint32_t eff, prm, inh; } data[2] = {
		{ (uint32_t)p->cap_eff, (uint32_t)p->cap_prm, (uint32_t)p->cap_inh },
		{ (uint32_t)(p->cap_eff >> 32), (uint32_t)(p->cap_prm >> 32), (uint32_t)(p->cap_inh >> 32) },
	};
	uint64_t h = t_scratch_put(&rt, 0, &hdr, sizeof hdr), d = t_scratch_put(&rt, 64, data, sizeof data);
	uint64_t g = p->ngroups ? t_scratch_put(&rt, 128, p->groups, (size_t)p->ngroups * sizeof p->groups[0]) : 0;
	if (!h || !d || (p->ngroups && !g) || (size_t)p->ngroups * sizeof p->groups[0] + 128 > BATCH_TABLE_OFF)
		return proto_fail("finish", "credentials", E2BIG, "cannot stage them in the scratch area");
	if (p->have_caps)
		batch_add(b, SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0, 0, 0);
	if (!creds_are_mine(p)) { /* a restorer that is not root may not call these at all */
		batch_add(b, SYS_setgroups, (uint64_t)p->ngroups, g, 0, 0, 0, 0, 0, 1);
		batch_add(b, SYS_setresgid, p->gid[0], p->gid[1], p->gid[2], 0, 0, 0, 0, 2);
		batch_add(b, SYS_setfsgid, p->gid[3], 0, 0, 0, 0, 0, 0, 3);
		batch_add(b, SYS_setresuid, p->uid[0], p->uid[1], p->uid[2], 0, 0, 0, 0, 4);
		batch_add(b, SYS_setfsuid, p->uid[3], 0, 0, 0, 0, 0, 0, 5);
	}
	if (p->have_caps) {
		batch_add(b, SYS_capset, h, d, 0, 0, 0, 0, 0, 6);
		for (int c = 0; c < 64; c++)
			if (p->cap_amb >> c & 1)
				batch_add(b, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (uint64_t)c, 0, 0, 0, 0, 7);
		batch_add(b, SYS_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0, 0, 0, 8);
	}
	batch_add(b, SYS_prctl, PR_SET_DUMPABLE, (uint64_t)p->dumpable, 0, 0, 0, 0, 0, 9);
	return 0;
}

static int creds_failed(const struct batch *b)
{
	int bad = batch_failed(b);
	if (bad >= 0)
		return proto_fail("finish", cred_names[b->tags[bad]], bad < b->done ? (int)-(long)b->calls[bad].ret : EPROTO,
				  "%s failed in the task", cred_names[b->tags[bad]]);
	return 0;
}

/* 1: the parent-death signal was set too (the main thread) */
int restore_creds(struct task_plan *p)
{
	if (!p->have_creds)
		return 0;
	if (restore_bounding(p) < 0)
		return -1;
	static struct batch b;
	if (creds_batch(p, &b) < 0)
		return -1;
	/* the main thread's parent-death signal, which a change of credentials clears: nothing
	 * after this batch changes them again */
	int main_thread = rt.pid == p->pid;
	if (main_thread)
		batch_add(&b, SYS_prctl, PR_SET_PDEATHSIG, (uint64_t)p->pdeathsig, 0, 0, 0, 0, 0, 10);
	if (batch_run(&b, &rt) < 0)
		return proto_fail("finish", "credentials", errno, "cannot drive the task through them");
	return creds_failed(&b) < 0 ? -1 : main_thread;
}

/* Whether restore_creds would leave a thread as it is: its credentials are the helper's (the
 * task is the helper's clone, and its threads are born before any credential changes), and the
 * image's are the same: ids and groups, the capability sets (permitted, effective, inheritable,
 * ambient; nothing to drop from the bounding set) and keep-capabilities off, as the batch ends.
 * Dumpable, which the batch also sets, belongs to the process (its mm), set by the main thread's
 * own batch after the threads'. */
static int creds_unchanged(const struct task_plan *p)
{
	if (!creds_are_mine(p))
		return 0;
	if (!p->have_caps)
		return 1;
	const struct own_caps *o = own_caps();
	/* nothing to drop from the bounding set: what the helper has, the image has */
	return o->known > 0 && o->keepcaps == 0 && o->eff == p->cap_eff && o->prm == p->cap_prm && o->inh == p->cap_inh &&
	       o->amb == p->cap_amb && !(o->bnd & ~p->cap_bnd);
}

/* restore_creds in every other thread of the task (rt: the main thread), CREDS_WAVE threads at
 * once, each its own copy of the table (the calls and their staged data are the same for all);
 * one after the other when the bounding set is to be changed (injected calls of its own). */
#define CREDS_WAVE 32
int restore_creds_threads(struct task_plan *p)
{
	if (!p->nthreads || (p->have_creds && creds_unchanged(p))) /* e.g. root's image restored by root */
		return 0;
	struct tracee main_t = rt;
	int wave = p->have_creds ? CREDS_WAVE : 1;
	for (int c = 0; c < 64 && p->have_caps && wave > 1; c++)
		if (!(p->cap_bnd >> c & 1) && own_bounding(c))
			wave = 1;
	static struct batch tmpl, b[CREDS_WAVE];
	static struct tracee t[CREDS_WAVE];
	size_t table = 0;
	if (wave > 1) {
		if (creds_batch(p, &tmpl) < 0)
			return -1;
		table = ((size_t)tmpl.n * sizeof tmpl.calls[0] + 63) & ~(size_t)63;
		while (wave > 1 && BATCH_TABLE_OFF + (size_t)wave * table > main_t.scratch_len)
			wave /= 2;
	}
	int rc = 0;
	for (int w0 = 0; w0 < p->nthreads && rc == 0; w0 += wave) {
		int n = p->nthreads - w0 < wave ? p->nthreads - w0 : wave, started = 0;
		for (int i = 0; i < n && rc == 0; i++) {
			struct thread_plan *th = &p->threads[w0 + i];
			t[i] = main_t;
			t[i].pid = th->pid;
			if (t_get_regs(th->pid, &t[i].regs) < 0)
				rc = proto_fail("finish", "thread", errno, "cannot set the credentials of thread %d", th->tid);
			else if (wave == 1) {
				rt = t[i];
				if (restore_creds(p) < 0)
					rc = proto_fail("finish", "thread", errno, "cannot set the credentials of thread %d", th->tid);
			} else {
				b[i] = tmpl;
				if (batch_start(&b[i], &t[i], BATCH_TABLE_OFF + (size_t)i * table) < 0)
					rc = proto_fail("finish", "credentials", errno, "cannot drive the task through them");
				else
					started = i + 1;
			}
		}
		/* every thread started is waited for, also after a failure */
		for (int i = 0; i < started; i++) {
			if (batch_end(&b[i], &t[i]) < 0) {
				if (rc == 0)
					rc = proto_fail("finish", "credentials", errno, "cannot drive the task through them");
			} else if (rc == 0)
				rc = creds_failed(&b[i]);
		}
	}
	rt = main_t;
	return rc;
}
