/* Bytes queued in a pty pair, both ways: what the slave side has not read yet (input: the
 * master wrote it, the line discipline took it in) and what the master side has not read yet
 * (output: the slave wrote it). A terminal shows them only to a read, so a checkpoint reads
 * them and puts them back at once (the tree is left as it was, whatever happens next), and a
 * restart puts them into the new pair the same way.
 *
 * Reading: the output from the master, non-blocking until EAGAIN (a read that finds nothing
 * first waits for the bytes still in the driver's buffer, so nothing is left behind; a
 * packet-mode master is not read: its reads mix in status bytes). The input from the slave:
 * in canonical mode line by line (a read returns one line; 0 is an end-of-file, Ctrl-D, at
 * the start of a line), then the rest, a line not ended yet, with ICANON off for a moment.
 *
 * Putting back: the input goes through the slave's line discipline one byte at a time
 * (TIOCSTI: at once, unlike a write to the master, whose bytes the kernel takes in later; it
 * needs CAP_SYS_ADMIN, without which a checkpoint does not read the input at all),
 * with echo, signals, flow control and input translation off, so nothing is echoed or
 * translated twice; in canonical mode every byte of a line is escaped with LNEXT and the
 * line ended as it was (its newline or EOL character, or an EOF character), so each line
 * reads back as one, and a line not ended stays open. Then the output is written to the
 * slave with output processing (OPOST) off, and the terminal's modes are set again. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "proto.h"
#include "tty_queue.h"

static int grow(struct ttyq *q, size_t more)
{
	if (q->inlen + more > TTYQ_MAX)
		return errno = EFBIG, -1;
	return 0;
}

/* reads fd until EAGAIN into buf (cap bytes), appending at *len; `line`: one read is one line */
static int drain(int fd, unsigned char *buf, size_t *len, size_t cap, struct ttyq *lines)
{
	for (;;) {
		if (*len >= cap)
			return errno = EFBIG, -1;
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0 && !lines)
			return 0; /* a hung up or closed side */
		*len += (size_t)n;
		if (lines) {
			if (lines->nlines >= TTYQ_LINES)
				return errno = EFBIG, -1;
			lines->ends[lines->nlines++] = *len;
		}
	}
}

/* TIOCSTI on a terminal that is not the caller's controlling terminal needs CAP_SYS_ADMIN */
int ttyq_can_put_input(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	return (eff >> 21) & 1;
}

int ttyq_read(int m, int s, int pkt, int input, const struct termios *t, struct ttyq *q)
{
	memset(q, 0, sizeof *q);
	q->in = malloc(TTYQ_MAX);
	q->out = malloc(TTYQ_MAX);
	q->ends = malloc(TTYQ_LINES * sizeof *q->ends);
	if (!q->in || !q->out || !q->ends)
		return errno = ENOMEM, -1;
	/* the output is read only if it can be written back: not at a packet-mode master, nor
	 * while the slave cannot write (its output stopped, Ctrl-S, or the master's buffer full) */
	struct pollfd pw = { .fd = s, .events = POLLOUT };
	q->out_read = !pkt && poll(&pw, 1, 0) == 1 && (pw.revents & POLLOUT);
	int fl = fcntl(m, F_GETFL);
	if (q->out_read && (fl < 0 || fcntl(m, F_SETFL, fl | O_NONBLOCK) < 0))
		return -1;
	int r = q->out_read ? drain(m, q->out, &q->outlen, TTYQ_MAX, NULL) : 0;
	int e = errno;
	if (q->out_read)
		fcntl(m, F_SETFL, fl); /* the task's open file: its flags as they were */
	if (r < 0)
		return errno = e, -1;
	if (!input) /* it could not be put back */
		return 0;
	/* s is the helper's own open file (TIOCGPTPEER, O_NONBLOCK) */
	if ((t->c_lflag & ICANON) && drain(s, q->in, &q->inlen, TTYQ_MAX, q) < 0)
		return -1;
	struct termios raw = *t;
	raw.c_lflag &= ~(tcflag_t)ICANON;
	raw.c_cc[VMIN] = 1, raw.c_cc[VTIME] = 0;
	if (tcsetattr(s, TCSANOW, &raw) < 0)
		return -1;
	r = drain(s, q->in, &q->inlen, TTYQ_MAX, NULL);
	e = errno;
	if (tcsetattr(s, TCSANOW, t) < 0 || r < 0)
		return errno = r < 0 ? e : errno, -1;
	return 0;
}

static int sti(int s, unsigned char c)
{
	return ioctl(s, TIOCSTI, &c);
}

/* a byte that is none of the line ends: the LNEXT or EOF character while putting input back */
static unsigned char spare(const struct termios *w, unsigned char not)
{
	for (unsigned c = 1; c < 32; c++)
		if (c != '\n' && c != w->c_cc[VEOL] && c != w->c_cc[VEOL2] && c != w->c_cc[VSTART] && c != w->c_cc[VSTOP] && c != not)
			return (unsigned char)c;
	return 0x7f;
}

static int is_end(const struct termios *w, unsigned char c)
{
	return c == '\n' || (c && (c == w->c_cc[VEOL] || c == w->c_cc[VEOL2]));
}

int ttyq_write(int s, const struct termios *t, const struct ttyq *q)
{
	if (!q->inlen && !q->nlines && !q->outlen)
		return 0;
	int canon = (t->c_lflag & ICANON) != 0;
	struct termios w = *t;
	/* canonical mode keeps IXON and its characters (every byte it puts is escaped or none of
	 * them): a packet-mode master sees no change of flow control */
	w.c_iflag = canon ? t->c_iflag & IXON : 0;
	w.c_oflag &= ~(tcflag_t)OPOST;
	w.c_lflag = canon ? ICANON | IEXTEN : 0;
	memset(w.c_cc, 0, sizeof w.c_cc);
	w.c_cc[VMIN] = 1;
	if (canon) {
		w.c_cc[VSTART] = t->c_cc[VSTART];
		w.c_cc[VSTOP] = t->c_cc[VSTOP];
		w.c_cc[VEOL] = t->c_cc[VEOL];
		w.c_cc[VEOL2] = (t->c_lflag & IEXTEN) ? t->c_cc[VEOL2] : 0;
		w.c_cc[VLNEXT] = spare(&w, 0);
		w.c_cc[VEOF] = spare(&w, w.c_cc[VLNEXT]);
	}
	if (tcsetattr(s, TCSANOW, &w) < 0)
		return -1;
	int r = 0;
	size_t at = 0;
	for (int i = 0; i <= q->nlines && r == 0; i++) {
		size_t end = i < q->nlines ? q->ends[i] : q->inlen;
		int ended = i < q->nlines && end > at && is_end(&w, q->in[end - 1]);
		for (size_t k = at; k < end - (size_t)ended && r == 0; k++)
			r = (canon && sti(s, w.c_cc[VLNEXT]) < 0) || sti(s, q->in[k]) < 0 ? -1 : 0;
		if (r == 0 && i < q->nlines)
			r = sti(s, ended ? q->in[end - 1] : w.c_cc[VEOF]);
		at = end;
	}
	size_t done = 0;
	while (r == 0 && done < q->outlen) {
		ssize_t n = write(s, q->out + done, q->outlen - done);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			r = -1;
			if (n == 0)
				errno = EAGAIN;
		} else
			done += (size_t)n;
	}
	int e = errno;
	if (tcsetattr(s, TCSANOW, t) < 0 && r == 0)
		return -1;
	return r < 0 ? (errno = e, -1) : 0;
}

void ttyq_free(struct ttyq *q)
{
	free(q->in);
	free(q->out);
	free(q->ends);
	memset(q, 0, sizeof *q);
}

/* "hex,hex,...": each line ("z": empty, an end-of-file alone) */
char *ttyq_lines_text(const struct ttyq *q)
{
	size_t at = 0, cap = 2 * q->inlen + 2 * (size_t)q->nlines + 1, len = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = 0;
	for (int i = 0; i < q->nlines; i++) {
		size_t end = q->ends[i];
		char *h = end > at ? hex_dup(q->in + at, end - at) : strdup("z");
		if (!h) {
			free(s);
			return NULL;
		}
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "," : "", h);
		free(h);
		at = end;
	}
	return s;
}

/* a plan's queued bytes: lines (NULL: none) as ttyq_lines_text writes them, then partial */
int ttyq_parse(struct ttyq *q, const char *lines, const unsigned char *partial, size_t plen, const unsigned char *out, size_t olen)
{
	memset(q, 0, sizeof *q);
	q->in = malloc(TTYQ_MAX);
	q->ends = malloc(TTYQ_LINES * sizeof *q->ends);
	q->out = malloc(olen ? olen : 1);
	if (!q->in || !q->ends || !q->out)
		return errno = ENOMEM, -1;
	memcpy(q->out, out, olen);
	q->outlen = olen;
	for (const char *p = lines; p && *p;) {
		const char *c = strchr(p, ',');
		size_t hl = c ? (size_t)(c - p) : strlen(p);
		if (q->nlines >= TTYQ_LINES || hl == 0)
			return errno = EINVAL, -1;
		if (!(hl == 1 && *p == 'z')) {
			char tmp[2 * 4096 + 1];
			if (hl % 2 || hl >= sizeof tmp || grow(q, hl / 2) < 0)
				return errno = EINVAL, -1;
			memcpy(tmp, p, hl);
			tmp[hl] = 0;
			if (hex_decode(tmp, q->in + q->inlen, hl / 2) != (long)(hl / 2))
				return errno = EINVAL, -1;
			q->inlen += hl / 2;
		}
		q->ends[q->nlines++] = q->inlen;
		p = c ? c + 1 : p + hl;
	}
	if (grow(q, plen) < 0)
		return errno = EINVAL, -1;
	memcpy(q->in + q->inlen, partial, plen);
	q->inlen += plen;
	return 0;
}
