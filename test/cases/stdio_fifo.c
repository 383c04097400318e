// build: gcc -O2 -g -Wall -Wextra -o stdio_fifo stdio_fifo.c
/*
 * stdio_fifo.c - a named FIFO on stdin stays that FIFO (like `sqlite3 < fifo`).
 *
 *   stdio_fifo --out FILE
 *
 * stdin must be a FIFO that the test writes "before\n" to before the checkpoint and "after\n"
 * to after the restart (both before SIGTERM). The program does not read until SIGTERM; then
 * fd 0 must still be the FIFO at its path (same device and inode as the path now, the same
 * flags), and reading it must give exactly "before\nafter\n": the bytes queued at checkpoint
 * once, then what the writer sent after the restart.
 */
#include "case.h"

#include <poll.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	char path[PATH_MAX] = { 0 };
	struct stat st0;
	if (readlink("/proc/self/fd/0", path, sizeof path - 1) <= 0 || fstat(0, &st0) < 0 || !S_ISFIFO(st0.st_mode) || path[0] != '/')
		case_setup_fail("stdin is not a named FIFO (%s)", path);
	int flags = fcntl(0, F_GETFL);
	case_ready();
	case_wait_term();

	struct stat now, st;
	if (stat(path, &now) < 0 || fstat(0, &st) < 0)
		case_fail("stat: %s", case_errname(errno));
	else if (!S_ISFIFO(st.st_mode) || st.st_dev != now.st_dev || st.st_ino != now.st_ino)
		case_fail("stdin is no longer the FIFO %s (it is %s)", path, S_ISFIFO(st.st_mode) ? "another pipe" : "not a pipe");
	else if (fcntl(0, F_GETFL) != flags)
		case_fail("stdin flags 0%o, expected 0%o", fcntl(0, F_GETFL), flags);
	char buf[64];
	size_t len = 0;
	const char *want = "before\nafter\n";
	while (!case_failed && len < strlen(want)) {
		struct pollfd p = { .fd = 0, .events = POLLIN };
		if (poll(&p, 1, 5000) != 1) {
			case_fail("stdin: nothing more to read after \"%.*s\"", (int)len, buf);
			break;
		}
		ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
		if (n <= 0) {
			case_fail("stdin: read gave %zd (%s) after \"%.*s\"", n, n < 0 ? case_errname(errno) : "EOF", (int)len, buf);
			break;
		}
		len += (size_t)n;
	}
	buf[len] = 0;
	if (!case_failed && strcmp(buf, want))
		case_fail("stdin gave \"%s\", expected \"before\\nafter\\n\"", buf);
	case_finish();
}
