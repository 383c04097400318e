/* The tracer's part of a task's restart: the "kernel restart" of one task, done from outside
 * with injected system calls (see restore.c for the phase list). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/shm.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <sys/personality.h>
#include <linux/sched.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "batch.h"
#include "helper.h"
#include "image.h"
#include "proto.h"
#include "restore.h"
#include "tracee.h"

extern struct restore_ctx ctx;
struct tracee rt; /* the task (or thread) injected calls go to */

/* Makes p the task that injected calls go to, through the gadget every task inherited. */
int use_task(struct task_plan *p, uint64_t gadget, const char *phase)
{
	memset(&rt, 0, sizeof rt);
	rt.pid = p->pid;
	rt.gadget = gadget;
	rt.scratch = gadget + GADGET_CODE_SIZE;
	rt.scratch_len = GADGET_SIZE - GADGET_CODE_SIZE;
	if (t_get_regs(rt.pid, &rt.regs) < 0)
		return proto_fail(phase, "registers", errno, "cannot read the registers of task %d", p->pid);
	return 0;
}

int rt_call(const char *phase, const char *what, struct syscall_req req, long *ret)
{
	if (t_inject(&rt, req.nr, req.a[0], req.a[1], req.a[2], req.a[3], req.a[4], req.a[5], ret) < 0)
		return proto_fail(phase, what, errno, "cannot drive the task through %s", what);
	if (SYSCALL_FAILED(*ret))
		return proto_fail(phase, what, (int)-*ret, "%s failed in the task", what);
	return 0;
}

/* Opens path inside the task (with the task's own credentials by the time it is called);
 * returns its fd there. */
int task_open(const char *phase, const char *path, int flags, long *fd)
{
	size_t len = strlen(path) + 1;
	uint64_t a = t_scratch_put(&rt, 0, path, len);
	if (!a)
		return proto_fail(phase, path, errno, "path too long for the scratch area");
	if (t_inject(&rt, SYS_openat, (uint64_t)AT_FDCWD, a, (uint64_t)flags, 0, 0, 0, fd) < 0)
		return proto_fail_sys("open", phase, path, errno, "cannot drive the task through open");
	if (*fd < 0)
		return proto_fail_sys("open", phase, path, (int)-*fd, "cannot open the file");
	return 0;
}

/* The files of /proc/PID[/task/TID] and the pidfds the task holds (FILE_LATE), opened by the
 * task itself now that every task and its threads exist, at the restored pid of the task they
 * name (a pidfd: pidfd_open of its pid as the task's pid namespace shows it, with the saved
 * O_NONBLOCK and PIDFD_THREAD); an fd of the same file opened earlier in this task is dup'd
 * instead (one open file, as before). */
static int restore_late_files(struct task_plan *p)
{
	const struct plan *pl = ctx.plan;
	for (int i = 0; i < p->nfds; i++) {
		const struct fd_plan *fd = &p->fds[i];
		const struct file_plan *fp = &pl->files[fd->file];
		if (!FILE_LATE(fp->kind))
			continue;
		long ret;
		int first = 0;
		while (first < i && p->fds[first].file != fd->file)
			first++;
		if (first < i) {
			if (rt_call("finish", "dup3", SYSCALL_REQ(SYS_dup3, (uint64_t)p->fds[first].target, (uint64_t)fd->target, fd->cloexec ? O_CLOEXEC : 0), &ret) < 0)
				return -1;
			continue;
		}
		const struct task_plan *of = NULL;
		for (int t = 0; t < pl->ntasks && !of; t++)
			if (pl->tasks[t].old_pid == fp->proc_pid && pl->tasks[t].pid > 0)
				of = &pl->tasks[t];
		if (!of)
			return proto_fail("finish", fp->kind == FILE_PIDFD ? "pidfd" : "/proc file", ESRCH,
					  "fd %d names process %d, which is not restored", fd->target, (int)fp->proc_pid);
		char path[320], task[32] = "";
		if (fp->kind == FILE_PIDFD) { /* no offset: the seek below never runs */
			if (rt_call("finish", "pidfd_open", SYSCALL_REQ(SYS_pidfd_open, (uint64_t)of->nspid, (uint64_t)(fp->flags & (O_NONBLOCK | O_EXCL))), &ret) < 0)
				return -1;
		} else {
			if (fp->proc_tid)
				snprintf(task, sizeof task, "/task/%d", fp->proc_tid == fp->proc_pid ? (int)of->pid : (int)fp->proc_tid);
			snprintf(path, sizeof path, "/proc/%d%s%s", (int)of->pid, task, fp->path ? fp->path : "");
			/* a namespace file: through its magic link /proc/PID/ns/TYPE (plan_files.c) */
			int nofollow = fp->path && !strncmp(fp->path, "/ns/", 4) ? 0 : O_NOFOLLOW;
			if (task_open("finish", path, (fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC | nofollow, &ret) < 0)
				return -1;
		}
		long at = ret;
		if (at != fd->target && rt_call("finish", "dup3", SYSCALL_REQ(SYS_dup3, (uint64_t)at, (uint64_t)fd->target, fd->cloexec ? O_CLOEXEC : 0), &ret) < 0)
			return -1;
		if (at != fd->target && rt_call("finish", "close", SYSCALL_REQ(SYS_close, (uint64_t)at), &ret) < 0)
			return -1;
		if (at == fd->target && !fd->cloexec &&
		    rt_call("finish", "fcntl", SYSCALL_REQ(SYS_fcntl, (uint64_t)at, F_SETFD), &ret) < 0)
			return -1;
		/* where the file allows it: a file that cannot seek stays at its start */
		if (fp->pos && t_inject(&rt, SYS_lseek, (uint64_t)fd->target, fp->pos, SEEK_SET, 0, 0, 0, &ret) < 0)
			return proto_fail_sys("lseek", "finish", path, errno, "cannot drive the task through lseek");
	}
	return 0;
}

/* Signal-driven I/O: the kernel names, in the signal, the fd through which O_ASYNC was set, so
 * one task sets it with its own fd (the helper gives the owner back at resume): the owner if it
 * holds the file, else the first task that does, with its lowest fd of it. */
static int holds(const struct task_plan *t, int file)
{
	for (int i = 0; i < t->nfds; i++)
		if (t->fds[i].file == file)
			return t->fds[i].target;
	return -1;
}

static int restore_async(struct task_plan *p)
{
	const struct plan *pl = ctx.plan;
	for (int i = 0; i < p->nfds; i++) {
		const struct file_plan *fp = &pl->files[p->fds[i].file];
		if (!fp->fown_type || !(fp->flags & O_ASYNC) || holds(p, p->fds[i].file) != p->fds[i].target)
			continue;
		const struct task_plan *by = NULL;
		for (int t = 0; t < pl->ntasks && !by; t++) {
			const struct task_plan *c = &pl->tasks[t];
			int owner = c->old_pid == fp->fown_pid;
			for (int k = 0; k < c->nthreads; k++)
				owner |= c->threads[k].tid == fp->fown_pid;
			if (owner && holds(c, p->fds[i].file) >= 0)
				by = c;
		}
		for (int t = 0; t < pl->ntasks && !by; t++)
			if (holds(&pl->tasks[t], p->fds[i].file) >= 0)
				by = &pl->tasks[t];
		long ret;
		if (by == p && rt_call("finish", "fcntl(F_SETFL, O_ASYNC)", SYSCALL_REQ(SYS_fcntl, (uint64_t)p->fds[i].target, F_SETFL, (uint64_t)(fp->flags | O_ASYNC)), &ret) < 0)
			return -1;
	}
	return 0;
}

int restore_finish(struct task_plan *p, uint64_t gadget)
{
	long ret;
	if (use_task(p, gadget, "finish") < 0)
		return -1;
	/* the personality before the threads exist: they inherit it */
	int early = finish_early(p); /* 1: the signal state too */
	if (early < 0 || restore_threads(p) < 0 || cgroups_threads(p) < 0 || (ptimers_early(p) && restore_ptimers(p) < 0) ||
	    (!early && restore_sigstate(&p->sig, p->nspid, p->nspid, p->shpending, p->nshpending) < 0) || restore_process_state(p) < 0)
		return -1;
	/* Limits late, so a low limit cannot break the steps before; but before the credentials
	 * change, while the helper may still set them without CAP_SYS_RESOURCE. */
	for (int r = 0; r < 16; r++) {
		if (!p->rlim[r].set)
			continue;
		struct rlimit64 l = { p->rlim[r].cur, p->rlim[r].max };
		if (prlimit64(rt.pid, (enum __rlimit_resource)r, &l, NULL) < 0) {
			char obj[32];
			snprintf(obj, sizeof obj, "rlimit %d", r);
			return proto_fail("finish", obj, errno, "cannot set the resource limit");
		}
	}
	if (attrs_before_creds(p) < 0 || seccomp_finish(p, 0) < 0)
		return -1;
	/* credentials (per thread: the raw calls change only the calling thread); changing them
	 * clears the parent-death signal, so that comes after */
	struct tracee main_t = rt;
	if (restore_creds_threads(p) < 0) /* many threads at once (restore_state.c) */
		return -1;
	int pdeath = restore_creds(p); /* 1: with the parent-death signal */
	if (pdeath < 0 || attrs_after_creds(p) < 0 || restore_leases(p) < 0)
		return -1;
	/* files of /proc/PID and pidfds are opened by the task itself, with its own credentials (the
	 * kernel's ptrace-mode checks apply); O_ASYNC is set once they are all in place */
	if (restore_late_files(p) < 0 || restore_async(p) < 0)
		return -1;
	if (p->nonewprivs) { /* per thread, like the credentials */
		for (int i = 0; i <= p->nthreads; i++) {
			rt.pid = i < p->nthreads ? p->threads[i].pid : main_t.pid;
			if (t_get_regs(rt.pid, &rt.regs) < 0 ||
			    rt_call("finish", "prctl(PR_SET_NO_NEW_PRIVS)", SYSCALL_REQ(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1), &ret) < 0)
				return -1;
		}
		rt = main_t;
	}
	if (seccomp_finish(p, 1) < 0) /* after no_new_privs: the kernel may ask for it */
		return -1;
	if (!pdeath && rt_call("finish", "prctl(PR_SET_PDEATHSIG)", SYSCALL_REQ(SYS_prctl, PR_SET_PDEATHSIG, (uint64_t)p->pdeathsig), &ret) < 0)
		return -1;
	if (p->leader_exit && p->nthreads) {
		/* The main thread leaves again through the gadget's `syscall` (exit of this thread
		 * only): detached, it runs it and stays the zombie leader it was. The gadget is then
		 * unmapped through another thread. */
		struct user_regs_struct r = rt.regs;
		r.rip = gadget, r.rax = SYS_exit, r.orig_rax = (uint64_t)-1, r.rdi = 0;
		if (t_set_regs(rt.pid, &r) < 0 || ptrace(PTRACE_DETACH, rt.pid, 0, 0) < 0)
			return proto_fail("finish", "main thread", errno, "cannot let the main thread exit");
		for (int i = 0; i < 500 && !thread_is_zombie(rt.pid, rt.pid); i++) {
			struct timespec nap = { 0, 1000000 };
			nanosleep(&nap, NULL);
		}
		rt.pid = p->threads[0].pid;
		if (t_get_regs(rt.pid, &rt.regs) < 0)
			return proto_fail("finish", "thread", errno, "cannot read the registers of thread %d", rt.pid);
	}
	/* SIGTRAP's action after the last trap (finish_early.c), then the gadget unmapped from its
	 * own `syscall`: stop at syscall exit, never return into it. */
	const uint64_t a[6] = { gadget, GADGET_SIZE, 0, 0, 0, 0 };
	if (finish_trap(p, gadget) < 0)
		return -1;
	if (t_inject_via_syscall_stops(&rt, gadget, SYS_munmap, a, &ret) < 0 || ret != 0)
		return proto_fail("finish", "gadget", errno, "cannot unmap the restore gadget");
	if (finish_threads(p) < 0)
		return -1;
	if (p->leader_exit && p->nthreads)
		return 0;
	unsigned char *xs = calloc(p->xstate_len, 1); /* the plan keeps it without its trailing zeros */
	if (!xs)
		return proto_fail("finish", "xstate", ENOMEM, "out of memory");
	memcpy(xs, p->xstate, p->xstate_used);
	int xr = t_set_xstate(rt.pid, xs, p->xstate_len);
	free(xs);
	if (xr < 0)
		return proto_fail_sys("PTRACE_SETREGSET", "finish", "xstate", errno,
				  "PTRACE_SETREGSET NT_X86_XSTATE failed (%zu bytes)", p->xstate_len);
	if (t_set_regs(rt.pid, &p->regs) < 0)
		return proto_fail_sys("PTRACE_SETREGSET", "finish", "registers", errno, "PTRACE_SETREGSET NT_PRSTATUS failed");
	if (ptrace(PTRACE_SETSIGMASK, rt.pid, (void *)8, &p->sigmask) < 0)
		return proto_fail_sys("PTRACE_SETSIGMASK", "finish", "sigmask", errno, "PTRACE_SETSIGMASK failed");
	/* The caller detaches: from a ptrace stop that marks a signal pending, so the kernel's own
	 * syscall-restart logic sees the restored orig_rax/rax (-ERESTART*) as after a real stop. */
	return 0;
}
