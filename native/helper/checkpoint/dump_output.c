/* The checkpoint's output: its blocks reserved ahead of the page records (`reserve`), and its
 * end, before the tree is killed: the image must have reached its
 * reader. `drain`: when the image goes into a pipe or a socket, wait until the reader has taken
 * every byte written (the trailer's last one included), or fail when the reader is gone first.
 * `ack`: wait for the restart's acknowledgement that it has the whole image, verified
 * (checkpoint --kill-after-ack; the 16 bytes ACK_MAGIC | u32 LE digest | u32 LE records of the
 * image's trailer, read from fd 4). Either fails when the coordinator goes away meanwhile (EOF
 * on fd 0); a failure releases the tree as any failed command does. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "image.h"
#include "pipeline.h"
#include "proto.h"
#include "proto_gen.h"

#define OUT_FD 3
#define ACK_FD 4

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Polls fd for events (0: only hang-up and error) and the command pipe for the coordinator's
 * end, up to ms: the revents of fd, or -1 (reported) when the coordinator is gone. */
static int wait_on(int fd, short events, int ms, const char *phase)
{
	struct pollfd p[2] = { { fd, events, 0 }, { 0, 0, 0 } };
	if (poll(p, 2, ms) < 0 && errno != EINTR)
		return proto_fail(phase, "image", errno, "cannot poll");
	if (p[1].revents & (POLLHUP | POLLERR))
		return proto_fail(phase, "coordinator", ECANCELED, "the coordinator went away");
	return p[0].revents;
}

/* `reserve <bytes>`: no answer; nothing to fail (pl_writer_reserve). */
int on_dump_reserve(struct dump_in *in, struct msg_dump_reserve *msg)
{
	(void)in;
	pl_writer_reserve(OUT_FD, msg->bytes);
	return 0;
}

int on_dump_drain(struct dump_in *in, struct msg_dump_drain *msg)
{
	(void)in;
	(void)msg;
	struct stat st;
	if (fstat(OUT_FD, &st) < 0)
		return proto_fail("drain", "image", errno, "cannot stat the output");
	int sock = S_ISSOCK(st.st_mode);
	while (S_ISFIFO(st.st_mode) || sock) {
		int left = 0;
		if (ioctl(OUT_FD, sock ? SIOCOUTQ : FIONREAD, &left) < 0)
			return proto_fail("drain", "image", errno, "cannot see how much of the image its reader took");
		if (left == 0)
			break;
		int r = wait_on(OUT_FD, 0, 10, "drain");
		if (r < 0)
			return -1;
		if (r & (POLLERR | POLLHUP))
			return proto_fail("drain", "image", EPIPE, "the reader of the image went away before reading its last %d bytes", left);
	}
	EMIT_DRAINED();
	return 0;
}

/* `ack <timeout ms> <digest> <records>` */
int on_dump_ack(struct dump_in *in, struct msg_dump_ack *msg)
{
	(void)in;
	uint64_t ms = msg->ms, digest = msg->digest, records = msg->records;
	unsigned char want[ACK_LEN], got[ACK_LEN];
	memcpy(want, ACK_MAGIC, 8);
	for (int i = 0; i < 4; i++) {
		want[8 + i] = (unsigned char)(digest >> (8 * i));
		want[12 + i] = (unsigned char)(records >> (8 * i));
	}
	int64_t end = now_ms() + (int64_t)ms;
	for (size_t have = 0; have < ACK_LEN;) {
		int64_t left = end - now_ms();
		if (left <= 0)
			return proto_fail("ack", "acknowledgement", ETIMEDOUT, "no acknowledgement from the restart within %llu ms",
					  (unsigned long long)ms);
		int r = wait_on(ACK_FD, POLLIN, left > 100 ? 100 : (int)left, "ack");
		if (r < 0)
			return -1;
		if (!r)
			continue;
		ssize_t k = read(ACK_FD, got + have, ACK_LEN - have);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k < 0)
			return proto_fail("ack", "acknowledgement", errno, "cannot read the acknowledgement");
		if (k == 0)
			return proto_fail("ack", "acknowledgement", EPIPE, "the restart side closed the acknowledgement channel without acknowledging the image");
		have += (size_t)k;
	}
	if (memcmp(got, want, ACK_LEN))
		return proto_fail("ack", "acknowledgement", EPROTO, "the acknowledgement is not for this image");
	EMIT_ACKED();
	return 0;
}
