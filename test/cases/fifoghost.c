// build: gcc -O2 -g -Wall -Wextra -o fifoghost fifoghost.c
/*
 * fifoghost.c - a FIFO removed from its path while open keeps working: its bytes, its ends,
 * its mode, and it has no name (nothing appears at its old path).
 *
 *   fifoghost --out FILE
 *
 * Makes FILE.fifo (mode 0640), opens it read-write and write-only, writes "queued" through the
 * write end, removes the path. After SIGTERM: the read-write end reads "queued", a byte
 * written through the write end arrives, the FIFO has no links and mode 0640, and FILE.fifo is
 * whatever the test put there since (the case checks it is not a FIFO).
 */
#include "case.h"

#include <sys/stat.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.fifo", case_out);
	unlink(path);
	if (mkfifo(path, 0600) < 0 || chmod(path, 0640) < 0)
		case_setup_fail("mkfifo %s: %s", path, strerror(errno));
	int rw = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC), wr = open(path, O_WRONLY | O_CLOEXEC);
	if (rw < 0 || wr < 0 || write(wr, "queued", 6) != 6 || unlink(path) < 0)
		case_setup_fail("FIFO set-up: %s", strerror(errno));
	case_ready();
	case_wait_term();

	char buf[16] = { 0 };
	struct stat st, at;
	if (read(rw, buf, sizeof buf) != 6 || memcmp(buf, "queued", 6))
		case_fail("the removed FIFO's bytes: \"%s\"", buf);
	else if (write(wr, "x", 1) != 1 || read(rw, buf, 1) != 1 || buf[0] != 'x')
		case_fail("the removed FIFO does not carry a new byte");
	else if (fstat(rw, &st) < 0 || !S_ISFIFO(st.st_mode) || st.st_nlink != 0 || (st.st_mode & 07777) != 0640)
		case_fail("the removed FIFO: type 0%o, %lu links, mode 0%o", st.st_mode & S_IFMT, (unsigned long)st.st_nlink, st.st_mode & 07777);
	else if (lstat(path, &at) == 0 && S_ISFIFO(at.st_mode))
		case_fail("a FIFO appeared at %s", path);
	case_finish();
}
