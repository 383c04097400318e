/* The helper's side of the control protocol with the TypeScript coordinator.
 *
 * fd 0: commands and plan lines from the coordinator, one per line, words separated by spaces.
 *       Strings (paths, names) travel hex-encoded so they may hold any byte.
 * fd 1: replies, one JSON object per line: {"ev":"<event>", ...}. A failure is reported as
 *       {"ev":"error","phase":..,"object":..,"syscall":..,"errno":..,"msg":..} and the helper
 *       exits non-zero after undoing what it did.
 * Every message and event is listed once in protocol/schema.mjs; the decoders, dispatch tables
 * and emitters are generated from it (native/helper/gen/proto_gen.h, docs/protocol.md).
 * fd 2: diagnostics for humans (the coordinator logs them). */
#ifndef UCR_PROTO_H
#define UCR_PROTO_H
#include <stddef.h>
#include <stdint.h>

#define MAX_PENDING (1 << 17) /* queued signals per thread or process saved (RLIMIT_SIGPENDING caps them) */
#define LINE_MAX_LEN (16 << 20) /* plan lines may carry a small file's contents in hex */

/* Next line from fd 0 without the newline; NULL at EOF. The buffer lives until the next call. */
char *proto_readline(void);
/* Splits a line in place into at most max words; returns the count. */
int proto_split(char *line, char **words, int max);

void proto_emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A binary frame on fd 1: the line "#bin LEN", then LEN raw bytes; the next event naming
 * "bin":LEN carries it (registers and xstate of a task's threads, docs/protocol.md). */
void proto_emit_bin(const void *buf, size_t len);
/* Reports a failure (errno may be 0) and returns -1 so callers can `return proto_fail(...)`. */
int proto_fail(const char *phase, const char *object, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* proto_fail naming the system call that failed (the error event's syscall field). */
int proto_fail_sys(const char *syscall, const char *phase, const char *object, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A failure kept instead of reported (proto_capture): checkpoint's check of its plan
 * (restore/plan_check.c) answers with it and the helper goes on. */
struct proto_failure {
	int failed, err;
	char phase[64], object[256], syscall[64], msg[1024];
};
/* From now on failures fill f (the first one; f is cleared first) instead of being reported;
 * NULL: reported again. */
void proto_capture(struct proto_failure *f);

/* Hex helpers: hex_decode returns the number of bytes written or -1. */
long hex_decode(const char *hex, void *out, size_t cap);
/* Writes 2*len hex digits plus NUL into out (which must hold them). */
void hex_encode(const void *buf, size_t len, char *out);
/* Emits a JSON string holding the hex of buf (used for register blobs). */
char *hex_dup(const void *buf, size_t len);

int parse_u64(const char *s, uint64_t *out);
int parse_i64(const char *s, int64_t *out);

/* Support of the generated decoders and emitters (native/helper/gen/proto_gen.c, from
 * protocol/schema.mjs; docs/protocol.md). */
struct proto_err {
	const char *field; /* NULL: the line as a whole */
	const char *why;
};
int proto_decode_err(struct proto_err *e, const char *field, const char *why);
/* hex bytes (or "-": none), decoded in place; length in [min, max] */
int proto_hex_field(char *w, size_t min, size_t max, unsigned char **out, size_t *len);
/* a text as hex, decoded in place and NUL-terminated, never empty, no NUL inside; "-" is NULL
 * when nullable */
int proto_str_field(char *w, int nullable, char **out);
/* numbers separated by ",", "-" when empty, each in [min, max] (compared as signed when
 * is_signed), count in [minc, maxc]; *out is malloc'd (NULL when empty) */
int proto_list_field(const char *w, int is_signed, int64_t min, int64_t max, size_t minc, size_t maxc, void **out,
		     size_t *count);
/* index of verb in the sorted table, -1 if absent */
int proto_verb(const char *const *verbs, int n, const char *verb);

/* One JSON object built field by field and written as one line on fd 1. */
struct proto_json {
	char *buf;
	size_t len, cap;
};
void proto_json_raw(struct proto_json *j, const char *text);
void proto_json_u64(struct proto_json *j, const char *key, uint64_t v);
void proto_json_i64(struct proto_json *j, const char *key, int64_t v);
void proto_json_u64s(struct proto_json *j, const char *key, uint64_t v); /* as a string */
void proto_json_i64s(struct proto_json *j, const char *key, int64_t v);
void proto_json_str(struct proto_json *j, const char *key, const char *s);
void proto_json_hex(struct proto_json *j, const char *key, const void *buf, size_t len);
void proto_json_list(struct proto_json *j, const char *key, const void *v, size_t n, int is_signed);
void proto_json_rawfield(struct proto_json *j, const char *key, const char *json);
void proto_json_end(struct proto_json *j); /* closes, writes and frees */
/* "[" items "]", malloc'd (NULL: out of memory): a json field of an event from a list built by hand */
char *proto_json_array(const char *items, size_t len);
/* `ucr-helper proto-echo`: decodes "<channel> <verb> <fields>" lines with the generated
 * decoders and writes each back as JSON (events: through their emitter). */
int proto_echo(void);

/* Full read/write on possibly non-blocking fds (the image may be a pipe or socket that the
 * coordinator's process put in O_NONBLOCK mode). read_full returns bytes read (short = EOF). */
long read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
#endif
