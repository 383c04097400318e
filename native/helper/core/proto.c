#include "proto.h"

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

static void json_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; *in && o + 7 < cap; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
}

int proto_fail(const char *phase, const char *object, int err, const char *fmt, ...)
{
	if (failed)
		return -1; /* the first failure is the one reported */
	failed = 1;
	char msg[1024], emsg[2100], eobj[1100];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_escape(msg, emsg, sizeof emsg);
	json_escape(object ? object : "", eobj, sizeof eobj);
	proto_emit("{\"ev\":\"error\",\"phase\":\"%s\",\"object\":\"%s\",\"errno\":%d,\"msg\":\"%s\"}", phase,
		   eobj, err, emsg);
	return -1;
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
