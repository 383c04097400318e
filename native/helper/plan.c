#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static char *hex_string(const char *hex)
{
	size_t n = strlen(hex) / 2;
	char *s = malloc(n + 1);
	if (!s || hex_decode(hex, s, n) != (long)n || memchr(s, 0, n)) {
		free(s);
		return NULL;
	}
	s[n] = 0;
	return s;
}

#define NEED(cond)                                                                              \
	do {                                                                                    \
		if (!(cond))                                                                    \
			return proto_fail("plan", w[0], EINVAL, "bad plan line (%s)", #cond);   \
	} while (0)

static int u64s(char **w, int from, int count, uint64_t *out)
{
	for (int i = 0; i < count; i++)
		if (parse_u64(w[from + i], &out[i]))
			return -1;
	return 0;
}

static int add_fd(struct task_plan *p, char **w, int n)
{
	uint64_t v[5];
	struct fd_plan f = { .tmp = -1, .srcfd = -1, .group = -1 };
	NEED(n >= 4 && !parse_u64(w[1], v) && v[0] < (1u << 20));
	f.target = (int)v[0];
	if (!strcmp(w[2], "path")) {
		NEED(n == 8 && u64s(w, 4, 4, v + 1) == 0);
		f.kind = FD_PATH;
		NEED((f.path = hex_string(w[3])) != NULL);
		f.flags = (int)v[1];
		f.pos = v[2];
		f.cloexec = v[3] != 0;
		f.group = (int)v[4];
	} else {
		NEED(!strcmp(w[2], "inherit") && n == 5 && u64s(w, 3, 2, v + 1) == 0);
		f.kind = FD_INHERIT;
		f.srcfd = (int)v[1];
		f.cloexec = v[2] != 0;
	}
	p->fds = realloc(p->fds, (size_t)(p->nfds + 1) * sizeof *p->fds);
	NEED(p->fds != NULL);
	p->fds[p->nfds++] = f;
	return 0;
}

static int add_vma(struct task_plan *p, char **w, int n)
{
	uint64_t v[7];
	NEED(n == 9 && u64s(w, 1, 7, v) == 0 && v[0] < v[1] && !(v[0] % PAGE_SZ) && !(v[1] % PAGE_SZ));
	struct vma_plan m = { .start = v[0], .end = v[1], .prot = (int)v[2], .flags = (int)v[3],
			      .pgoff = v[4], .fill = v[5] != 0, .madv = (unsigned)v[6] };
	if (strcmp(w[8], "-"))
		NEED((m.path = hex_string(w[8])) != NULL);
	p->vmas = realloc(p->vmas, (size_t)(p->nvmas + 1) * sizeof *p->vmas);
	NEED(p->vmas != NULL);
	p->vmas[p->nvmas++] = m;
	return 0;
}

static int add_run(struct task_plan *p, char **w, int n)
{
	static size_t cap;
	uint64_t v[3];
	NEED(n == 4 && u64s(w, 1, 3, v) == 0 && v[2] > 0);
	if (p->nruns == cap) {
		cap = cap * 2 + 256;
		p->runs = realloc(p->runs, cap * sizeof *p->runs);
		NEED(p->runs != NULL);
	}
	p->runs[p->nruns++] = (struct page_run){ .task = (uint32_t)v[0], .addr = v[1], .npages = v[2] };
	return 0;
}

int plan_read(struct task_plan *p)
{
	memset(p, 0, sizeof *p);
	p->pid_wait_ms = 5000;
	p->umask = 022;
	char *line, *w[16];
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 16);
		if (n == 0)
			continue;
		uint64_t v[11];
		const char *k = w[0];
		if (!strcmp(k, "end"))
			return 0;
		if (!strcmp(k, "task")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] > 0 && v[0] < (1u << 22));
			p->pid = (pid_t)v[0];
		} else if (!strcmp(k, "pidwait")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] < 3600000);
			p->pid_wait_ms = (int)v[0];
		} else if (!strcmp(k, "spool")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
			p->spool = (int)v[0];
		} else if (!strcmp(k, "seed")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 0xffffffffu);
			p->seed = (uint32_t)v[0];
		} else if (!strcmp(k, "cwd")) {
			NEED(n == 2 && (p->cwd = hex_string(w[1])) != NULL);
		} else if (!strcmp(k, "exe")) {
			NEED(n == 2 && (p->exe = hex_string(w[1])) != NULL);
		} else if (!strcmp(k, "umask")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 0777);
			p->umask = (int)v[0];
		} else if (!strcmp(k, "comm")) {
			NEED(n == 2 && hex_decode(w[1], p->comm, 16) >= 0);
		} else if (!strcmp(k, "pdeathsig")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 64);
			p->pdeathsig = (int)v[0];
		} else if (!strcmp(k, "auxv")) {
			long len = n == 2 ? hex_decode(w[1], p->auxv, sizeof p->auxv) : -1;
			NEED(len >= 0);
			p->auxv_len = (size_t)len;
		} else if (!strcmp(k, "fd")) {
			if (add_fd(p, w, n) < 0)
				return -1;
		} else if (!strcmp(k, "vma")) {
			if (add_vma(p, w, n) < 0)
				return -1;
		} else if (!strcmp(k, "run")) {
			if (add_run(p, w, n) < 0)
				return -1;
		} else if (!strcmp(k, "vdso")) {
			NEED(n == 3 && u64s(w, 1, 2, v) == 0);
			p->vvar_start = v[0];
			p->vdso_start = v[1];
		} else if (!strcmp(k, "mm")) {
			NEED(n == 12 && u64s(w, 1, 11, v) == 0);
			struct ucr_prctl_mm_map *m = &p->mm;
			m->start_code = v[0], m->end_code = v[1], m->start_data = v[2], m->end_data = v[3];
			m->start_brk = v[4], m->brk = v[5], m->start_stack = v[6];
			m->arg_start = v[7], m->arg_end = v[8], m->env_start = v[9], m->env_end = v[10];
			p->have_mm = 1;
		} else if (!strcmp(k, "rseq")) {
			NEED(n == 4 && u64s(w, 1, 3, v) == 0 && v[1] < 4096);
			p->rseq_ptr = v[0];
			p->rseq_len = (uint32_t)v[1];
			p->rseq_sig = v[2];
		} else if (!strcmp(k, "sigmask")) {
			NEED(n == 2 && !parse_u64(w[1], v));
			p->sigmask = v[0];
		} else if (!strcmp(k, "sigaction")) {
			NEED(n == 6 && u64s(w, 1, 5, v) == 0 && v[0] >= 1 && v[0] <= 64);
			p->act[v[0]] = (struct sigact_plan){ 1, v[1], v[2], v[3], v[4] };
		} else if (!strcmp(k, "rlimit")) {
			NEED(n == 4 && u64s(w, 1, 3, v) == 0 && v[0] < 16);
			p->rlim[v[0]] = (struct rlimit_plan){ 1, v[1], v[2] };
		} else if (!strcmp(k, "regs")) {
			NEED(n == 2 && hex_decode(w[1], &p->regs, sizeof p->regs) == (long)sizeof p->regs);
			p->have_regs = 1;
		} else if (!strcmp(k, "xstate")) {
			long len = n == 2 ? hex_decode(w[1], p->xstate, sizeof p->xstate) : -1;
			NEED(len > 0);
			p->xstate_len = (size_t)len;
		} else {
			return proto_fail("plan", k, EINVAL, "unknown plan line");
		}
	}
	return proto_fail("plan", "end", EPIPE, "the plan ended early");
}
