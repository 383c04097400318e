/* Batched syscall injection (batch.c): a table of calls run by a loop in the gadget page, in
 * one ptrace stop. Layout of the gadget: `syscall; int3` at 0, the loop at BATCH_CODE_OFF; in
 * the scratch area, strings from the caller's offset up to BATCH_TABLE_OFF, then the table. */
#ifndef UCR_BATCH_H
#define UCR_BATCH_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tracee.h"

#define BATCH_CODE_OFF 16UL
#define BATCH_TABLE_OFF (32UL * 1024) /* in the scratch area */
#define BATCH_MAX 320                 /* entries: 320 * 72 bytes fit after the strings */

/* flags of an entry */
#define BATCH_A5_SAVED 1u  /* a5 (an mmap's fd) is the saved result */
#define BATCH_A1_SAVED 2u  /* a1 (a close's fd) is the saved result */
#define BATCH_SAVE 4u      /* this call's result becomes the saved result */
#define BATCH_MAYFAIL 8u   /* an error result does not stop the batch (a probe: F_GETFD of a slot) */

struct batch_call {
	uint64_t nr, a[6], flags, ret;
};

struct batch {
	struct batch_call calls[BATCH_MAX];
	int tags[BATCH_MAX]; /* the caller's note per entry (which object it is for) */
	int n, done;
	size_t str_off;
	uint64_t table; /* where the table went in the task (batch_start) */
};

/* The loop's machine code, copied into every gadget at BATCH_CODE_OFF. */
const unsigned char *batch_code(size_t *len);

void batch_init(struct batch *b, size_t strings_off);
int batch_add(struct batch *b, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
	      uint64_t a6, unsigned flags, int tag);
/* Whether calls_next more entries and a string of strlen_next bytes still fit. */
int batch_room(const struct batch *b, size_t strlen_next, int calls_next);
/* Runs the entries; b->done of them ran (results in calls[i].ret). -1: the task could not be
 * driven (errno). */
int batch_run(struct batch *b, struct tracee *t);
/* batch_run in two halves, so that many threads run their tables at once (each its own
 * table_off in the scratch area, b->n > 0): the table written and the thread resumed; then the
 * end waited for and the results read. */
int batch_start(struct batch *b, struct tracee *t, size_t table_off);
int batch_end(struct batch *b, struct tracee *t);
/* batch_end for a table of clone3 calls in a task traced with PTRACE_O_TRACECLONE: each thread
 * or process made stops the task at its PTRACE_EVENT_CLONE, whose id (in the tracer's pid
 * namespace) goes to born (at most max, in the order of the calls), and the task goes on. */
int batch_end_clones(struct batch *b, struct tracee *t, pid_t *born, int max, int *nborn);
/* Index of the entry that failed (an error result, or the first that did not run), or -1. */
int batch_failed(const struct batch *b);
/* The same on a table of the caller's own (n calls, a few per thread where many threads run
 * theirs at once; table: where batch_start_calls put it, done: how many ran). */
int batch_start_calls(const struct batch_call *calls, int n, struct tracee *t, size_t table_off, uint64_t *table);
int batch_end_calls(struct batch_call *calls, int n, uint64_t table, struct tracee *t, pid_t *born, int max, int *nborn, int *done);
int batch_failed_calls(const struct batch_call *calls, int n, int done);
#endif
