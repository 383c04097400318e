/* The helper's side of the control protocol with the TypeScript coordinator.
 *
 * fd 0: commands and plan lines from the coordinator, one per line, words separated by spaces.
 *       Strings (paths, names) travel hex-encoded so they may hold any byte.
 * fd 1: replies, one JSON object per line: {"ev":"<event>", ...}. A failure is reported as
 *       {"ev":"error","phase":..,"object":..,"errno":..,"msg":..} and the helper exits non-zero
 *       after undoing what it did.
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
/* Reports a failure (errno may be 0) and returns -1 so callers can `return proto_fail(...)`. */
int proto_fail(const char *phase, const char *object, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Hex helpers: hex_decode returns the number of bytes written or -1. */
long hex_decode(const char *hex, void *out, size_t cap);
/* Writes 2*len hex digits plus NUL into out (which must hold them). */
void hex_encode(const void *buf, size_t len, char *out);
/* Emits a JSON string holding the hex of buf (used for register blobs). */
char *hex_dup(const void *buf, size_t len);

int parse_u64(const char *s, uint64_t *out);
int parse_i64(const char *s, int64_t *out);

/* Full read/write on possibly non-blocking fds (the image may be a pipe or socket that the
 * coordinator's process put in O_NONBLOCK mode). read_full returns bytes read (short = EOF). */
long read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
#endif
