/* Checkpoint of a pseudo-terminal pair, through a copy of its master fd (pidfd_getfd: opening
 * /dev/ptmx again would make a new pair): index, lock and packet mode from the master; the
 * terminal's settings (termios, window size, exclusive mode) and the queued bytes from the
 * slave side, opened with TIOCGPTPEER; the owner and mode of /dev/pts/N; the bytes queued
 * both ways, read and put back at once (tty_queue.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "helper.h"
#include "proto.h"
#include "proto_gen.h"
#include "tty_queue.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* `tty <pid> <master fd>` -> {"ev":"tty","index":N,"locked":0|1,"pkt":0|1,"excl":0|1,
 *   "iflag","oflag","cflag","lflag","line","cc":"hex","ispeed","ospeed","rows","cols","xpix",
 *   "ypix","inq":bytes the slave side may read,"outq":bytes the master side may read} */
int on_dump_tty(struct dump_in *in, struct msg_dump_tty *msg)
{
	(void)in;
	uint64_t pid = msg->pid, fd = msg->fd;
	char obj[48];
	snprintf(obj, sizeof obj, "fd %d", (int)fd);
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	int m = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, (int)fd, 0);
	int e = errno;
	if (pfd >= 0)
		close(pfd);
	if (m < 0)
		return proto_fail("tty", obj, e, "cannot take a copy of process %d's pty master", (int)pid);
	int index = -1, locked = 0, pkt = 0, outq = 0;
	if (ioctl(m, TIOCGPTN, &index) < 0 || ioctl(m, TIOCGPTLCK, &locked) < 0 || ioctl(m, TIOCGPKT, &pkt) < 0 ||
	    ioctl(m, FIONREAD, &outq) < 0) {
		e = errno;
		close(m);
		return proto_fail("tty", obj, e, "cannot read the state of process %d's pty master", (int)pid);
	}
	struct termios t;
	struct winsize ws = { 0 };
	struct stat st;
	struct ttyq q = { 0 };
	int excl = 0, inq = 0, have = 0, owned = 0, input = ttyq_can_put_input(), output = 0;
	char *lines = NULL, *out = NULL, *partial = NULL;
	memset(&t, 0, sizeof t);
	int s = locked ? -1 : ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s >= 0) {
		have = tcgetattr(s, &t) == 0 && ioctl(s, TIOCGWINSZ, &ws) == 0 && ioctl(s, TIOCGEXCL, &excl) == 0 &&
		       ioctl(s, FIONREAD, &inq) == 0;
		owned = fstat(s, &st) == 0;
		/* the queued bytes, read and put back at once */
		int r = have ? ttyq_read(m, s, pkt, input, &t, &q) : 0;
		e = errno;
		int w = have ? ttyq_write(s, &t, &q) : 0;
		int we = errno;
		close(s);
		if (r < 0 || w < 0) {
			ttyq_free(&q);
			close(m);
			return proto_fail_sys(w < 0 ? "ioctl" : "read", "tty", obj, w < 0 ? we : e, w < 0 ? "cannot put back the bytes queued in pty %d" : "cannot read the bytes queued in pty %d", index);
		}
		output = q.out_read;
		lines = ttyq_lines_text(&q);
		out = hex_dup(q.out ? q.out : (unsigned char *)"", q.outlen);
		size_t at = q.nlines ? q.ends[q.nlines - 1] : 0;
		partial = hex_dup(q.in ? q.in + at : (unsigned char *)"", q.inlen - at);
		ttyq_free(&q);
		if (!lines || !out || !partial) {
			free(lines), free(out), free(partial);
			close(m);
			return proto_fail("tty", obj, ENOMEM, "out of memory");
		}
	} else if (!locked) {
		e = errno;
		close(m);
		return proto_fail_sys("open", "tty", obj, e, "cannot open the slave of pty %d", index);
	}
	if (!owned) {
		char path[32];
		snprintf(path, sizeof path, "/dev/pts/%d", index);
		owned = stat(path, &st) == 0;
	}
	close(m);
	char cc[2 * NCCS + 1];
	for (int i = 0; i < NCCS; i++)
		snprintf(cc + 2 * i, 3, "%02x", t.c_cc[i]);
	EMIT_TTY(.index = (uint64_t)index, .locked = locked ? 1 : 0, .pkt = pkt ? 1 : 0, .excl = excl ? 1 : 0, .settings = (uint64_t)have,
		 .iflag = t.c_iflag, .oflag = t.c_oflag, .cflag = t.c_cflag, .lflag = t.c_lflag, .line = t.c_line, .cc = cc,
		 .ispeed = (unsigned)cfgetispeed(&t), .ospeed = (unsigned)cfgetospeed(&t), .rows = ws.ws_row, .cols = ws.ws_col,
		 .xpix = ws.ws_xpixel, .ypix = ws.ws_ypixel, .inq = (uint64_t)inq, .outq = (uint64_t)outq,
		 .uid = owned ? (int64_t)st.st_uid : -1, .gid = owned ? (int64_t)st.st_gid : -1, .mode = owned ? (int64_t)(st.st_mode & 07777) : -1,
		 .out = out ? out : "", .lines = lines ? lines : "", .partial = partial ? partial : "", .input = (uint64_t)(have && input), .output = (uint64_t)output);
	free(lines), free(out), free(partial);
	return 0;
}

/* `ttydev <pid> <fd>` -> {"ev":"ttydev","dev":N,"err":0|errno}: the terminal a task's tty fd
 * leads to (TIOCGDEV: for /dev/tty, the terminal it was opened on); EIO: it was hung up */
int on_dump_ttydev(struct dump_in *in, struct msg_dump_ttydev *msg)
{
	(void)in;
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)msg->pid, 0);
	int s = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, (int)msg->fd, 0);
	int e = errno;
	if (pfd >= 0)
		close(pfd);
	if (s < 0)
		return proto_fail("ttydev", "tty", e, "cannot take a copy of process %d fd %d", (int)msg->pid, (int)msg->fd);
	unsigned dev = 0;
	int r = ioctl(s, TIOCGDEV, &dev);
	e = errno;
	close(s);
	EMIT_TTYDEV(.dev = r < 0 ? 0 : dev, .err = r < 0 ? (uint64_t)e : 0);
	return 0;
}

/* `ttymodes <pid> <fd>` -> {"ev":"ttymodes","settings":0|1,"iflag",...,"ypix"}: the termios and
 * window size of a terminal a task holds (its external stdio), through a copy of its fd */
int on_dump_ttymodes(struct dump_in *in, struct msg_dump_ttymodes *msg)
{
	(void)in;
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)msg->pid, 0);
	int s = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, (int)msg->fd, 0);
	if (pfd >= 0)
		close(pfd);
	struct termios t;
	struct winsize ws = { 0 };
	memset(&t, 0, sizeof t);
	int have = s >= 0 && tcgetattr(s, &t) == 0 && ioctl(s, TIOCGWINSZ, &ws) == 0;
	if (s >= 0)
		close(s);
	char cc[2 * NCCS + 1];
	for (int i = 0; i < NCCS; i++)
		snprintf(cc + 2 * i, 3, "%02x", t.c_cc[i]);
	EMIT_TTYMODES(.settings = (uint64_t)have, .iflag = t.c_iflag, .oflag = t.c_oflag, .cflag = t.c_cflag, .lflag = t.c_lflag,
		      .line = t.c_line, .cc = cc, .ispeed = (unsigned)cfgetispeed(&t), .ospeed = (unsigned)cfgetospeed(&t),
		      .rows = ws.ws_row, .cols = ws.ws_col, .xpix = ws.ws_xpixel, .ypix = ws.ws_ypixel);
	return 0;
}
