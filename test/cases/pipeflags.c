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
 * After SIGTERM every fd must show the flags it had (F_GETFL), each open file its own
 * (changing one does not change another), the queued bytes must be there once, and the
 * non-blocking read ends must say EAGAIN once the pipes are empty.
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
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		case_setup_fail("pipe2: %s", strerror(errno));
	int r1 = add("pipe read end (O_NONBLOCK)", p[0], O_NONBLOCK);
	int w1 = add("pipe write end (O_DIRECT)", p[1], O_DIRECT);
	int r2 = add("pipe read end opened again (blocking)", reopen(p[0], O_RDONLY), 0);
	int w2 = add("pipe write end opened again (O_NONBLOCK)", reopen(p[1], O_WRONLY), O_NONBLOCK);
	if (write(w2, "hello", 5) != 5)
		case_setup_fail("write: %s", strerror(errno));

	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.fifo", case_out);
	if (mkfifo(path, 0600) < 0)
		case_setup_fail("mkfifo: %s", strerror(errno));
	int frw = add("FIFO read-write (blocking)", open(path, O_RDWR | O_CLOEXEC), 0);
	int fr1 = add("FIFO read (O_NONBLOCK)", open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), O_NONBLOCK);
	int fr2 = add("FIFO read (blocking)", open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), 0);
	int fw = add("FIFO write (O_NONBLOCK)", open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), O_NONBLOCK);
	if (write(fw, "abc", 3) != 3)
		case_setup_fail("write FIFO: %s", strerror(errno));
	(void)frw;
	case_ready();
	case_wait_term();

	for (int i = 0; i < nends; i++) {
		int fl = fcntl(ends[i].fd, F_GETFL);
		if (fl != ends[i].flags)
			case_fail("%s: flags 0%o, expected 0%o", ends[i].what, fl, ends[i].flags);
	}
	char buf[16];
	if (!case_failed && (read(r1, buf, sizeof buf) != 5 || memcmp(buf, "hello", 5)))
		case_fail("pipe: the queued bytes are not there");
	if (!case_failed && (read(r1, buf, sizeof buf) != -1 || errno != EAGAIN))
		case_fail("pipe read end: an empty non-blocking read does not say EAGAIN");
	if (!case_failed && (read(fr1, buf, sizeof buf) != 3 || memcmp(buf, "abc", 3)))
		case_fail("FIFO: the queued bytes are not there once");
	if (!case_failed && (read(fr1, buf, sizeof buf) != -1 || errno != EAGAIN))
		case_fail("FIFO read end: an empty non-blocking read does not say EAGAIN");
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
