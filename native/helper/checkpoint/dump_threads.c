/* The per-thread part of a task's `state` (dump_state.c): every thread but the one the
 * helper works through. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ucr_compat.h"
#include "batch.h"
#include "dump.h"
#include "fault.h"
#include "helper.h"
#include "proto.h"

/* The other threads of the task, WAVE at a time: registers and mask as saved at the freeze,
 * xstate, rseq, name, and (injected into each thread, through the gadget the whole process
 * shares) its clear_child_tid address and alternate stack, then its signal state; one JSON
 * object each, appended to out, its registers and xstate (raw, "xlen" bytes of it) to bin. The threads of a wave run their injected calls at once (each its own
 * table and scratch slot, both calls in one stop), so a process of 2,000 threads waits for
 * 2,000 stops in parallel rather than one after the other. Every thread started is waited for, also after a failure. */
#define WAVE 256
#define SLOT 64 /* scratch bytes per thread: tid address at 0, stack_t at 8 */

struct wave_thread {
	struct tracee th;
	struct dthread *t;
	size_t xlen; /* of its xstate in the frame */
	char comm[40]; /* hex of /proc/PID/task/TID/comm, its newline left out */
	struct ucr_rseq_configuration rseq;
	long tidret, ret; /* of its prctl and sigaltstack */
	stack_t ss;
	uint64_t tidaddr;
};

/* Each thread's own calls, in one stop of every thread of the wave at once: its clear_child_tid
 * address (prctl PR_GET_TID_ADDRESS into its slot at 0; a failure leaves the address 0, as it
 * reads) and its alternate stack (sigaltstack into its slot at 8), from a table of its own after
 * the slots. The index of the first thread that could not be driven (errno set), or -1. */
#define WTABLE_OFF ((uint64_t)WAVE * SLOT)
static int wave_calls(struct wave_thread *w, int n)
{
	static struct batch_call calls[WAVE][2];
	static uint64_t table[WAVE];
	int started = 0, err = 0, bad = -1;
	for (; started < n; started++) {
		uint64_t slot = w[started].th.scratch + (uint64_t)started * SLOT;
		calls[started][0] = (struct batch_call){ .nr = SYS_prctl, .a = { PR_GET_TID_ADDRESS, slot }, .flags = BATCH_MAYFAIL };
		calls[started][1] = (struct batch_call){ .nr = SYS_sigaltstack, .a = { 0, slot + 8 } };
		if (batch_start_calls(calls[started], 2, &w[started].th, WTABLE_OFF + (uint64_t)started * sizeof calls[0], &table[started]) < 0) {
			err = errno, bad = started;
			break;
		}
	}
	for (int i = 0; i < started; i++) {
		int done;
		if (batch_end_calls(calls[i], 2, table[i], &w[i].th, NULL, 0, NULL, &done) < 0 || done != 2) {
			if (bad < 0 || i < bad)
				err = errno ? errno : EPROTO, bad = i;
			continue;
		}
		w[i].tidret = (long)calls[i][0].ret;
		w[i].ret = (long)calls[i][1].ret;
	}
	errno = err;
	return bad;
}

#define XMAX 16384
#define XKEEP 576 /* legacy area and XSAVE header */

static int wave_state(struct tracee *task, struct wave_thread *w, int n, struct sbuf *out, struct sbuf *bin)
{
	char obj[32], path[64], comm[20];
	static unsigned char xs[XMAX];
	uint64_t all = ~0ULL;
	for (int i = 0; i < n; i++) {
		pid_t tid = w[i].t->tid;
		snprintf(obj, sizeof obj, "thread %d", tid);
		size_t xlen = XMAX;
		if (t_get_xstate(tid, xs, &xlen) < 0)
			return proto_fail("state", obj, errno, errno == ESRCH ? "the thread exited during the checkpoint"
										: "PTRACE_GETREGSET NT_X86_XSTATE failed");
		/* the zeros at its end left out (unused AVX-512 and AMX state: most of 11 KB), never
		 * the legacy area and the XSAVE header (the image's threads[].xstate, format 1.5);
		 * the frame holds the threads in the order of their JSON objects */
		while (xlen > XKEEP && !xs[xlen - 1])
			xlen--;
		w[i].xlen = xlen;
		if (sb_bytes(bin, &w[i].th.regs, sizeof w[i].th.regs) < 0 || sb_bytes(bin, xs, xlen) < 0)
			return proto_fail("state", obj, ENOMEM, "out of memory");
		snprintf(path, sizeof path, "/proc/%d/task/%d/comm", task->pid, tid);
		ssize_t cn = proc_text(path, comm, sizeof comm);
		if (cn <= 0)
			return proto_fail("state", obj, cn < 0 ? errno : ESRCH, "the thread exited during the checkpoint");
		hex_encode(comm, (size_t)cn - (comm[cn - 1] == '\n'), w[i].comm);
		if (ptrace(UCR_PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof w[i].rseq, &w[i].rseq) < 0)
			memset(&w[i].rseq, 0, sizeof w[i].rseq);
		if (ptrace(PTRACE_SETSIGMASK, tid, (void *)8, &all) < 0)
			return proto_fail_sys("prctl", "state", obj, errno, "cannot run prctl in the thread");
	}
	int bad = wave_calls(w, n);
	if (bad >= 0) {
		snprintf(obj, sizeof obj, "thread %d", w[bad].t->tid);
		return proto_fail_sys("prctl", "state", obj, errno, "cannot run prctl and sigaltstack in the thread");
	}
	for (int i = 0; i < n; i++)
		if (w[i].tidret != 0) /* the address stays 0, as before */
			w[i].tidaddr = (uint64_t)-1;
	static unsigned char slots[WAVE * SLOT];
	if (t_read_mem(task->pid, task->scratch, slots, (size_t)n * SLOT) < 0)
		return dump_altstack_failed(w[0].t->tid);
	for (int i = 0; i < n; i++) {
		if (w[i].ret != 0)
			return dump_altstack_failed(w[i].t->tid);
		w[i].tidaddr = w[i].tidaddr == (uint64_t)-1 ? 0 : *(uint64_t *)(slots + (size_t)i * SLOT);
		memcpy(&w[i].ss, slots + (size_t)i * SLOT + 8, sizeof w[i].ss);
	}
	for (int i = 0; i < n; i++) {
		char *sig = NULL;
		if (dump_signal_state(&w[i].th, &w[i].ss, w[i].t, 0, &sig) < 0)
			return -1;
		size_t before = out->len;
		sb_add(out, "%s{\"tid\":%d,\"xlen\":%zu,\"comm\":\"%s\",\"sigmask\":\"0x%llx\","
		       "\"rseq\":[\"0x%llx\",%u,\"0x%x\",%u],\"tidaddr\":\"0x%llx\",%s}",
		       out->len > 1 ? "," : "", w[i].t->tid, w[i].xlen, w[i].comm, (unsigned long long)w[i].t->mask,
		       (unsigned long long)w[i].rseq.rseq_abi_pointer, w[i].rseq.rseq_abi_size, w[i].rseq.signature,
		       w[i].rseq.flags, (unsigned long long)w[i].tidaddr, sig);
		free(sig);
		if (out->len == before) {
			snprintf(obj, sizeof obj, "thread %d", w[i].t->tid);
			return proto_fail("state", obj, ENOMEM, "out of memory");
		}
	}
	return 0;
}

int dump_threads_state(struct tracee *task, struct dtask *cur, struct sbuf *out, struct sbuf *bin)
{
	static struct wave_thread w[WAVE];
	int done = 0;
	for (int k = 0; k < cur->nth;) {
		int n = 0;
		for (; k < cur->nth && n < WAVE; k++) {
			if (k == cur->main)
				continue;
			memset(&w[n], 0, sizeof w[n]);
			w[n].th = *task;
			w[n].th.pid = cur->th[k].tid;
			w[n].th.regs = cur->th[k].regs;
			w[n].t = &cur->th[k];
			n++;
		}
		if (!n)
			break;
		if (wave_state(task, w, n, out, bin) < 0)
			return -1;
		int before = done;
		done += n;
		if (before < cur->nth / 2 && done >= cur->nth / 2 && fault_at("state-thread", cur->tgid))
			return proto_fail("state", "threads", ECANCELED, FAULT_MSG);
	}
	return 0;
}
