// build: gcc -O2 -g -Wall -Wextra -o pipeflags pipeflags.c
/*
 * pipeflags.c - status flags belong to the open file, not to the pipe.
 *
 *   pipeflags --out FILE
 *
 * Anonymous pipe P: read end O_NONBLOCK, write end blocking in packet mode (O_DIRECT); a second
 * open file of the read end (opened again through /proc/self/fd) blocking, a second one of
 * the write end O_NONBLOCK; 5 bytes queued.
 * FIFO F (FILE.fifo): read O_NONBLOCK, read blocking, write O_NONBLOCK, read-write blocking;
 * 3 bytes queued.
 * The pipe's blocking read end also has O_ASYNC, owned by the process (F_SETOWN) with signal
 * SIGRTMIN+2 (F_SETSIG); the FIFO's read-write end O_ASYNC owned by this thread (F_OWNER_TID)
 * with SIGIO.
 * After SIGTERM every fd must show the flags it had (F_GETFL), each open file its own
 * (changing one does not change another), the queued bytes must be there once, and the
 * non-blocking read ends must say EAGAIN once the pipes are empty; the O_ASYNC owners and
 * signals must be what they were, and a write must raise the signal, with its fd.
 */
#include "case.h"

struct end {
	const char *what;
	int fd, flags;
};

static struct end ends[8];
static int nends;

static int add(const char *what, int fd, int setfl)
{
	if (fd < 0)
		case_setup_fail("%s: %s", what, strerror(errno));
	int fl = fcntl(fd, F_GETFL);
	if (fcntl(fd, F_SETFL, (fl & ~(O_NONBLOCK | O_DIRECT)) | setfl) < 0)
		case_setup_fail("%s: F_SETFL: %s", what, strerror(errno));
	ends[nends++] = (struct end){ what, fd, fcntl(fd, F_GETFL) };
	return fd;
}

static int reopen(int fd, int flags)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	return open(p, flags | O_CLOEXEC);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	sigset_t io; /* the O_ASYNC signals are collected with sigtimedwait */
	sigemptyset(&io);
	sigaddset(&io, SIGRTMIN + 2);
	sigaddset(&io, SIGIO);
	sigprocmask(SIG_BLOCK, &io, NULL);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		case_setup_fail("pipe2: %s", strerror(errno));
	int r1 = add("pipe read end (O_NONBLOCK)", p[0], O_NONBLOCK);
	int w1 = add("pipe write end (O_DIRECT)", p[1], O_DIRECT);
	int r2 = add("pipe read end opened again (blocking, O_ASYNC)", reopen(p[0], O_RDONLY), 0);
	if (fcntl(r2, F_SETOWN, getpid()) < 0 || fcntl(r2, F_SETSIG, SIGRTMIN + 2) < 0 ||
	    fcntl(r2, F_SETFL, fcntl(r2, F_GETFL) | O_ASYNC) < 0)
		case_setup_fail("O_ASYNC: %s", strerror(errno));
	ends[nends - 1].flags = fcntl(r2, F_GETFL);
	int w2 = add("pipe write end opened again (O_NONBLOCK)", reopen(p[1], O_WRONLY), O_NONBLOCK);
	if (write(w2, "hello", 5) != 5)
		case_setup_fail("write: %s", strerror(errno));

	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.fifo", case_out);
	if (mkfifo(path, 0600) < 0)
		case_setup_fail("mkfifo: %s", strerror(errno));
	int frw = add("FIFO read-write (blocking, O_ASYNC)", open(path, O_RDWR | O_CLOEXEC), 0);
	struct f_owner_ex me = { F_OWNER_TID, (pid_t)syscall(SYS_gettid) };
	if (fcntl(frw, F_SETOWN_EX, &me) < 0 || fcntl(frw, F_SETFL, fcntl(frw, F_GETFL) | O_ASYNC) < 0)
		case_setup_fail("O_ASYNC (FIFO): %s", strerror(errno));
	ends[nends - 1].flags = fcntl(frw, F_GETFL);

	int fr1 = add("FIFO read (O_NONBLOCK)", open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), O_NONBLOCK);
	int fr2 = add("FIFO read (blocking)", open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), 0);
	int fw = add("FIFO write (O_NONBLOCK)", open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), O_NONBLOCK);
	if (write(fw, "abc", 3) != 3)
		case_setup_fail("write FIFO: %s", strerror(errno));
	case_ready();
	case_wait_term();

	for (int i = 0; i < nends; i++) {
		int fl = fcntl(ends[i].fd, F_GETFL);
		if (fl != ends[i].flags)
			case_fail("%s: flags 0%o, expected 0%o", ends[i].what, fl, ends[i].flags);
	}
	struct f_owner_ex o;
	if (!case_failed && (fcntl(r2, F_GETOWN) != getpid() || fcntl(r2, F_GETSIG) != SIGRTMIN + 2))
		case_fail("pipe read end: O_ASYNC owner %d signal %d, expected %d and %d", fcntl(r2, F_GETOWN), fcntl(r2, F_GETSIG),
			  (int)getpid(), SIGRTMIN + 2);
	if (!case_failed && (fcntl(frw, F_GETOWN_EX, &o) < 0 || o.type != F_OWNER_TID || o.pid != (pid_t)syscall(SYS_gettid)))
		case_fail("FIFO read-write end: O_ASYNC owner type %d pid %d, expected this thread %d", o.type, o.pid,
			  (int)syscall(SYS_gettid));
	char buf[16];
	if (!case_failed && (read(r1, buf, sizeof buf) != 5 || memcmp(buf, "hello", 5)))
		case_fail("pipe: the queued bytes are not there");
	if (!case_failed && (read(r1, buf, sizeof buf) != -1 || errno != EAGAIN))
		case_fail("pipe read end: an empty non-blocking read does not say EAGAIN");
	if (!case_failed && (read(fr1, buf, sizeof buf) != 3 || memcmp(buf, "abc", 3)))
		case_fail("FIFO: the queued bytes are not there once");
	if (!case_failed && (read(fr1, buf, sizeof buf) != -1 || errno != EAGAIN))
		case_fail("FIFO read end: an empty non-blocking read does not say EAGAIN");
	/* signal-driven I/O: a write raises each owner's signal, naming the fd */
	if (!case_failed) {
		struct timespec ts = { 5, 0 }, zero = { 0, 0 };
		siginfo_t si;
		while (sigtimedwait(&io, &si, &zero) > 0) /* raised by the writes of the set-up */
			;
		if (write(w2, "x", 1) != 1 || sigtimedwait(&io, &si, &ts) != SIGRTMIN + 2 || si.si_fd != r2)
			case_fail("pipe: a write does not raise SIGRTMIN+2 for fd %d (O_ASYNC)", r2);
		else if (write(fw, "y", 1) != 1 || sigtimedwait(&io, &si, &ts) != SIGIO)
			case_fail("FIFO: a write does not raise SIGIO (O_ASYNC)");
		if (!case_failed && (read(r1, buf, sizeof buf) != 1 || read(fr1, buf, sizeof buf) != 1))
			case_fail("the bytes written for the signals are not there");
	}
	/* one open file's flags are its own: setting O_NONBLOCK on r2 leaves r1 alone */
	if (!case_failed) {
		fcntl(r1, F_SETFL, 0);
		if (fcntl(r2, F_GETFL) & O_NONBLOCK)
			case_fail("the pipe's two read ends are one open file");
		fcntl(fr2, F_SETFL, O_NONBLOCK);
		if (!(fcntl(fr1, F_GETFL) & O_NONBLOCK))
			case_fail("the FIFO's two read ends are one open file");
	}
	/* packet mode: two writes stay two reads */
	if (!case_failed) {
		fcntl(r2, F_SETFL, O_NONBLOCK);
		if (write(w1, "ab", 2) != 2 || write(w1, "cd", 2) != 2 || read(r2, buf, sizeof buf) != 2)
			case_fail("pipe write end: O_DIRECT (packet mode) lost");
	}
	case_finish();
}
