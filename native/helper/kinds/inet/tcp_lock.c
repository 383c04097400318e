/* TCP connections around a --kill: the lock (a socket filter dropping every packet that arrives
 * for a connection while it is read), `tcprepair` (repair mode for good right before the kill,
 * so closing sends nothing: no FIN, no RST, no TIME_WAIT, and the restart can take the same
 * 4-tuple) and the keeper (ucr-tcplock, which holds connections to outside peers, locked, until
 * the restart). Undone when the tree is released instead. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmp.h"
#include "helper.h"
#include "inet.h"
#include "proto.h"
#include "proto_gen.h"

/* Connections locked while they are read: a socket filter that drops every packet arriving
 * for them (before TCP sees it: no ACK, no RST), so what the image holds is what the peer
 * believes was delivered; the peer retransmits later. Removed again when the tree is released;
 * kept, with the connection, by the keeper process after a kill (tcpkeep). */
static struct locked {
	pid_t pid;
	int fd;
	int held; /* lock_hold_window: win is the window to put back on release */
	struct tcp_repair_window win;
} locked[4096], keep[4096];
static int nlocked, nkeep;

int lock_conn(int s, pid_t pid, int fd)
{
	static struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, drop };
	socklen_t len = 0;
	if (nlocked == (int)(sizeof locked / sizeof locked[0]) || getsockopt(s, SOL_SOCKET, SO_GET_FILTER, NULL, &len) < 0 || len)
		return 0; /* a filter of the program's own: not locked */
	if (setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
		return 0;
	locked[nlocked++] = (struct locked){ pid, fd };
	return 1;
}

/* A locked connection, read (in repair mode, window `w` just read), sends nothing new until the
 * kill: its send window is made empty. The lock drops the peer's window updates but not what
 * the connection sends: its timers still run between the read and the kill (and in the keeper
 * after it), and a window probe (tcp_write_wakeup) sends a window's worth of the bytes the
 * image holds as never sent when the window it knows is open but smaller than a segment (the
 * sender waits for a larger one). The peer takes them and, after the restart, acknowledges
 * beyond anything the restored end has sent: the restored end drops every segment of the peer
 * (an ACK of unsent data), the peer drops its retransmissions as old, and the connection never
 * moves again (zdtm socket-tcpbuf, 1 run in 10-20). With no window, a probe carries only an old
 * byte (snd_una - 1) and a retransmission only bytes the image holds as sent. The image keeps
 * the window read; a release puts it back (tcplock_undo). */
void lock_hold_window(int s, pid_t pid, int fd, const struct tcp_repair_window *w)
{
	for (int i = nlocked - 1; i >= 0; i--) {
		if (locked[i].pid != pid || locked[i].fd != fd)
			continue;
		struct tcp_repair_window none = *w;
		none.snd_wnd = 0;
		if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_WINDOW, &none, sizeof none) == 0)
			locked[i].held = 1, locked[i].win = *w;
		return;
	}
}

void tcplock_undo(void)
{
	for (int i = 0; i < nlocked; i++) {
		int s = grab_fd(locked[i].pid, locked[i].fd), z = 0, on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP;
		if (s < 0)
			continue;
		if (locked[i].held) { /* its window back (nothing arrived meanwhile: it was locked) */
			int reuse = opt_int(s, SOL_SOCKET, SO_REUSEADDR);
			if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) == 0) {
				setsockopt(s, IPPROTO_TCP, TCP_REPAIR_WINDOW, &locked[i].win, sizeof locked[i].win);
				setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off);
				if (reuse) /* leaving repair mode resets SO_REUSEADDR */
					setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
			}
		}
		setsockopt(s, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z);
		close(s);
	}
	nlocked = 0;
}

/* Connections put into repair mode for the kill, undone if the tree is released instead. */
static struct repaired {
	pid_t pid;
	int fd, reuse;
} repaired[4096];
static int nrepaired;

void tcprepair_undo(void)
{
	int off = TCP_REPAIR_OFF_NO_WP;
	for (int i = 0; i < nrepaired; i++) {
		int s = grab_fd(repaired[i].pid, repaired[i].fd);
		if (s < 0)
			continue;
		setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off);
		if (repaired[i].reuse)
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &repaired[i].reuse, sizeof repaired[i].reuse);
		close(s);
	}
	nrepaired = 0;
}

/* `tcprepair <pid> <fd>`: the connection goes into repair mode for good (the tree is killed next). */
int on_dump_tcprepair(struct dump_in *in, struct msg_dump_tcprepair *msg)
{
	(void)in;
	uint64_t pid = msg->pid, fd = msg->fd;
	char obj[64];
	snprintf(obj, sizeof obj, "process %d fd %d", (int)pid, (int)fd);
	int s = grab_fd((pid_t)pid, (int)fd), on = TCP_REPAIR_ON;
	if (nrepaired == (int)(sizeof repaired / sizeof repaired[0]))
		return close(s), proto_fail("kill", obj, E2BIG, "too many TCP connections");
	int reuse = s < 0 ? 0 : opt_int(s, SOL_SOCKET, SO_REUSEADDR);
	if (s < 0 || setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		return proto_fail("kill", obj, e, "cannot put the TCP connection into repair mode before the kill");
	}
	close(s);
	repaired[nrepaired++] = (struct repaired){ (pid_t)pid, (int)fd, reuse };
	EMIT_TCPREPAIR();
	return 0;
}

/* `tcpkeep <pid> <fd>`: this connection (its peer outside the tree, kept with --tcp=established)
 * will be held by the keeper after the kill. */
int on_dump_tcpkeep(struct dump_in *in, struct msg_dump_tcpkeep *msg)
{
	(void)in;
	if (nkeep == (int)(sizeof keep / sizeof keep[0]))
		return proto_fail("kill", "command", E2BIG, "too many connections to keep");
	keep[nkeep++] = (struct locked){ (pid_t)msg->pid, (int)msg->fd };
	EMIT_TCPKEEP();
	return 0;
}

#define KEEP_SECONDS (20 * 60) /* by then the peer has given up retransmitting anyway */
static int keeper_wr = -1;

/* Closes every fd but the n of kept (sorted here): close_range over the gaps between them. */
static void close_all_but(int *kept, int n)
{
	qsort(kept, (size_t)n, sizeof *kept, cmp_int);
	unsigned lo = 0;
	for (int i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)kept[i] : ~0U;
		if (hi > lo && syscall(SYS_close_range, lo, i < n ? hi - 1 : hi, 0U) < 0)
			for (unsigned fd = lo; fd < hi && fd < 65536; fd++) /* a kernel before 5.9 */
				close((int)fd);
		lo = i < n ? hi + 1 : lo;
	}
}

/* `tcpkeeper`: forks the keeper, a process of its own (session, name ucr-tcplock) that holds a
 * copy of every tcpkeep connection: after the kill they live on in repair mode, locked, so the
 * peer's packets are dropped (it retransmits) instead of being answered with RST, until the
 * restart kills the keeper right before it recreates them. It lets go at once unless the kill
 * happened (keeper_commit), and after KEEP_SECONDS in any case. */
int on_dump_tcpkeeper(struct dump_in *in, struct msg_dump_tcpkeeper *msg)
{
	(void)in;
	(void)msg;
	static int fds[4096 + 1];
	int p[2], ready[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return proto_fail("kill", "tcpkeeper", errno ? errno : EINVAL, "cannot start the connection keeper");
	if (pipe2(ready, O_CLOEXEC) < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return proto_fail("kill", "tcpkeeper", e ? e : EINVAL, "cannot start the connection keeper");
	}
	int got = 0;
	while (got < nkeep && (fds[got] = grab_fd(keep[got].pid, keep[got].fd)) >= 0)
		got++;
	pid_t k = got < nkeep ? -1 : fork();
	if (k < 0) { /* nothing of it left open */
		int e = errno;
		for (int i = 0; i < got; i++)
			close(fds[i]);
		close(p[0]);
		close(p[1]);
		close(ready[0]);
		close(ready[1]);
		if (got < nkeep)
			return proto_fail("kill", "tcpkeeper", e, "cannot take a copy of process %d fd %d", keep[got].pid, keep[got].fd);
		return proto_fail("kill", "tcpkeeper", e, "cannot fork the connection keeper");
	}
	if (k == 0) {
		/* its name before the helper says its pid: a restart recognizes the keeper by it (and
		 * its start time), and may come right after the checkpoint */
		prctl(PR_SET_NAME, "ucr-tcplock");
		close(ready[1]); /* the helper's read ends (EOF) */
		/* only the copies and the pipe stay open (not the coordinator's pipes, not the image) */
		fds[nkeep] = p[0];
		close_all_but(fds, nkeep + 1);
		setsid();
		prctl(PR_SET_PDEATHSIG, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < 32; sig++)
			signal(sig, SIG_DFL);
		char c;
		ssize_t r;
		while ((r = read(p[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (r != 1)
			_exit(0); /* the checkpoint did not kill the tree: the connections are its own */
		close(p[0]);
		alarm(KEEP_SECONDS);
		for (;;)
			pause();
	}
	close(p[0]);
	close(ready[1]);
	char c;
	while (read(ready[0], &c, 1) < 0 && errno == EINTR)
		; /* EOF once the keeper has its name */
	close(ready[0]);
	for (int i = 0; i < nkeep; i++)
		close(fds[i]);
	keeper_wr = p[1];
	EMIT_TCPKEEPER(.pid = (uint64_t)k);
	return 0;
}

/* The tree is killed: the keeper holds on. */
void keeper_commit(void)
{
	if (keeper_wr >= 0 && write(keeper_wr, "k", 1) == 1)
		close(keeper_wr);
	keeper_wr = -1;
}
