#include "proto.h"
#include "proto_gen.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char inbuf[LINE_MAX_LEN + 1];
static size_t in_start, in_end;
static int failed;

char *proto_readline(void)
{
	for (;;) {
		char *nl = memchr(inbuf + in_start, '\n', in_end - in_start);
		if (nl) {
			*nl = 0;
			char *line = inbuf + in_start;
			in_start = (size_t)(nl - inbuf) + 1;
			return line;
		}
		if (in_start > 0) {
			memmove(inbuf, inbuf + in_start, in_end - in_start);
			in_end -= in_start;
			in_start = 0;
		}
		if (in_end >= LINE_MAX_LEN)
			return NULL; /* line too long: treated as protocol end */
		ssize_t n = read(0, inbuf + in_end, LINE_MAX_LEN - in_end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		in_end += (size_t)n;
	}
}

int proto_split(char *line, char **words, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *w = strtok_r(line, " ", &save); w && n < max; w = strtok_r(NULL, " ", &save))
		words[n++] = w;
	return n;
}

void proto_emit(const char *fmt, ...)
{
	char stackbuf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(stackbuf, sizeof stackbuf - 1, fmt, ap);
	va_end(ap);
	char *buf = stackbuf;
	if (n >= (int)sizeof stackbuf - 1) {
		buf = malloc((size_t)n + 2);
		if (!buf)
			return;
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	buf[n] = '\n';
	write_full(1, buf, (size_t)n + 1);
	if (buf != stackbuf)
		free(buf);
}

void proto_emit_bin(const void *buf, size_t len)
{
	char head[32];
	int n = snprintf(head, sizeof head, "#bin %zu\n", len);
	write_full(1, head, (size_t)n);
	write_full(1, buf, len);
}

static struct proto_failure *captured; /* proto_capture */

void proto_capture(struct proto_failure *f)
{
	captured = f;
	if (f)
		memset(f, 0, sizeof *f);
}

static int vfail(const char *syscall, const char *phase, const char *object, int err, const char *fmt, va_list ap)
{
	if (captured) { /* kept for the caller, the first one only; the helper goes on */
		if (!captured->failed) {
			captured->failed = 1;
			snprintf(captured->phase, sizeof captured->phase, "%s", phase);
			snprintf(captured->object, sizeof captured->object, "%s", object ? object : "");
			snprintf(captured->syscall, sizeof captured->syscall, "%s", syscall ? syscall : "");
			captured->err = err;
			vsnprintf(captured->msg, sizeof captured->msg, fmt, ap);
		}
		return -1;
	}
	if (failed)
		return -1; /* the first failure is the one reported */
	failed = 1;
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	EMIT_ERROR(.phase = phase, .object = object ? object : "", .syscall = syscall ? syscall : "", .err = err, .msg = msg);
	return -1;
}

int proto_fail(const char *phase, const char *object, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(NULL, phase, object, err, fmt, ap);
	va_end(ap);
	return r;
}

int proto_fail_sys(const char *syscall, const char *phase, const char *object, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(syscall, phase, object, err, fmt, ap);
	va_end(ap);
	return r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long hex_decode(const char *hex, void *out, size_t cap)
{
	size_t len = strlen(hex);
	if (len % 2 || len / 2 > cap)
		return -1;
	unsigned char *o = out;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		o[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

void hex_encode(const void *buf, size_t len, char *out)
{
	static const char d[] = "0123456789abcdef";
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * len] = 0;
}

char *hex_dup(const void *buf, size_t len)
{
	char *s = malloc(2 * len + 1);
	if (s)
		hex_encode(buf, len, s);
	return s;
}

int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

int parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static void wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	poll(&p, 1, -1);
}

long read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_fd(fd, POLLIN);
				continue;
			}
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (long)done;
}

int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				wait_fd(fd, POLLOUT);
				continue;
			}
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}
