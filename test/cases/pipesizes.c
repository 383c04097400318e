// build: gcc -O2 -g -Wall -Wextra -o pipesizes pipesizes.c
/*
 * pipesizes.c - pipes of several sizes come back with their size and every byte queued in them.
 *
 *   pipesizes --out FILE
 *
 * Five pipes, each with both ends held, made and filled in this order (the checkpoint peeks
 * at them in fd order: small, large, small, larger, empty, so its peeking pipe is used again,
 * grows and must be empty again between them):
 *   A: default size, 100 bytes;
 *   B: F_SETPIPE_SZ 256 KiB, filled to 256 KiB - 1 byte;
 *   C: default size, 65536 bytes (full: 16 pages);
 *   D: F_SETPIPE_SZ 1 MiB, written in pieces of 4000 bytes (each takes a buffer of its own:
 *      256 of them, all but 3 bytes of the last filled);
 *   E: F_SETPIPE_SZ 128 KiB, empty.
 * Each byte is a function of its pipe and position. After SIGTERM: each pipe's F_GETPIPE_SZ is
 * what it was, FIONREAD says its count, and reading it (non-blocking) gives exactly those bytes
 * and then EAGAIN.
 */
#include "case.h"

#include <sys/ioctl.h>

#define NP 5
static const int want_size[NP] = { 0, 256 << 10, 0, 1 << 20, 128 << 10 };
static const int want_len[NP] = { 100, (256 << 10) - 1, 65536, 256 * 4000 - 3, 0 };

static unsigned char byte_of(int p, int i)
{
	return (unsigned char)((i * 131 + p * 17 + (i >> 9)) & 0xff);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int fds[NP][2], size[NP];
	static unsigned char buf[1 << 20];
	for (int p = 0; p < NP; p++) {
		if (pipe2(fds[p], O_NONBLOCK) < 0)
			case_setup_fail("pipe2: %s", strerror(errno));
		if (want_size[p] && fcntl(fds[p][1], F_SETPIPE_SZ, want_size[p]) < 0)
			case_setup_fail("F_SETPIPE_SZ %d: %s", want_size[p], strerror(errno));
		size[p] = fcntl(fds[p][1], F_GETPIPE_SZ);
		for (int i = 0; i < want_len[p]; i++)
			buf[i] = byte_of(p, i);
		for (int at = 0; at < want_len[p];) {
			int piece = p == 3 ? 4000 : want_len[p] - at;
			if (piece > want_len[p] - at)
				piece = want_len[p] - at;
			ssize_t n = write(fds[p][1], buf + at, (size_t)piece);
			if (n <= 0)
				case_setup_fail("pipe %d: write at %d: %s", p, at, n < 0 ? strerror(errno) : "0");
			at += (int)n;
		}
	}
	case_ready();
	case_wait_term();
	for (int p = 0; p < NP && !case_failed; p++) {
		int sz = fcntl(fds[p][1], F_GETPIPE_SZ), q = -1;
		if (sz != size[p]) {
			case_fail("pipe %d: size %d, was %d", p, sz, size[p]);
			break;
		}
		if (ioctl(fds[p][0], FIONREAD, &q) < 0 || q != want_len[p]) {
			case_fail("pipe %d: FIONREAD %d, %d bytes were queued", p, q, want_len[p]);
			break;
		}
		int got = 0;
		for (;;) {
			ssize_t n = read(fds[p][0], buf + got, sizeof buf - (size_t)got);
			if (n > 0) {
				got += (int)n;
				continue;
			}
			if (n < 0 && errno == EAGAIN)
				break;
			case_fail("pipe %d: read: %s", p, n < 0 ? strerror(errno) : "end of file");
			break;
		}
		if (case_failed)
			break;
		if (got != want_len[p]) {
			case_fail("pipe %d: %d bytes read, %d were queued", p, got, want_len[p]);
			break;
		}
		for (int i = 0; i < got; i++)
			if (buf[i] != byte_of(p, i)) {
				case_fail("pipe %d: byte %d is %d, not %d", p, i, buf[i], byte_of(p, i));
				break;
			}
	}
	case_finish();
}
