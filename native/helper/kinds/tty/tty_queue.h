/* Bytes queued in a pty pair (tty_queue.c): read and put back at checkpoint, put back at restart. */
#ifndef UCR_TTY_QUEUE_H
#define UCR_TTY_QUEUE_H
#include <stddef.h>

#define TTYQ_MAX (1 << 16) /* bytes each way (protocol/schema.mjs TTYQ) */
#define TTYQ_LINES 4096

struct termios;

struct ttyq {
	unsigned char *in; /* input: the complete lines one after another, then the line not ended */
	size_t inlen;
	size_t *ends;      /* where each complete line ends in `in` (an empty one: an EOF alone) */
	int nlines;
	unsigned char *out; /* output the master has not read */
	size_t outlen;
	int out_read;       /* the output was read (it could be written back) */
};

/* whether the helper may put input back (TIOCSTI needs CAP_SYS_ADMIN) */
int ttyq_can_put_input(void);
/* m: the master (a copy of the task's: its flags are put back), s: the helper's slave
 * (O_NONBLOCK), t: its modes; pkt: packet mode (the output is not read); input 0: the input
 * is not read */
int ttyq_read(int m, int s, int pkt, int input, const struct termios *t, struct ttyq *q);
/* puts q back through the slave s, whose modes are t (set again at the end) */
int ttyq_write(int s, const struct termios *t, const struct ttyq *q);
void ttyq_free(struct ttyq *q);
char *ttyq_lines_text(const struct ttyq *q);
int ttyq_parse(struct ttyq *q, const char *lines, const unsigned char *partial, size_t plen, const unsigned char *out, size_t olen);
#endif
