/* Checkpoint of a pseudo-terminal pair, through a copy of its master fd (pidfd_getfd: opening
 * /dev/ptmx again would make a new pair): index, lock and packet mode from the master; the
 * terminal's settings (termios, window size, exclusive mode) and the queued bytes from the
 * slave side, opened with TIOCGPTPEER. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "helper.h"
#include "proto.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* `tty <pid> <master fd>` -> {"ev":"tty","index":N,"locked":0|1,"pkt":0|1,"excl":0|1,
 *   "iflag","oflag","cflag","lflag","line","cc":"hex","ispeed","ospeed","rows","cols","xpix",
 *   "ypix","inq":bytes the slave side may read,"outq":bytes the master side may read} */
int cmd_tty(char **w, int n)
{
	uint64_t pid, fd;
	if (n != 3 || parse_u64(w[1], &pid) || parse_u64(w[2], &fd))
		return proto_fail("tty", "command", EINVAL, "bad tty command");
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
	int excl = 0, inq = 0, have = 0;
	memset(&t, 0, sizeof t);
	int s = locked ? -1 : ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s >= 0) {
		have = tcgetattr(s, &t) == 0 && ioctl(s, TIOCGWINSZ, &ws) == 0 && ioctl(s, TIOCGEXCL, &excl) == 0 &&
		       ioctl(s, FIONREAD, &inq) == 0;
		close(s);
	} else if (!locked) {
		e = errno;
		close(m);
		return proto_fail("tty", obj, e, "cannot open the slave of pty %d", index);
	}
	close(m);
	char cc[2 * NCCS + 1];
	for (int i = 0; i < NCCS; i++)
		snprintf(cc + 2 * i, 3, "%02x", t.c_cc[i]);
	proto_emit("{\"ev\":\"tty\",\"index\":%d,\"locked\":%d,\"pkt\":%d,\"excl\":%d,\"settings\":%d,"
		   "\"iflag\":%u,\"oflag\":%u,\"cflag\":%u,\"lflag\":%u,\"line\":%u,\"cc\":\"%s\",\"ispeed\":%u,"
		   "\"ospeed\":%u,\"rows\":%u,\"cols\":%u,\"xpix\":%u,\"ypix\":%u,\"inq\":%d,\"outq\":%d}",
		   index, locked ? 1 : 0, pkt ? 1 : 0, excl ? 1 : 0, have, t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag,
		   t.c_line, cc, (unsigned)cfgetispeed(&t), (unsigned)cfgetospeed(&t), ws.ws_row, ws.ws_col, ws.ws_xpixel,
		   ws.ws_ypixel, inq, outq);
	return 0;
}

/* `ttymodes <pid> <fd>` -> {"ev":"ttymodes","settings":0|1,"iflag",...,"ypix"}: the termios and
 * window size of a terminal a task holds (its external stdio), through a copy of its fd */
int cmd_ttymodes(char **w, int n)
{
	uint64_t pid, fd;
	if (n != 3 || parse_u64(w[1], &pid) || parse_u64(w[2], &fd))
		return proto_fail("ttymodes", "command", EINVAL, "bad ttymodes command");
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	int s = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, (int)fd, 0);
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
	proto_emit("{\"ev\":\"ttymodes\",\"settings\":%d,\"iflag\":%u,\"oflag\":%u,\"cflag\":%u,\"lflag\":%u,"
		   "\"line\":%u,\"cc\":\"%s\",\"ispeed\":%u,\"ospeed\":%u,\"rows\":%u,\"cols\":%u,\"xpix\":%u,\"ypix\":%u}",
		   have, t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_line, cc, (unsigned)cfgetispeed(&t),
		   (unsigned)cfgetospeed(&t), ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel);
	return 0;
}
