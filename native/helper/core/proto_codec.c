/* What the generated protocol code (native/helper/gen/proto_gen.c, from protocol/schema.mjs) calls:
 * the decoders of hex, text and list fields, the dispatch table lookup, the JSON builder of the
 * events, and `ucr-helper proto-echo` for the contract test (docs/protocol.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_gen.h"

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
