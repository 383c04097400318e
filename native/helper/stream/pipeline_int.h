/* What the two halves of the page-record pipeline share (pipeline.c): the messages between the
 * helper and the io process, the io process itself and the ring of slots. */
#ifndef UCR_PIPELINE_INT_H
#define UCR_PIPELINE_INT_H
#include <stdint.h>
#include <sys/types.h>

#include "pipeline.h"

struct pl_msg {
	int slot;
	int status; /* PR_* for the reader, an errno for the writer */
	uint64_t len;
	uint32_t crc;
	uint32_t pad;
	int op; /* writer: MSG_WRITE, MSG_ORDER (fill first), MSG_READ_FAILED (an order's reading) */
	uint32_t off; /* reader: where the record starts in the slot; a release: len is a count */
	struct pl_order order;
};
enum { MSG_WRITE, MSG_ORDER, MSG_READ_FAILED };

/* The io process and the helper's ends of its two pipes (-1: none). */
struct pl_io {
	pid_t pid;
	int to, from;
};
extern struct pl_io pl_io;

int pl_msg_read(int fd, struct pl_msg *m);
int pl_msg_write(int fd, const struct pl_msg *m);
/* The slots, shared with the io process (made before its fork). */
int pl_ring(void);
/* Forks the io process running body(fd, rd, wr); the helper keeps the other pipe ends. */
int pl_io_start(int fd, void (*body)(int fd, int rd, int wr));
/* The writer's half forgets what pl_stop ended (pipeline_writer.c). */
void pl_writer_stopped(void);
#endif
