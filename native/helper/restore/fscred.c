/* Filesystem actions done for a task at restart, with that task's credentials, so that the
 * kernel's own permission checks apply to them as they would to the task: opening a file, a
 * FIFO, a directory or a pty; creating a file; binding and connecting a unix socket, removing a
 * stale socket file, giving a socket file its owner and mode; adding an inotify watch.
 *
 * A task's credentials are the image's (bounded by the coordinator: see trust.ts). When they
 * are the helper's own, the helper acts itself. Otherwise an agent does: a fork of the helper
 * that took ALL of the task's credentials — uids, gids, supplementary groups and capabilities,
 * not only the fs ids: the kernel checks some paths against the effective uid (/proc/sys) or
 * capabilities (/proc/PID/..., CAP_SYS_PTRACE), so setfsuid alone in a root process is not
 * enough. The agent is a single-threaded process, so its raw set*id calls cover it whole. It
 * answers requests on a socket, passing fds both ways with SCM_RIGHTS; one agent per distinct
 * set of credentials, started on first use and ended (fs_stop) once every object exists.
 *
 * Which task acts for an object: its first holder in task order (parents come first), or the
 * first live task for an object nobody holds; a pty: the first holder of its terminal side
 * (fs_assign). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fscred.h"
#include "proto.h"
#include "restore.h"

extern struct plan plan;

struct fsrep {
	int ret, err;
};

/* One distinct set of credentials, and its agent (pid 0: none yet; self: the helper's own). */
struct fscred {
	uint32_t uid[4], gid[4], groups[64];
	int ngroups, have_caps, self;
	uint64_t eff, prm, inh;
	pid_t agent;
	int sock;
};
static struct fscred *creds;
static int ncreds;
static int *task_cred; /* per task: index into creds, -1 not yet known */
int fs_in_agent;

struct capdata {
	uint32_t eff, prm, inh;
};

static int cap_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct { uint32_t version; int pid; } h = { 0x20080522, 0 };
	struct capdata d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	*eff = d[0].eff | (uint64_t)d[1].eff << 32;
	*prm = d[0].prm | (uint64_t)d[1].prm << 32;
	*inh = d[0].inh | (uint64_t)d[1].inh << 32;
	return 0;
}

static int groups_equal(const struct fscred *c)
{
	gid_t g[65];
	int n = getgroups(65, g);
	if (n != c->ngroups)
		return 0;
	for (int i = 0; i < n; i++)
		if (g[i] != c->groups[i])
			return 0;
	return 1;
}

/* Whether the calling process has exactly these credentials. */
static int is_mine(const struct fscred *c)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;
	uint64_t eff, prm, inh;
	if (getresuid(&r, &e, &s) || getresgid(&gr, &ge, &gs) || !groups_equal(c))
		return 0;
	if (c->uid[0] != r || c->uid[1] != e || c->uid[2] != s || c->uid[3] != (uint32_t)setfsuid(-1) ||
	    c->gid[0] != gr || c->gid[1] != ge || c->gid[2] != gs || c->gid[3] != (uint32_t)setfsgid(-1))
		return 0;
	if (!c->have_caps)
		return 1;
	return cap_get(&eff, &prm, &inh) == 0 && eff == c->eff && prm == c->prm && inh == c->inh;
}

/* The agent takes the credentials (raw calls: this process has one thread); only what differs
 * is changed, so a restorer that is not root, whose tasks have its own ids, only drops
 * capabilities. */
static int become(const struct fscred *c)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;
	if (getresuid(&r, &e, &s) || getresgid(&gr, &ge, &gs))
		return -1;
	if (!groups_equal(c) && syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0)
		return -1;
	if ((c->gid[0] != gr || c->gid[1] != ge || c->gid[2] != gs) && syscall(SYS_setresgid, c->gid[0], c->gid[1], c->gid[2]) < 0)
		return -1;
	syscall(SYS_setfsgid, c->gid[3]);
	if (c->have_caps && prctl(PR_SET_KEEPCAPS, 1) < 0)
		return -1;
	if ((c->uid[0] != r || c->uid[1] != e || c->uid[2] != s) && syscall(SYS_setresuid, c->uid[0], c->uid[1], c->uid[2]) < 0)
		return -1;
	syscall(SYS_setfsuid, c->uid[3]);
	if (c->have_caps) {
		struct { uint32_t version; int pid; } h = { 0x20080522, 0 };
		struct capdata d[2] = { { (uint32_t)c->eff, (uint32_t)c->prm, (uint32_t)c->inh },
					{ (uint32_t)(c->eff >> 32), (uint32_t)(c->prm >> 32), (uint32_t)(c->inh >> 32) } };
		if (syscall(SYS_capset, &h, d) < 0 || prctl(PR_SET_KEEPCAPS, 0) < 0)
			return -1;
	}
	if (!is_mine(c)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* A message with at most one fd (-1: none). */
static int send_fd(int s, const void *buf, size_t len, int fd)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct iovec io = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1 };
	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		m.msg_control = u.b;
		m.msg_controllen = sizeof u.b;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	ssize_t n;
	while ((n = sendmsg(s, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return n == (ssize_t)len ? 0 : -1;
}

static ssize_t recv_fd(int s, void *buf, size_t len, int *fd)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct iovec io = { buf, len };
	struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
	*fd = -1;
	ssize_t n;
	while ((n = recvmsg(s, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof *fd);
	return n;
}

static void agent_loop(int s, const struct fscred *c, pid_t helper)
{
	struct fsrep hello = { 0, 0 };
	if (become(c) < 0)
		hello = (struct fsrep){ -1, errno };
	/* a change of credentials clears the parent-death signal: set it now */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != helper)
		_exit(1);
	if (send_fd(s, &hello, sizeof hello, -1) < 0 || hello.ret < 0)
		_exit(1);
	static struct fsreq r;
	for (;;) {
		int in, out;
		ssize_t n = recv_fd(s, &r, sizeof r, &in);
		if (n != (ssize_t)sizeof r)
			_exit(0); /* the helper is done (or gone) */
		struct fsrep rep;
		rep.ret = fs_do(&r, in, &out);
		rep.err = rep.ret < 0 ? errno : 0;
		if (send_fd(s, &rep, sizeof rep, out) < 0)
			_exit(1);
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
	}
}

static int agent_start(struct fscred *c, int task)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return proto_fail("files", "credentials", errno, "cannot create a socket pair");
	pid_t helper = getpid(), pid = fork_deaf();
	if (pid < 0)
		return proto_fail("files", "credentials", errno, "cannot fork an agent for process %d", plan.tasks[task].old_pid);
	if (pid == 0) {
		fs_in_agent = 1;
		/* only its socket and stderr: no pipe end or object of the restart stays open here */
		int s = fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
		close(0);
		close(1);
		if (s > 3)
			syscall(SYS_close_range, 3U, (unsigned)s - 1, 0U);
		syscall(SYS_close_range, (unsigned)s + 1, ~0U, 0U);
		agent_loop(s, c, helper);
	}
	close(sv[1]);
	c->agent = pid;
	c->sock = sv[0];
	struct fsrep hello;
	int fd;
	if (recv_fd(c->sock, &hello, sizeof hello, &fd) != (ssize_t)sizeof hello || hello.ret < 0)
		return proto_fail("files", "credentials", hello.ret < 0 ? hello.err : EPROTO,
				  "cannot take the credentials of process %d (uid %u, gid %u) to act for it",
				  plan.tasks[task].old_pid, c->uid[1], c->gid[1]);
	return 0;
}

void fs_stop(void)
{
	for (int i = 0; i < ncreds; i++)
		if (creds[i].agent > 0) {
			close(creds[i].sock);
			kill(creds[i].agent, SIGKILL); /* even one stuck in a blocking open */
			waitpid(creds[i].agent, NULL, 0);
			creds[i].agent = 0;
		}
}

/* The first live task (acts for an object nobody holds), or -1. */
static int first_task(void)
{
	for (int t = 0; t < plan.ntasks; t++)
		if (plan.tasks[t].kind == TASK_NORMAL)
			return t;
	return -1;
}

void fs_assign(void)
{
	int dflt = first_task();
	for (int f = 0; f < plan.nfiles; f++)
		plan.files[f].task = -1;
	for (int i = 0; i < plan.nobjs; i++)
		plan.objs[i].task = -1;
	for (int i = 0; i < plan.nttys; i++)
		plan.ttys[i].task = -1;
	for (int t = 0; t < plan.ntasks; t++) {
		struct task_plan *tp = &plan.tasks[t];
		if (tp->kind != TASK_NORMAL)
			continue;
		for (int i = 0; i < tp->nfds; i++)
			if (plan.files[tp->fds[i].file].task < 0)
				plan.files[tp->fds[i].file].task = t;
		for (int i = 0; i < tp->nvmas; i++)
			if (tp->vmas[i].obj >= 0 && plan.objs[tp->vmas[i].obj].task < 0)
				plan.objs[tp->vmas[i].obj].task = t;
	}
	for (int f = 0; f < plan.nfiles; f++) {
		struct file_plan *fp = &plan.files[f];
		if (fp->task < 0)
			fp->task = dflt;
		if (fp->kind == FILE_REOPEN && plan.objs[fp->obj].task < 0)
			plan.objs[fp->obj].task = fp->task;
		if (fp->kind == FILE_UNIX)
			fp->ux->task = fp->task;
		if (fp->kind == FILE_PTS && plan.ttys[fp->tty].task < 0)
			plan.ttys[fp->tty].task = fp->task;
	}
	for (int i = 0; i < plan.nobjs; i++)
		if (plan.objs[i].task < 0)
			plan.objs[i].task = dflt;
	/* a pty belongs to its terminal side's user (the slave is its opener's): the master's
	 * holder only when no task holds the terminal */
	for (int f = 0; f < plan.nfiles; f++)
		if (plan.files[f].kind == FILE_PTMX && plan.ttys[plan.files[f].tty].task < 0)
			plan.ttys[plan.files[f].tty].task = plan.files[f].task;
	for (int i = 0; i < plan.nttys; i++)
		if (plan.ttys[i].task < 0)
			plan.ttys[i].task = dflt;
}

/* The credentials task acts with (created on first use), or NULL (errno set). */
static struct fscred *cred_of(int task)
{
	if (task < 0 || task >= plan.ntasks || plan.tasks[task].kind != TASK_NORMAL || !plan.tasks[task].have_creds) {
		errno = EPERM; /* nobody to act for */
		return NULL;
	}
	if (!task_cred) {
		task_cred = malloc((size_t)plan.ntasks * sizeof *task_cred);
		if (!task_cred)
			return NULL;
		for (int i = 0; i < plan.ntasks; i++)
			task_cred[i] = -1;
	}
	if (task_cred[task] >= 0)
		return &creds[task_cred[task]];
	const struct task_plan *t = &plan.tasks[task];
	struct fscred want = { .ngroups = t->ngroups, .have_caps = t->have_caps, .eff = t->cap_eff, .prm = t->cap_prm, .inh = t->cap_inh };
	memcpy(want.uid, t->uid, sizeof want.uid);
	memcpy(want.gid, t->gid, sizeof want.gid);
	memcpy(want.groups, t->groups, sizeof want.groups);
	for (int i = 1; i < want.ngroups; i++) /* sorted, as the kernel keeps them, and once each */
		for (int j = i; j > 0 && want.groups[j - 1] > want.groups[j]; j--) {
			uint32_t x = want.groups[j];
			want.groups[j] = want.groups[j - 1];
			want.groups[j - 1] = x;
		}
	int u = 0;
	for (int i = 0; i < want.ngroups; i++)
		if (!u || want.groups[u - 1] != want.groups[i])
			want.groups[u++] = want.groups[i];
	want.ngroups = u;
	for (int i = 0; i < ncreds; i++) {
		struct fscred *c = &creds[i];
		if (!memcmp(c->uid, want.uid, sizeof want.uid) && !memcmp(c->gid, want.gid, sizeof want.gid) &&
		    c->ngroups == want.ngroups && !memcmp(c->groups, want.groups, (size_t)want.ngroups * sizeof want.groups[0]) &&
		    c->have_caps == want.have_caps && (!want.have_caps || (c->eff == want.eff && c->prm == want.prm && c->inh == want.inh))) {
			task_cred[task] = i;
			return c;
		}
	}
	struct fscred *grown = realloc(creds, (size_t)(ncreds + 1) * sizeof *creds);
	if (!grown)
		return NULL;
	creds = grown;
	want.self = is_mine(&want);
	creds[ncreds] = want;
	struct fscred *c = &creds[ncreds];
	if (!c->self && agent_start(c, task) < 0) {
		errno = EPERM;
		return NULL;
	}
	task_cred[task] = ncreds++;
	return c;
}

int fs_call(int task, struct fsreq *r, int fd, int *out)
{
	int dummy;
	if (!out)
		out = &dummy;
	*out = -1;
	struct fscred *c = cred_of(task);
	if (!c)
		return -1;
	if (c->self)
		return fs_do(r, fd, out);
	struct fsrep rep;
	size_t len = offsetof(struct fsreq, path) + sizeof r->path;
	if (send_fd(c->sock, r, len, fd) < 0 || recv_fd(c->sock, &rep, sizeof rep, out) != (ssize_t)sizeof rep) {
		errno = EPROTO;
		return -1;
	}
	if (out == &dummy && dummy >= 0)
		close(dummy);
	errno = rep.err;
	return rep.ret;
}
