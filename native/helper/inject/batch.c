/* Batched syscall injection: many system calls in one ptrace stop.
 *
 * The gadget page holds, after `syscall; int3`, a small loop (below, position independent)
 * that runs a table of calls placed in the scratch area: for each entry it loads the number
 * and six arguments, optionally takes an argument from the result of an earlier call (the fd
 * of an `open`, kept in r13), runs `syscall`, stores the result, and stops at the first error
 * (-4095..-1; not at an entry flagged BATCH_MAYFAIL) or after the last entry with `int3`. The
 * tracer reads the results back. This is the same set of calls the one-by-one injection made,
 * in the same order, from the same task: only the ptrace round trips (tens of microseconds
 * each) are gone. */
#define _GNU_SOURCE
#include "arch.h"
#include "batch.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

/* rbx: table, r12: entries left, r13: the saved result. Entry: nr, a1..a6, flags, ret. */
__asm__(".pushsection .rodata\n"
	".globl ucr_batch_code\n"
	"ucr_batch_code:\n"
	"1:\n"
	"  mov (%rbx), %rax\n"
	"  mov 8(%rbx), %rdi\n"
	"  mov 16(%rbx), %rsi\n"
	"  mov 24(%rbx), %rdx\n"
	"  mov 32(%rbx), %r10\n"
	"  mov 40(%rbx), %r8\n"
	"  mov 48(%rbx), %r9\n"
	"  testb $1, 56(%rbx)\n"
	"  jz 2f\n"
	"  mov %r13, %r8\n"
	"2:\n"
	"  testb $2, 56(%rbx)\n"
	"  jz 3f\n"
	"  mov %r13, %rdi\n"
	"3:\n"
	"  syscall\n"
	"  mov %rax, 64(%rbx)\n"
	"  testb $4, 56(%rbx)\n"
	"  jz 4f\n"
	"  mov %rax, %r13\n"
	"4:\n"
	"  cmp $-4095, %rax\n"
	"  jb 6f\n"
	"  testb $8, 56(%rbx)\n"
	"  jz 5f\n"
	"6:\n"
	"  add $72, %rbx\n"
	"  dec %r12\n"
	"  jnz 1b\n"
	"5:\n"
	"  int3\n"
	".globl ucr_batch_code_end\n"
	"ucr_batch_code_end:\n"
	".popsection\n");

extern const unsigned char ucr_batch_code[], ucr_batch_code_end[];

const unsigned char *batch_code(size_t *len)
{
	*len = (size_t)(ucr_batch_code_end - ucr_batch_code);
	return ucr_batch_code;
}

void batch_init(struct batch *b, size_t strings_off)
{
	/* the header only: no entry past n is ever read (the table is 23 KB) */
	b->n = 0, b->done = 0;
	b->str_off = strings_off;
	b->table = 0;
}

int batch_add(struct batch *b, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
	      uint64_t a6, unsigned flags, int tag)
{
	if (b->n == BATCH_MAX) {
		errno = E2BIG;
		return -1;
	}
	b->calls[b->n] = (struct batch_call){ .nr = (uint64_t)nr, .a = { a1, a2, a3, a4, a5, a6 }, .flags = flags };
	b->tags[b->n] = tag;
	b->n++;
	return 0;
}

int batch_room(const struct batch *b, size_t strlen_next, int calls_next)
{
	return b->n + calls_next <= BATCH_MAX && b->str_off + strlen_next + 1 <= BATCH_TABLE_OFF;
}

int batch_start_calls(const struct batch_call *calls, int n, struct tracee *t, size_t table_off, uint64_t *table)
{
	*table = t_scratch_put(t, table_off, calls, (size_t)n * sizeof calls[0]);
	if (!*table)
		return -1;
	struct user_regs_struct r = t->regs;
	r.rip = t->gadget + BATCH_CODE_OFF;
	r.orig_rax = (uint64_t)-1;
	r.rbx = *table;
	r.r12 = (uint64_t)n;
	r.r13 = (uint64_t)-1;
	if (t_set_regs(t->pid, &r) < 0)
		return -1;
	return (int)ptrace(PTRACE_CONT, t->pid, 0, 0);
}

int batch_start(struct batch *b, struct tracee *t, size_t table_off)
{
	b->done = 0;
	return batch_start_calls(b->calls, b->n, t, table_off, &b->table);
}

int batch_end(struct batch *b, struct tracee *t)
{
	return batch_end_clones(b, t, NULL, 0, NULL);
}

int batch_end_clones(struct batch *b, struct tracee *t, pid_t *born, int max, int *nborn)
{
	return batch_end_calls(b->calls, b->n, b->table, t, born, max, nborn, &b->done);
}

int batch_end_calls(struct batch_call *calls, int n, uint64_t table, struct tracee *t, pid_t *born, int max, int *nborn, int *done)
{
	int st;
	struct user_regs_struct r;
	*done = 0;
	if (nborn)
		*nborn = 0;
	for (int i = 0;;) {
		if (t_wait(t->pid, &st) < 0)
			return -1;
		if (born && WIFSTOPPED(st) && (st >> 8) == (SIGTRAP | (PTRACE_EVENT_CLONE << 8))) {
			/* a clone3 of the table made a thread (attached, stopped before it runs): its
			 * id as the tracer sees it, then the loop goes on */
			unsigned long msg = 0;
			if (*nborn == max || ptrace(PTRACE_GETEVENTMSG, t->pid, 0, &msg) < 0) {
				errno = EPROTO;
				return -1;
			}
			born[(*nborn)++] = (pid_t)msg;
		} else if (!(WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP) || i++ == 16) {
			break; /* a group-stop report of a stopped task comes first: skipped */
		}
		if (ptrace(PTRACE_CONT, t->pid, 0, 0) < 0)
			return -1;
	}
	size_t code_len;
	batch_code(&code_len);
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP || (st >> 16) != 0 || t_get_regs(t->pid, &r) < 0 ||
	    r.rip != t->gadget + BATCH_CODE_OFF + code_len) {
		errno = EPROTO;
		return -1;
	}
	size_t ran = (size_t)(r.rbx - table) / sizeof calls[0];
	if (ran < (size_t)n)
		ran++; /* stopped at an error: that entry ran too */
	if (ran > (size_t)n || t_read_mem(t->pid, table, calls, ran * sizeof calls[0]) < 0) {
		errno = EPROTO;
		return -1;
	}
	*done = (int)ran;
	return 0;
}

int batch_run(struct batch *b, struct tracee *t)
{
	b->done = 0;
	if (!b->n)
		return 0;
	return batch_start(b, t, BATCH_TABLE_OFF) < 0 ? -1 : batch_end(b, t);
}

int batch_failed(const struct batch *b)
{
	return batch_failed_calls(b->calls, b->n, b->done);
}

int batch_failed_calls(const struct batch_call *calls, int n, int done)
{
	for (int i = 0; i < done; i++) {
		long r = (long)calls[i].ret;
		if (SYSCALL_FAILED(r))
			return i;
	}
	return done < n ? done : -1;
}
