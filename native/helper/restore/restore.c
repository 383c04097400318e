/* Restart side of the helper: `ucr-helper restore [--detach]`, plan on fd 0, image on fd 3
 * (`--verify`: the plan is only read and checked, then the page records on fd 3 are checked as
 * a restart checks them, for inspect --verify; checkpoint's check of its plan is `check` on the
 * dump channel, plan.c).
 *
 * Phases (each reported to the coordinator as an event):
 *   plan     read and check the plan lines; spool the image into a memfd if asked
 *   files    open every file object and create every pipe (filled with its data) at high fds
 *            that all tasks inherit; one command pipe per task, one shared report pipe
 *   tree     (restore_tree.c) the planned actions, in order: each task is created by its own
 *            creator (the helper for the root) with clone3(set_tid), then setsid/setpgid/ctty,
 *            zombies and placeholders exit, placeholders are reaped. Every task is seized (PTRACE_O_EXITKILL) as soon as
 *            it exists. Then each task puts its fds in place and stops: `created`
 *   memory   per task (injected calls): drop the inherited rseq, unmap everything but the
 *            gadget, put the vdso group back, map every VMA; then the page records of all
 *            tasks stream in; the trailer is read: `loaded`
 *   verify   the coordinator checks the trailer and says commit (or abort)
 *   finish   per task: protections, madvise, mm, rseq, handlers, tid address, limits, gadget
 *            unmapped, xstate, registers, mask; then all tasks are detached together
 *            (stopped ones get their stop signal first, job_tty.c): `running`
 * Any failure kills every task created so far. */
#define _GNU_SOURCE
#include "arch.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "batch.h"
#include "fault.h"
#include "helper.h"
#include "kind.h"
#include "proto.h"
#include "proto_gen.h"
#include "tracee.h"

struct plan plan;
struct restore_ctx ctx;
static pid_t saved_fg = -1; /* the caller's terminal's foreground group while the tree has it */

static pid_t helper_pid;
static volatile sig_atomic_t letting_go;

static void kill_all(void);

/* From the signal handler (main.c): the helper dies, so does what it created. Every task is
 * killed and reaped at once (the helper is their subreaper), not left to die of its parent's
 * death and wait as a zombie for init: a restart right after finds its pids free. The calls
 * are system calls and the plan's fixed data (pids are set before a task can be seen). */
void helper_restore_abandon(void)
{
	/* tracer workers and tasks are forks of the helper: only the helper itself undoes */
	if (helper_pid && getpid() == helper_pid && !letting_go)
		kill_all();
}

/* A gadget address free in every task's image and in the helper itself. */
static uint64_t map_gadget(void)
{
	const uint64_t step = 0x100000;
	for (uint64_t g = 0x200000; (g = plan_range_free(&plan, NULL, g, step, GADGET_SIZE, 0)) != 0; g += step) {
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
		size_t blen;
		const unsigned char *bcode = batch_code(&blen);
		memcpy((unsigned char *)m + BATCH_CODE_OFF, bcode, blen);
		mprotect(m, GADGET_CODE_SIZE, PROT_READ | PROT_EXEC);
		return g;
	}
	return 0;
}

/* Every child of the helper still there: a task it cloned just before an interrupt, whose pid
 * it has not recorded yet (/proc/self/task/TID/children: the helper has one thread). */
static void kill_children(void)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	if (proc_text(path, buf, sizeof buf) <= 0)
		return;
	for (char *p = buf, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0)
			kill((pid_t)pid, SIGKILL);
	}
}

/* Kills every task created so far and reaps them all: the helper is their subreaper during the
 * restart, so orphans come to it; nothing is left running, stopped or as a zombie. */
static void kill_all(void)
{
	/* once: an interrupt now would run it again from the signal handler (main.c) */
	interrupts_blocked(1);
	for (int i = 0; i < plan.ntasks; i++)
		if (plan.tasks[i].pid > 0)
			kill(plan.tasks[i].pid, SIGKILL);
	tracers_stop();
	fs_stop();
	kill_children();
	KINDS_EACH(ctx.kinds, undo, &ctx);
	files_undo();
	/* Reap until every task is gone, zombies included: a traced task's exit is seen by the
	 * tracer first and only then by its parent, whose own death reparents it to us. */
	for (int tries = 0; tries < 600; tries++) {
		pid_t w;
		while ((w = waitpid(-1, NULL, __WALL | WNOHANG)) > 0)
			;
		/* children of its own too: a task cloned just before an interrupt whose pid the helper
		 * has not read yet (it dies with its creator, PR_SET_PDEATHSIG, and comes here) */
		int left = w == 0;
		for (int i = 0; i < plan.ntasks; i++)
			if (plan.tasks[i].pid > 0 && kill(plan.tasks[i].pid, 0) == 0)
				left++;
		if (!left)
			break;
		struct timespec nap = { 0, 5 * 1000000 };
		nanosleep(&nap, NULL);
	}
	cgroups_undo(1000); /* once the tasks are gone: a cgroup with a task is not removed */
}

/* pids as the helper sees them, and nspids as the tasks see themselves (differ with --pidns), as
 * JSON arrays (malloc'd, every task: no size limit) */
static void pids_json(char **pids, char **nspids)
{
	size_t cap = (size_t)plan.ntasks * 12 + 3;
	char *a = malloc(cap), *b = malloc(cap);
	if (!a || !b)
		abort();
	size_t o = 0, n = 0;
	a[o++] = '[', b[n++] = '[';
	for (int i = 0; i < plan.ntasks; i++) {
		o += (size_t)snprintf(a + o, cap - o, "%s%d", i ? "," : "", plan.tasks[i].pid);
		n += (size_t)snprintf(b + n, cap - n, "%s%d", i ? "," : "", plan.tasks[i].nspid);
	}
	a[o++] = ']', b[n++] = ']';
	a[o] = b[n] = 0;
	*pids = a, *nspids = b;
}

/* `created` (0) or `running` (1) */
static void emit_pids(int running)
{
	char *pids, *nspids;
	pids_json(&pids, &nspids);
	if (running)
		EMIT_RUNNING(.pids = pids, .nspids = nspids);
	else
		EMIT_CREATED(.pids = pids, .nspids = nspids);
	free(pids);
	free(nspids);
}

/* Waits up to ms for pid's state in /proc/PID/stat to be T (stopped). */
static void wait_stopped(pid_t pid, int ms)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	for (int waited = 0; waited < ms; waited++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n <= 0)
			return;
		buf[n] = 0;
		const char *paren = strrchr(buf, ')');
		if (!paren || paren[1] != ' ' || paren[2] == 'T' || paren[2] == 't' || paren[2] == 'Z' || paren[2] == 'X')
			return;
		usleep(1000);
	}
}

static int restore_all(int detach)
{
	if (plan.ntasks > RESTORE_MAX_TASKS)
		return proto_fail("memory", "tree", E2BIG, "too many tasks");
	if (plan.spool && spool_image(plan.seed) < 0)
		return -1;
	EMIT_PLANNED();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	uint64_t gadget = map_gadget();
	if (!gadget)
		return proto_fail("create", "gadget", ENOMEM, "no free address for the restore gadget");
	if (cow_window() < 0)
		return -1;
	void *shared = mmap(NULL, PAGE_SZ + (size_t)plan.ntasks * sizeof(int), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return proto_fail("create", "progress", errno, "cannot map the progress counter");
	ctx.progress = shared;
	ctx.uffd = (volatile int *)((char *)shared + PAGE_SZ);
	for (int i = 0; i < plan.ntasks; i++)
		ctx.uffd[i] = -1;
	if (KINDS_RUN(ctx.kinds, create, &ctx) < 0 || open_files() < 0 || tracers_start(plan.workers, gadget) < 0)
		return -1;
	/* tasks start with every signal blocked: the raw call, since glibc's sigprocmask leaves its
	 * own 32 and 33 unblocked, and a task's pending SIGTIMER (32: glibc's SIGEV_THREAD timers)
	 * queued again in its finish step would be delivered in the middle of it */
	uint64_t all = ~0ULL, old = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
	restore_stream_start(plan.seed);
	int r = run_actions();
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
	if (r < 0 || cow_all_read() < 0 || cgroups_enter() < 0)
		return -1;
	emit_pids(0);

	/* From here the coordinator drives the steps (restore_steps.c); its EOF (it gave up) ends
	 * the restart: everything is killed. */
	if (restore_steps() < 0)
		return -1;
	if (fault_at("detach", 0))
		return proto_fail("finish", "detach", ECANCELED, FAULT_MSG);
	/* All resume together: the death of the coordinator (SIGTERM, see main.c) or an interrupt
	 * (SIGINT, SIGQUIT, SIGHUP) waits until every task has been let go. */
	interrupts_blocked(1);
	letting_go = 1;
	prctl(PR_SET_CHILD_SUBREAPER, 0); /* from now on the tree's orphans go where they would */
	/* without --pidns the helper is the root's parent; with it, the parent of ucr's init */
	struct task_plan *root = &plan.tasks[0];
	for (int i = 0; i < plan.ntasks; i++)
		if (plan.tasks[i].kind == TASK_INIT)
			root = &plan.tasks[i];
	/* Like a shell starting a job: the restored root's group gets the terminal (fd 4 is the
	 * caller's stdin) when the tree came back in the caller's session, before it runs, and
	 * gets it back when the root ends. */
	pid_t old_fg = -1;
	saved_fg = -1;
	if (!detach && plan.foreground && isatty(4) && tcgetsid(4) == getsid(0) && getsid(root->pid) == getsid(0)) {
		signal(SIGTTOU, SIG_IGN);
		old_fg = tcgetpgrp(4);
		jobtty_take(&plan, 4); /* the job's modes, while the caller's group still has the terminal */
		if (tcsetpgrp(4, getpgid(root->pid)) < 0) {
			jobtty_give_back(4);
			old_fg = -1;
		}
		saved_fg = old_fg; /* given back if the restart fails from here */
	}
	/* TCP connections leave repair mode right before the tasks run; the events the restart
	 * queued in inotify and fanotify groups are read away then, after the last close of its
	 * own copies of files (here, and in the tracers at their finish steps). */
	restore_drop_copies(&plan);
	if (set_fowns() < 0 || KINDS_RUN(ctx.kinds, resume, &ctx) < 0)
		return -1;
	for (int i = 0; i < plan.ntasks; i++)
		if (plan.tasks[i].kind == TASK_NORMAL && tracer_send(i, W_DETACH) < 0)
			return -1;
	(void)fault_at("let-go", 0); /* too late to fail: only UCR_FAULT_ACTION=sigint/sigkill act */
	for (int i = 0; i < plan.ntasks; i++)
		if (plan.tasks[i].kind == TASK_NORMAL && tracer_wait_ack(i, W_DETACH) < 0)
			return proto_fail("finish", "detach", errno, "cannot let task %d run", plan.tasks[i].pid);
	tracers_stop();
	KINDS_EACH(ctx.kinds, release, &ctx); /* every task holds its own attachments now */
	/* The tree alone holds its files now: the helper's copies of every object (and the command
	 * and report pipes) go, or a pipe would never show its reader end of file, nor a socket
	 * its peer's close, while the helper waits for the root. */
	if (syscall(SYS_close_range, (unsigned)ctx.base, ~0U, 0) < 0)
		for (int fd = ctx.base; fd < 65536; fd++)
			close(fd);
	/* The tree runs: an interrupt that came while it was let go came too late to stop the
	 * restart (the coordinator no longer aborts once it has sent `resume`; without --detach it
	 * stops waiting for the root and lets the helper go with SIGTERM). Ignored from here,
	 * which also drops one pending; the coordinator's death still ends the helper. */
	terminal_interrupts_ignored();
	interrupts_blocked(0);
	/* A stopped task takes its stop signal once it runs after the detach: `running` is reported
	 * when it shows as stopped again (bounded), so a caller sees the tree as it was. */
	for (int i = 0; i < plan.ntasks; i++)
		if (plan.tasks[i].kind == TASK_NORMAL && plan.tasks[i].stopped)
			wait_stopped(plan.tasks[i].pid, 2000);
	emit_pids(1);
	if (detach)
		return 0;
	int st;
	if (jobtty_wait(&plan, root->pid, 4, old_fg, &st) < 0)
		return proto_fail("wait", "task", errno, "cannot wait for task %d", root->pid);
	char *now, *nsnow;
	pids_json(&now, &nsnow);
	EMIT_EXIT(.pids = now, .nspids = nsnow, .code = WIFEXITED(st) ? WEXITSTATUS(st) : -1, .signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	free(now);
	free(nsnow);
	return 0;
}

/* `restore --verify` (inspect --verify): the page records on fd 3, read and checked exactly as a
 * restart reads and checks them (pages_restore, the same code), written nowhere; then the end
 * of the image. `loaded` like a restart's, with the LZ4 bytes as `stored`. */
static int verify_pages(void)
{
	uint32_t digest = plan.seed;
	uint64_t bytes = 0, records = 0, stored = 0, shmbytes = 0;
	char *trailer = NULL;
	struct page_sink sink = restore_kinds_sink(&shmbytes);
	sink.check_only = 1;
	sink.stored = &stored;
	if (pages_restore(3, plan.runs, plan.nruns, &sink, &digest, &bytes, &records, &trailer) < 0 || image_eof(3) < 0)
		return -1;
	EMIT_LOADED(.bytes = bytes, .shmbytes = shmbytes, .records = records, .digest = digest, .stored = stored,
		    .has_stored = 1, .trailer = trailer);
	return 0;
}

int helper_restore(int detach, int check, const struct kind_ops *const *kinds)
{
	ctx.plan = &plan;
	ctx.kinds = kinds;
	helper_pid = getpid(); /* from here a signal undoes what the kinds made */
	if (plan_read(&plan) < 0)
		return 1;
	if (check) { /* --verify: the plan as restart would read it, nothing created */
		EMIT_PLANNED();
		return check == 2 && verify_pages() < 0 ? 1 : 0;
	}
	/* Creators are known to every task before any is cloned (clones copy this memory). */
	for (int i = 0; i < plan.nacts; i++)
		if (plan.acts[i].op == ACT_CLONE) {
			plan.tasks[plan.acts[i].task].creator = plan.acts[i].arg;
			plan.tasks[plan.acts[i].task].sibling = plan.acts[i].sibling;
		}
	int had_root = plan.ntasks > 0;
	if (restore_all(detach) < 0) {
		if (saved_fg > 0) {
			tcsetpgrp(4, saved_fg);
			jobtty_give_back(4);
		}
		kill_all();
		return 1;
	}
	return had_root ? 0 : 1;
}
