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

static int vfail(const char *syscall, const char *phase, const char *object, int err, const char *fmt, va_list ap)
{
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

/* ---- support of the generated decoders (proto_gen.c) */

int proto_decode_err(struct proto_err *e, const char *field, const char *why)
{
	e->field = field;
	e->why = why;
	return -1;
}

int proto_hex_field(char *w, size_t min, size_t max, unsigned char **out, size_t *len)
{
	*out = (unsigned char *)w;
	*len = 0;
	if (!strcmp(w, "-"))
		return min > 0 ? -1 : 0;
	size_t l = strlen(w);
	if (l == 0 || l % 2 || l / 2 < min || l / 2 > max)
		return -1;
	/* in place: byte i is written after hex digits 2i and 2i+1 were read */
	long got = hex_decode(w, w, l / 2);
	if (got != (long)(l / 2))
		return -1;
	*len = l / 2;
	return 0;
}

int proto_str_field(char *w, int nullable, char **out)
{
	*out = NULL;
	if (!strcmp(w, "-"))
		return nullable ? 0 : -1;
	size_t l = strlen(w);
	if (l == 0 || l % 2 || hex_decode(w, w, l / 2) != (long)(l / 2) || memchr(w, 0, l / 2))
		return -1;
	w[l / 2] = 0;
	*out = w;
	return 0;
}

int proto_list_field(const char *w, int is_signed, int64_t min, int64_t max, size_t minc, size_t maxc, void **out,
		     size_t *count)
{
	*out = NULL;
	*count = 0;
	if (!strcmp(w, "-"))
		return minc > 0 ? -1 : 0;
	size_t n = 1;
	for (const char *p = w; *p; p++)
		n += *p == ',';
	if (n < minc || n > maxc)
		return -1;
	uint64_t *v = malloc(n * sizeof *v);
	if (!v)
		return -1;
	*out = v;
	char item[32];
	for (size_t i = 0; i < n; i++) {
		size_t l = strcspn(w, ",");
		if (l == 0 || l >= sizeof item)
			return -1;
		memcpy(item, w, l);
		item[l] = 0;
		w += l + (w[l] == ',');
		if (is_signed) {
			int64_t x;
			if (parse_i64(item, &x) || x < min || x > max)
				return -1;
			v[i] = (uint64_t)x;
		} else {
			uint64_t x;
			if (parse_u64(item, &x) || x < (uint64_t)min || x > (uint64_t)max)
				return -1;
			v[i] = x;
		}
	}
	*count = n;
	return 0;
}

int proto_verb(const char *const *verbs, int n, const char *verb)
{
	int lo = 0, hi = n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2, c = strcmp(verb, verbs[mid]);
		if (!c)
			return mid;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

static void jput(struct proto_json *j, const char *s, size_t n)
{
	if (j->len + n + 2 > j->cap) {
		size_t cap = (j->len + n + 2) * 2 + 256;
		char *b = realloc(j->buf, cap);
		if (!b)
			abort();
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

static void jputs(struct proto_json *j, const char *s)
{
	jput(j, s, strlen(s));
}

static void jkey(struct proto_json *j, const char *key)
{
	jputs(j, ",\"");
	jputs(j, key);
	jputs(j, "\":");
}

void proto_json_raw(struct proto_json *j, const char *text)
{
	jputs(j, text);
}

void proto_json_u64(struct proto_json *j, const char *key, uint64_t v)
{
	char b[32];
	jkey(j, key);
	snprintf(b, sizeof b, "%llu", (unsigned long long)v);
	jputs(j, b);
}

void proto_json_i64(struct proto_json *j, const char *key, int64_t v)
{
	char b[32];
	jkey(j, key);
	snprintf(b, sizeof b, "%lld", (long long)v);
	jputs(j, b);
}

void proto_json_u64s(struct proto_json *j, const char *key, uint64_t v)
{
	char b[32];
	jkey(j, key);
	snprintf(b, sizeof b, "\"%llu\"", (unsigned long long)v);
	jputs(j, b);
}

void proto_json_i64s(struct proto_json *j, const char *key, int64_t v)
{
	char b[32];
	jkey(j, key);
	snprintf(b, sizeof b, "\"%lld\"", (long long)v);
	jputs(j, b);
}

void proto_json_str(struct proto_json *j, const char *key, const char *s)
{
	jkey(j, key);
	if (!s) {
		jputs(j, "null");
		return;
	}
	jputs(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[8];
		if (c == '"' || c == '\\') {
			e[0] = '\\', e[1] = (char)c;
			jput(j, e, 2);
		} else if (c < 0x20) {
			snprintf(e, sizeof e, "\\u%04x", c);
			jputs(j, e);
		} else {
			jput(j, (const char *)&c, 1);
		}
	}
	jputs(j, "\"");
}

void proto_json_hex(struct proto_json *j, const char *key, const void *buf, size_t len)
{
	jkey(j, key);
	jputs(j, "\"");
	static const char d[] = "0123456789abcdef";
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		char two[2] = { d[p[i] >> 4], d[p[i] & 15] };
		jput(j, two, 2);
	}
	jputs(j, "\"");
}

void proto_json_list(struct proto_json *j, const char *key, const void *v, size_t n, int is_signed)
{
	jkey(j, key);
	jputs(j, "[");
	for (size_t i = 0; i < n; i++) {
		char b[32];
		uint64_t x = ((const uint64_t *)v)[i];
		if (is_signed)
			snprintf(b, sizeof b, "%s\"%lld\"", i ? "," : "", (long long)(int64_t)x);
		else
			snprintf(b, sizeof b, "%s\"%llu\"", i ? "," : "", (unsigned long long)x);
		jputs(j, b);
	}
	jputs(j, "]");
}

void proto_json_rawfield(struct proto_json *j, const char *key, const char *json)
{
	jkey(j, key);
	jputs(j, json);
}

char *proto_json_array(const char *items, size_t len)
{
	char *a = malloc(len + 3);
	if (!a)
		return NULL;
	a[0] = '[';
	memcpy(a + 1, items, len);
	a[len + 1] = ']';
	a[len + 2] = 0;
	return a;
}

void proto_json_end(struct proto_json *j)
{
	jput(j, "}\n", 2);
	write_full(1, j->buf, j->len);
	free(j->buf);
	j->buf = NULL;
	j->len = j->cap = 0;
}

int proto_echo(void)
{
	char *line, *w[64];
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 64);
		if (n < 2)
			continue;
		char key[64];
		snprintf(key, sizeof key, "%s %s", w[0], w[1]);
		int k = -1;
		for (int i = 0; i < proto_echo_count; i++)
			if (!strcmp(proto_echo_table[i].key, key))
				k = i;
		if (k < 0) {
			proto_emit("{\"ev\":\"echo-error\",\"key\":\"%s\",\"field\":null,\"why\":\"unknown\"}", key);
			continue;
		}
		const struct proto_echo_entry *t = &proto_echo_table[k];
		void *m = calloc(1, t->size);
		struct proto_err e = { 0 };
		if (!m)
			return 1;
		if (t->decode(w + 1, n - 1, m, &e) < 0) {
			struct proto_json j = { 0 };
			proto_json_raw(&j, "{\"ev\":\"echo-error\"");
			proto_json_str(&j, "key", key);
			proto_json_str(&j, "field", e.field);
			proto_json_str(&j, "why", e.why);
			proto_json_end(&j);
		} else {
			t->echo(m);
			if (t->emit)
				t->emit(m);
		}
		t->free(m);
		free(m);
	}
	return 0;
}
