/* Restart side of the helper: `ucr-helper restore [--detach]`, plan on fd 0, image on fd 3.
 *
 * Phases (each reported to the coordinator as an event):
 *   plan     read and check the plan lines
 *   create   map the gadget (inherited by the clone), clone3() with set_tid = the image's pid,
 *            seize the new task; the task restores its fds, cwd, umask and comm, then stops
 *   memory   injected calls: drop rseq, unmap everything but the gadget, put the vdso group back
 *            at its old address, map every VMA; then page records are streamed into the task
 *   verify   the trailer has been read; the coordinator checks it and says commit or abort
 *   finish   protections, madvise, PR_SET_MM_MAP, rseq, signal handlers, pdeathsig, rlimits,
 *            unmap the gadget, xstate and registers, signal mask, detach: the task runs
 * Any failure kills the task (it is traced with PTRACE_O_EXITKILL and has PDEATHSIG too). */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "proto.h"
#include "tracee.h"

#define TASK_END 0x7ffffffff000ULL

static int overlaps(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a < d && c < b;
}

/* A gadget address free in the image and in the helper itself (MAP_FIXED_NOREPLACE). */
static uint64_t map_gadget(const struct task_plan *p)
{
	for (uint64_t g = 0x200000; g + GADGET_SIZE < TASK_END; g += 0x100000) {
		int clash = overlaps(g, g + GADGET_SIZE, p->vvar_start, p->vdso_start + 0x10000);
		for (int i = 0; i < p->nvmas && !clash; i++)
			clash = overlaps(g, g + GADGET_SIZE, p->vmas[i].start, p->vmas[i].end);
		if (clash)
			continue;
		void *m = mmap((void *)g, GADGET_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED)
			continue;
		if ((uint64_t)m != g) {
			munmap(m, GADGET_SIZE);
			continue;
		}
		static const unsigned char code[] = { 0x0f, 0x05, 0xcc };
		memcpy(m, code, sizeof code);
		mprotect(m, GADGET_CODE_SIZE, PROT_READ | PROT_EXEC);
		return g;
	}
	return 0;
}

static int max_fd_in_use(const struct task_plan *p, int extra1, int extra2)
{
	int m = extra1 > extra2 ? extra1 : extra2;
	for (int i = 0; i < p->nfds; i++) {
		if (p->fds[i].target > m)
			m = p->fds[i].target;
		if (p->fds[i].srcfd > m)
			m = p->fds[i].srcfd;
	}
	return m < 16 ? 16 : m;
}

static const char *child_step_name(int step)
{
	switch (step) {
	case CHILD_OPEN: return "cannot open the file";
	case CHILD_SEEK: return "cannot seek to the saved offset";
	case CHILD_DUP: return "cannot place the descriptor";
	case CHILD_CWD: return "cannot change to the working directory";
	}
	return "unknown step";
}

/* clone3 with set_tid; retries while the pid is still held (a zombie not yet reaped). */
static pid_t create_task(struct task_plan *p)
{
	int go[2], err[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return proto_fail("create", "pipe", errno, "cannot create pipes");
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t want = p->pid, parent = getpid();
	int maxfd = max_fd_in_use(p, go[1], err[1]);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid;
	for (;;) {
		struct clone_args ca = { .exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&want,
					 .set_tid_size = 1 };
		pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
		if (pid == 0)
			child_main(p, parent, go[0], err[1], maxfd);
		if (pid > 0 || errno != EEXIST)
			break;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= p->pid_wait_ms)
			break;
		struct timespec nap = { 0, 20 * 1000000 };
		nanosleep(&nap, NULL);
	}
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(go[0]);
	close(err[1]);
	if (pid < 0) {
		close(go[1]);
		close(err[0]);
		char obj[32];
		snprintf(obj, sizeof obj, "pid %d", want);
		if (saved == EEXIST)
			return proto_fail("create", obj, saved, "pid %d is in use (waited %d ms)", want,
					  p->pid_wait_ms);
		return proto_fail("create", obj, saved, "clone3 with set_tid failed");
	}
	proto_emit("{\"ev\":\"created\",\"pid\":%d}", pid);
	if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0) {
		kill(pid, SIGKILL);
		return proto_fail("create", "ptrace", errno, "cannot seize the new task %d", pid);
	}
	if (write(go[1], "g", 1) != 1) {
		kill(pid, SIGKILL);
		return proto_fail("create", "pipe", errno, "cannot start the new task");
	}
	close(go[1]);
	int st;
	if (t_wait(pid, &st) < 0 || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
		struct child_error e = { 0 };
		long n = read(err[0], &e, sizeof e);
		close(err[0]);
		kill(pid, SIGKILL);
		if (n == (long)sizeof e) {
			char obj[48];
			if (e.fd >= 0)
				snprintf(obj, sizeof obj, "fd %d", e.fd);
			else
				snprintf(obj, sizeof obj, "task %d", pid);
			for (int i = 0; i < p->nfds; i++)
				if (p->fds[i].target == e.fd && p->fds[i].path)
					return proto_fail("create", obj, e.err, "%s %s", child_step_name(e.step),
							  p->fds[i].path);
			if (e.step == CHILD_CWD)
				return proto_fail("create", obj, e.err, "%s %s", child_step_name(e.step), p->cwd);
			return proto_fail("create", obj, e.err, "%s", child_step_name(e.step));
		}
		return proto_fail("create", "task", ECHILD, "the new task %d did not reach its first stop", pid);
	}
	close(err[0]);
	return pid;
}

/* Copies the rest of the image stream on fd 3 into a memfd and puts that on fd 3: used when the
 * image arrives through a pipe from a checkpoint that frees the pids only once it is complete. */
static int spool_image(void)
{
	int mfd = (int)syscall(SYS_memfd_create, "ucr-image", 1U /* MFD_CLOEXEC */);
	if (mfd < 0)
		return proto_fail("spool", "memfd", errno, "cannot create a memfd for the image");
	enum { BUF = 1 << 20 };
	static char buf[BUF];
	for (;;) {
		long n = read_full(3, buf, BUF);
		if (n < 0)
			return proto_fail("spool", "image", errno, "cannot read the image");
		if (n > 0 && write_full(mfd, buf, (size_t)n) < 0)
			return proto_fail("spool", "memfd", errno, "cannot store the image (out of memory?)");
		if (n < BUF)
			break;
	}
	if (lseek(mfd, 0, SEEK_SET) < 0 || dup2(mfd, 3) < 0)
		return proto_fail("spool", "memfd", errno, "cannot rewind the spooled image");
	close(mfd);
	return 0;
}

int helper_restore(int detach)
{
	static struct task_plan plan;
	if (plan_read(&plan) < 0)
		return 1;
	if (!plan.pid || !plan.have_regs || !plan.have_mm || !plan.xstate_len || !plan.vvar_start) {
		proto_fail("plan", "task", EINVAL, "the plan is incomplete");
		return 1;
	}
	if (plan.spool && spool_image() < 0)
		return 1;
	proto_emit("{\"ev\":\"planned\"}");
	uint64_t gadget = map_gadget(&plan);
	if (!gadget) {
		proto_fail("create", "gadget", ENOMEM, "no free address for the restore gadget");
		return 1;
	}
	pid_t pid = create_task(&plan);
	if (pid < 0)
		return 1;
	plan.pid = pid;
	if (restore_memory(&plan, gadget) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		return 1;
	}
	/* Commit point: the coordinator has checked the trailer. */
	char *line = proto_readline();
	if (!line || strcmp(line, "commit") != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		if (!proto_failed())
			proto_fail("verify", "image", ECANCELED, "restart aborted by the coordinator");
		return 1;
	}
	if (restore_finish(&plan, gadget) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, __WALL);
		return 1;
	}
	proto_emit("{\"ev\":\"running\",\"pid\":%d}", pid);
	if (detach)
		return 0;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			proto_fail("wait", "task", errno, "cannot wait for task %d", pid);
			return 1;
		}
	proto_emit("{\"ev\":\"exit\",\"pid\":%d,\"code\":%d,\"signal\":%d}", pid,
		   WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}
