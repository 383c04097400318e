// build: gcc -O2 -g -Wall -Wextra -o tcpbig tcpbig.c
/*
 * tcpbig.c - a loopback TCP connection with far more than 4 MiB queued each way.
 *
 *   tcpbig --out FILE
 *
 * Set up: a connection A <-> B on 127.0.0.1 (both ends in this process, large buffers set
 * before connecting); 48 MiB written by A to B and 40 MiB by B to A, nothing read, so each
 * direction holds more than 4 MiB in the receiver's queue and more than 4 MiB in the sender's
 * (sent but unacknowledged, and never sent). Ready once the queues no longer move.
 * After SIGTERM: B reads all 48 MiB and A all 40 MiB, byte for byte (a position-derived
 * pattern), then both directions still carry a short message.
 */
#include "net.h"

#define AB (48u << 20)
#define BA (40u << 20)
#define CHUNK (1u << 20)

static unsigned char pattern(uint32_t dir, size_t pos)
{
	uint64_t x = case_splitmix(((uint64_t)dir << 40) ^ (pos >> 3));
	return (unsigned char)(x >> ((pos & 7) * 8));
}

static size_t push(int s, uint32_t dir, size_t from, size_t total)
{
	static unsigned char buf[CHUNK];
	while (from < total) {
		size_t n = total - from < CHUNK ? total - from : CHUNK;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(dir, from + i);
		ssize_t w = send(s, buf, n, MSG_DONTWAIT);
		if (w <= 0)
			break;
		from += (size_t)w;
	}
	return from;
}

static int queued(int s, int req)
{
	int v = 0;
	ioctl(s, req, &v);
	return v;
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int big = 64 << 20, rcv = 12 << 20; /* the receivers take part, the senders keep the rest */
	int l = sock(AF_INET, SOCK_STREAM);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	socklen_t al = sizeof a;
	if (setsockopt(l, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0 || setsockopt(l, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0 ||
	    bind(l, (struct sockaddr *)&a, al) < 0 || listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &al) < 0)
		die("listener");
	int A = sock(AF_INET, SOCK_STREAM);
	if (setsockopt(A, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0 || setsockopt(A, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0 ||
	    connect(A, (struct sockaddr *)&a, al) < 0)
		die("connect");
	int B = accept(l, NULL, NULL);
	if (B < 0)
		die("accept");
	close(l);
	size_t ab = 0, ba = 0;
	for (int round = 0; round < 200 && (ab < AB || ba < BA); round++) {
		ab = push(A, 1, ab, AB);
		ba = push(B, 2, ba, BA);
		case_sleep_ms(10);
	}
	if (ab < AB || ba < BA)
		case_setup_fail("only %zu and %zu bytes could be queued", ab, ba);
	/* until nothing moves any more */
	int last[4] = { -1, -1, -1, -1 };
	for (int i = 0; i < 200; i++) {
		int now[4] = { queued(A, SIOCOUTQ), queued(B, SIOCINQ), queued(B, SIOCOUTQ), queued(A, SIOCINQ) };
		if (!memcmp(now, last, sizeof now))
			break;
		memcpy(last, now, sizeof now);
		case_sleep_ms(50);
	}
	for (int i = 0; i < 4; i++)
		if (last[i] <= 4 << 20)
			case_setup_fail("queue %d holds only %d bytes (A out %d, B in %d, B out %d, A in %d)", i, last[i], last[0], last[1], last[2], last[3]);

	case_ready();
	case_wait_term();

	static unsigned char buf[CHUNK];
	size_t got[2] = { 0, 0 }, want[2] = { AB, BA };
	int rd[2] = { B, A };
	int64_t deadline = case_now_ms() + 30000;
	while ((got[0] < want[0] || got[1] < want[1]) && case_now_ms() < deadline && !case_failed) {
		struct pollfd pf[2] = { { rd[0], POLLIN, 0 }, { rd[1], POLLIN, 0 } };
		if (poll(pf, 2, 1000) < 0 && errno != EINTR)
			break;
		for (int d = 0; d < 2; d++) {
			if (got[d] >= want[d] || !(pf[d].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			size_t room = want[d] - got[d] < CHUNK ? want[d] - got[d] : CHUNK;
			ssize_t n = recv(rd[d], buf, room, MSG_DONTWAIT);
			if (n <= 0) {
				if (n < 0 && errno == EAGAIN)
					continue;
				case_fail("%s: read %zd after %zu bytes (%s)", d ? "A" : "B", n, got[d], n < 0 ? case_errname(errno) : "EOF");
				break;
			}
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != pattern(d ? 2 : 1, got[d] + (size_t)i)) {
					case_fail("%s: byte %zu differs", d ? "A" : "B", got[d] + (size_t)i);
					break;
				}
			got[d] += (size_t)n;
		}
	}
	if (!case_failed && (got[0] < want[0] || got[1] < want[1]))
		case_fail("timed out: B read %zu of %u bytes, A %zu of %u", got[0], AB, got[1], BA);
	if (!case_failed) {
		send_text(A, "ping", "A");
		expect_text(B, "ping", "B");
		send_text(B, "pong", "B");
		expect_text(A, "pong", "A");
	}
	case_finish();
}
