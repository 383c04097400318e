#define _GNU_SOURCE
#include "tracee.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

int t_wait(pid_t pid, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, __WALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
			errno = ESRCH;
			return -1;
		}
		return 0;
	}
}

int t_get_regs(pid_t pid, struct user_regs_struct *r)
{
	struct iovec iov = { r, sizeof *r };
	return (int)ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov);
}

int t_set_regs(pid_t pid, const struct user_regs_struct *r)
{
	struct iovec iov = { (void *)r, sizeof *r };
	return (int)ptrace(PTRACE_SETREGSET, pid, (void *)NT_PRSTATUS, &iov);
}

int t_get_xstate(pid_t pid, void *buf, size_t *len)
{
	struct iovec iov = { buf, *len };
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0)
		return -1;
	*len = iov.iov_len;
	return 0;
}

int t_set_xstate(pid_t pid, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	return (int)ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &iov);
}

static int mem_fallback(pid_t pid, uint64_t addr, void *buf, size_t len, int write)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", pid);
	int fd = open(path, write ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write ? pwrite(fd, (char *)buf + done, len - done, (off_t)(addr + done))
				  : pread(fd, (char *)buf + done, len - done, (off_t)(addr + done));
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			errno = e;
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

int t_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	return mem_fallback(pid, addr, buf, len, 0);
}

/* pagemap entries read ahead by t_read_pages: a task's runs come in ascending order, and one
 * pread for the next 512 pages serves the small runs among them (10,000 one-page runs took a
 * pread each) */
static struct {
	pid_t pid;
	uint64_t base, n; /* entries of the pages from base */
	uint64_t ent[512];
} ahead;

void t_read_pages_reset(void)
{
	ahead.n = 0;
}

/* The pagemap entries of n pages (n <= 1024) from addr into ent: from what was read ahead when
 * it covers them; -1 when they cannot be read. */
static int pagemap_at(int fd, pid_t pid, uint64_t addr, size_t n, uint64_t *ent)
{
	uint64_t page = addr / 4096;
	if (ahead.pid != pid || page < ahead.base || page + n > ahead.base + ahead.n) {
		ahead.n = 0;
		ahead.pid = pid;
		if (n <= 64) { /* small: read ahead */
			ssize_t got = pread(fd, ahead.ent, sizeof ahead.ent, (off_t)(page * 8));
			if (got >= (ssize_t)(n * 8)) {
				ahead.base = page;
				ahead.n = (uint64_t)got / 8;
			}
		}
		if (!ahead.n)
			return pread(fd, ent, n * 8, (off_t)(page * 8)) == (ssize_t)(n * 8) ? 0 : -1;
	}
	memcpy(ent, ahead.ent + (page - ahead.base), n * 8);
	return 0;
}

/* pid's pagemap, opened once per task */
static int pagemap_fd(pid_t pid)
{
	static pid_t map_pid;
	static int map_fd = -1;
	if (map_pid != pid) {
		char path[64];
		if (map_fd >= 0)
			close(map_fd);
		snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
		map_fd = open(path, O_RDONLY | O_CLOEXEC);
		map_pid = pid;
		ahead.n = 0;
	}
	return map_fd;
}

int t_read_pages_v(pid_t pid, const struct iovec *local, const struct iovec *remote, size_t n)
{
	int fd = pagemap_fd(pid);
	uint64_t ent[64];
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		size_t np = remote[i].iov_len / 4096;
		if (fd < 0 || np > 64 || pagemap_at(fd, pid, (uint64_t)(uintptr_t)remote[i].iov_base, np, ent) < 0)
			return 1;
		for (size_t k = 0; k < np; k++)
			if ((ent[k] >> 63 & 1) && !(ent[k] >> 56 & 1)) /* shared: t_read_pages' careful way */
				return 1;
		total += remote[i].iov_len;
	}
	return process_vm_readv(pid, local, n, remote, n, 0) == (ssize_t)total ? 0 : 1;
}

int t_read_pages(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	static uint64_t ent[1024];
	int map_fd = pagemap_fd(pid);
	for (size_t done = 0; done < len;) {
		size_t n = (len - done) / 4096 > 1024 ? 1024 : (len - done) / 4096, shared = 0;
		if (map_fd < 0 || pagemap_at(map_fd, pid, addr + done, n, ent) < 0)
			shared = 1; /* cannot tell: the careful way */
		for (size_t i = 0; i < n && !shared; i++)
			shared = (ent[i] >> 63 & 1) && !(ent[i] >> 56 & 1); /* present, not exclusively mapped */
		if (shared ? mem_fallback(pid, addr + done, (char *)buf + done, n * 4096, 0) < 0
			   : t_read_mem(pid, addr + done, (char *)buf + done, n * 4096) < 0)
			return -1;
		done += n * 4096;
	}
	return 0;
}

int t_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len }, remote = { (void *)addr, len };
	ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	return mem_fallback(pid, addr, (void *)buf, len, 1);
}

static void load_call(struct user_regs_struct *r, uint64_t rip, long nr, const uint64_t a[6])
{
	r->rip = rip;
	r->rax = (uint64_t)nr;
	r->orig_rax = (uint64_t)-1;
	r->rdi = a[0];
	r->rsi = a[1];
	r->rdx = a[2];
	r->r10 = a[3];
	r->r8 = a[4];
	r->r9 = a[5];
}

/* Resumes with req and waits for the next stop, skipping group-stop reports: a task that was
 * stopped by SIGSTOP when frozen re-reports its group-stop when resumed. A SIGSTOP that comes
 * out of its pending set (sent again to a task already stopped: the zdtm stopped01 case; every
 * other signal is blocked while calls are injected) is suppressed: in a stopped task it can
 * never act (the SIGCONT that continues the task discards it), and delivering it would stop
 * the injected call. */
static int wait_call(pid_t pid, int req, int *st)
{
	for (int i = 0; i < 16; i++) {
		if (t_wait(pid, st) < 0)
			return -1;
		if (!(WIFSTOPPED(*st) && (*st >> 16) == 0 && WSTOPSIG(*st) == SIGSTOP) &&
		    !(WIFSTOPPED(*st) && (*st >> 16) == PTRACE_EVENT_STOP))
			return 0;
		/* a signal-delivery stop of a pending SIGSTOP, or a group-stop report: resumed
		 * without it */
		if (i < 15 && ptrace(req, pid, 0, 0) < 0)
			return -1;
	}
	errno = EPROTO;
	return -1;
}

static int resume_wait(pid_t pid, int req, int *st)
{
	if (ptrace(req, pid, 0, 0) < 0)
		return -1;
	return wait_call(pid, req, st);
}

int t_inject_start(struct tracee *t, long nr, const uint64_t a[6])
{
	struct user_regs_struct r = t->regs;
	load_call(&r, t->gadget, nr, a);
	if (t_set_regs(t->pid, &r) < 0)
		return -1;
	return (int)ptrace(PTRACE_CONT, t->pid, 0, 0);
}

int t_inject_end(struct tracee *t, long *ret)
{
	int st;
	struct user_regs_struct r;
	if (wait_call(t->pid, PTRACE_CONT, &st) < 0)
		return -1;
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || (st >> 16) != 0) {
		errno = EPROTO;
		return -1;
	}
	if (t_get_regs(t->pid, &r) < 0)
		return -1;
	if (r.rip != t->gadget + 3) { /* just past `syscall; int3` */
		errno = EPROTO;
		return -1;
	}
	*ret = (long)r.rax;
	return 0;
}

int t_inject(struct tracee *t, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
	     uint64_t a5, uint64_t a6, long *ret)
{
	const uint64_t a[6] = { a1, a2, a3, a4, a5, a6 };
	return t_inject_start(t, nr, a) < 0 ? -1 : t_inject_end(t, ret);
}

int t_requeue_trap(struct tracee *t, uint64_t insn, pid_t tgid, pid_t tid, const void *si, long *ret)
{
	uint64_t all = ~0ULL, a = t_scratch_put(t, 64, si, 128);
	const uint64_t q[6] = { (uint64_t)tgid, SIGTRAP, a, 0, 0, 0 };
	const uint64_t tq[6] = { (uint64_t)tgid, (uint64_t)tid, SIGTRAP, a, 0, 0 };
	if (!a || ptrace(PTRACE_SETSIGMASK, t->pid, (void *)8, &all) < 0)
		return -1;
	return t_inject_via_syscall_stops(t, insn, tid ? SYS_rt_tgsigqueueinfo : SYS_rt_sigqueueinfo, tid ? tq : q, ret);
}

int t_inject_via_syscall_stops(struct tracee *t, uint64_t insn, long nr, const uint64_t a[6],
			       long *ret)
{
	struct user_regs_struct r = t->regs;
	load_call(&r, insn, nr, a);
	if (t_set_regs(t->pid, &r) < 0)
		return -1;
	int st;
	for (int stop = 0; stop < 2; stop++) { /* syscall entry, then exit */
		if (resume_wait(t->pid, PTRACE_SYSCALL, &st) < 0)
			return -1;
		if (!WIFSTOPPED(st) || WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			errno = EPROTO;
			return -1;
		}
	}
	if (t_get_regs(t->pid, &r) < 0)
		return -1;
	*ret = (long)r.rax;
	return 0;
}

/* One stop instead of two: the `syscall` at insn single-stepped. The kernel reports the step
 * when the call returns, before any instruction of the task runs, by forcing a SIGTRAP on it
 * (user_single_step_report): the caller leaves SIGTRAP unblocked and not ignored in the task,
 * else the kernel resets the task's SIGTRAP action to SIG_DFL. The stop is that SIGTRAP's, and
 * the next resume (without it) lets it go, as for the int3 of t_inject. */
int t_step_start(struct tracee *t, uint64_t insn, long nr, const uint64_t a[6])
{
	struct user_regs_struct r = t->regs;
	load_call(&r, insn, nr, a);
	if (t_set_regs(t->pid, &r) < 0)
		return -1;
	return (int)ptrace(PTRACE_SINGLESTEP, t->pid, 0, 0);
}

int t_step_end(struct tracee *t, uint64_t insn, long *ret)
{
	int st;
	struct user_regs_struct r;
	if (wait_call(t->pid, PTRACE_SINGLESTEP, &st) < 0)
		return -1;
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || (st >> 16) != 0 || t_get_regs(t->pid, &r) < 0 ||
	    r.rip != insn + 2) { /* just past the `syscall` */
		errno = EPROTO;
		return -1;
	}
	*ret = (long)r.rax;
	return 0;
}

int t_inject_via_step(struct tracee *t, uint64_t insn, long nr, const uint64_t a[6], long *ret)
{
	return t_step_start(t, insn, nr, a) < 0 ? -1 : t_step_end(t, insn, ret);
}

uint64_t t_scratch_put(struct tracee *t, size_t off, const void *buf, size_t len)
{
	if (off + len > t->scratch_len) {
		errno = E2BIG;
		return 0;
	}
	if (t_write_mem(t->pid, t->scratch + off, buf, len) < 0)
		return 0;
	return t->scratch + off;
}
