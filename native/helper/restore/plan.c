#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_parse.h"
#include "proto.h"

char *plan_hex_string(const char *hex)
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

int plan_u64s(char **w, int from, int count, uint64_t *out)
{
	for (int i = 0; i < count; i++)
		if (parse_u64(w[from + i], &out[i]))
			return -1;
	return 0;
}

int plan_find_file(const struct plan *p, int id)
{
	for (int i = 0; i < p->nfiles; i++)
		if (p->files[i].id == id)
			return i;
	return -1;
}

static int add_fd(struct plan *p, struct task_plan *t, char **w, int n)
{
	uint64_t v[3];
	NEED(n == 4 && plan_u64s(w, 1, 3, v) == 0 && v[0] < (1u << 20));
	int f = plan_find_file(p, (int)v[1]);
	NEED(f >= 0);
	struct fd_plan *fd = GROW(t->fds, t->nfds);
	NEED(fd != NULL);
	*fd = (struct fd_plan){ .target = (int)v[0], .file = f, .cloexec = v[2] != 0 };
	return 0;
}

static int add_vma(struct plan *p, struct task_plan *t, char **w, int n)
{
	uint64_t v[7];
	NEED((n == 9 || n == 10) && plan_u64s(w, 1, 7, v) == 0 && v[0] < v[1] && !(v[0] % PAGE_SZ) &&
	     !(v[1] % PAGE_SZ));
	uint64_t obj = 0;
	NEED(n == 9 || (!parse_u64(w[9], &obj) && plan_find_obj(p, (int)obj) >= 0 &&
			p->objs[plan_find_obj(p, (int)obj)].kind != OBJ_DIR));
	struct vma_plan *m = GROW(t->vmas, t->nvmas);
	NEED(m != NULL);
	*m = (struct vma_plan){ .start = v[0], .end = v[1], .prot = (int)v[2], .flags = (int)v[3],
				.pgoff = v[4], .fill = v[5] != 0, .madv = (unsigned)v[6],
				.obj = n == 10 ? plan_find_obj(p, (int)obj) : -1, .fd = -1 };
	if (strcmp(w[8], "-"))
		NEED((m->path = plan_hex_string(w[8])) != NULL);
	return 0;
}

/* shmat <start> <end> <prot> <image id> <shmflg> <madv> */
static int add_shmat(struct task_plan *t, char **w, int n)
{
	uint64_t v[6];
	NEED(n == 7 && plan_u64s(w, 1, 6, v) == 0 && v[0] < v[1] && !(v[0] % PAGE_SZ) && !(v[1] % PAGE_SZ) &&
	     v[2] <= 7 && v[3] <= 0x7fffffff && v[4] <= 0x7fffffff);
	struct vma_plan *m = GROW(t->vmas, t->nvmas);
	NEED(m != NULL);
	*m = (struct vma_plan){ .start = v[0], .end = v[1], .prot = (int)v[2], .is_shm = 1, .shmid = (int)v[3],
				.shmflg = (int)v[4], .madv = (unsigned)v[5], .obj = -1, .fd = -1 };
	return 0;
}

static int add_run(struct plan *p, char **w, int n)
{
	static size_t cap;
	uint64_t v[3];
	int obj = !strcmp(w[0], "objrun"); /* objrun <object id> <byte offset> <npages> */
	NEED(n == 4 && plan_u64s(w, 1, 3, v) == 0 && v[2] > 0 &&
	     (obj ? plan_find_obj(p, (int)v[0]) >= 0 && !(v[1] % PAGE_SZ) : v[0] < (uint64_t)p->ntasks));
	NEED(!obj || p->objs[plan_find_obj(p, (int)v[0])].kind != OBJ_DIR);
	if (p->nruns == cap) {
		cap = cap * 2 + 256;
		p->runs = realloc(p->runs, cap * sizeof *p->runs);
		NEED(p->runs != NULL);
	}
	p->runs[p->nruns++] = (struct page_run){ .task = (uint32_t)v[0], .obj = (uint32_t)obj, .addr = v[1], .npages = v[2] };
	return 0;
}

static int add_act(struct plan *p, char **w, int n)
{
	static const struct { const char *name; enum act_op op; int words; } ops[] = {
		{ "clone", ACT_CLONE, 4 }, { "setsid", ACT_SETSID, 3 }, { "setpgid", ACT_SETPGID, 4 },
		{ "exit", ACT_EXIT, 3 },   { "reap", ACT_REAP, 4 }, { "ctty", ACT_CTTY, 4 },
		{ "tcpgrp", ACT_TCPGRP, 4 }, { "clonep", ACT_CLONE, 4 },
	};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if (strcmp(w[1], ops[i].name))
			continue;
		int64_t a = -1, b = -1;
		NEED(n == ops[i].words && !parse_i64(w[2], ops[i].op == ACT_CLONE ? &b : &a));
		int sibling = !strcmp(w[1], "clonep");
		if (ops[i].op == ACT_CLONE)
			NEED(!parse_i64(w[3], &a));
		else if (n == 4)
			NEED(!parse_i64(w[3], &b));
		if (ops[i].op == ACT_CTTY) { /* b: a pty index, kept by the task (its controlling terminal) */
			NEED(a >= 0 && a < p->ntasks && (b = plan_find_tty(p, (int)b)) >= 0);
			p->tasks[a].ctty = (int)b;
		}
		if (ops[i].op == ACT_TCPGRP)
			NEED(a >= 0 && a < p->ntasks && p->tasks[a].ctty >= 0);
		NEED(a >= 0 && a < p->ntasks && b >= -1 && b < p->ntasks);
		struct act_plan *ap = GROW(p->acts, p->nacts);
		NEED(ap != NULL);
		NEED(!sibling || b >= 0);
		*ap = (struct act_plan){ .op = ops[i].op, .task = (int)a, .arg = (int)b, .sibling = sibling };
		return 0;
	}
	return proto_fail("plan", w[1], EINVAL, "unknown action");
}

/* hex of whole 128-byte siginfos, or "-": appended to the list (a long queue spans lines) */
static int siginfos(const char *hex, unsigned char **out, size_t *count)
{
	if (!strcmp(hex, "-"))
		return 0;
	size_t len = strlen(hex) / 2;
	if (len % 128 || *count + len / 128 > MAX_PENDING)
		return -1;
	unsigned char *more = realloc(*out, *count * 128 + len);
	if (!more)
		return -1;
	*out = more;
	if (hex_decode(hex, *out + *count * 128, len) != (long)len)
		return -1;
	*count += len / 128;
	return 0;
}

static int task_line(struct plan *p, struct task_plan *t, char **w, int n)
{
	uint64_t v[11];
	const char *k = w[0];
	if (!strcmp(k, "leaderexit")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
		t->leader_exit = (int)v[0];
	} else if (!strcmp(k, "newns")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
		t->newns = (int)v[0];
	} else if (!strcmp(k, "cwd")) {
		NEED(n == 2 && (t->cwd = plan_hex_string(w[1])) != NULL);
	} else if (!strcmp(k, "cwdobj")) {
		int o = -1;
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] < (1u << 30) && (o = plan_find_obj(p, (int)v[0])) >= 0 &&
		     p->objs[o].kind == OBJ_DIR && t->cwd);
		t->cwd_obj = o + 1;
	} else if (!strcmp(k, "exe")) {
		NEED(n == 2 && (t->exe = plan_hex_string(w[1])) != NULL);
	} else if (!strcmp(k, "umask")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 0777);
		t->umask = (int)v[0];
	} else if (!strcmp(k, "comm")) {
		NEED(n == 2 && hex_decode(w[1], t->comm, 16) >= 0);
	} else if (!strcmp(k, "pdeathsig")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 64);
		t->pdeathsig = (int)v[0];
	} else if (!strcmp(k, "creds")) {
		NEED(n == 10 && plan_u64s(w, 1, 8, v) == 0);
		for (int i = 0; i < 4; i++) {
			NEED(v[i] <= 0xffffffffu && v[4 + i] <= 0xffffffffu);
			t->uid[i] = (uint32_t)v[i];
			t->gid[i] = (uint32_t)v[4 + i];
		}
		t->ngroups = 0;
		if (strcmp(w[9], "-")) {
			char *save = NULL;
			for (char *g = strtok_r(w[9], ",", &save); g; g = strtok_r(NULL, ",", &save)) {
				uint64_t gv;
				NEED(t->ngroups < 64 && !parse_u64(g, &gv) && gv <= 0xffffffffu);
				t->groups[t->ngroups++] = (uint32_t)gv;
			}
		}
		t->have_creds = 1;
	} else if (!strcmp(k, "caps")) {
		NEED(n == 6 && plan_u64s(w, 1, 5, v) == 0);
		t->cap_inh = v[0], t->cap_prm = v[1], t->cap_eff = v[2], t->cap_bnd = v[3], t->cap_amb = v[4];
		t->have_caps = 1;
	} else if (!strcmp(k, "dumpable")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 2);
		t->dumpable = (int)v[0];
	} else if (!strcmp(k, "tidaddr")) {
		NEED(n == 2 && !parse_u64(w[1], &t->tidaddr));
	} else if (!strcmp(k, "auxv")) {
		long len = n == 2 ? hex_decode(w[1], t->auxv, sizeof t->auxv) : -1;
		NEED(len >= 0);
		t->auxv_len = (size_t)len;
	} else if (!strcmp(k, "fd")) {
		return add_fd(p, t, w, n);
	} else if (!strcmp(k, "plock")) {
		NEED(n == 5 && plan_u64s(w, 1, 4, v) == 0 && v[0] < (1u << 20) && v[1] <= 1 && v[2] <= INT64_MAX && v[3] <= INT64_MAX);
		struct plock_plan *l = GROW(t->plocks, t->nplocks);
		NEED(l != NULL);
		*l = (struct plock_plan){ (int)v[0], (int)v[1], v[2], v[3] };
	} else if (!strcmp(k, "epctl")) {
		NEED(n == 5 && plan_u64s(w, 1, 4, v) == 0 && v[0] < (1u << 20) && v[1] < (1u << 20) && v[2] <= 0xffffffffu);
		struct epctl_plan *e = GROW(t->epctls, t->nepctls);
		NEED(e != NULL);
		*e = (struct epctl_plan){ (int)v[0], (int)v[1], (uint32_t)v[2], v[3], -1, -1 };
	} else if (!strcmp(k, "epghost")) {
		NEED(n == 6 && plan_u64s(w, 1, 5, v) == 0 && v[1] < (1u << 20) && v[3] <= 0xffffffffu);
		int ep = plan_find_file(p, (int)v[0]), tf = plan_find_file(p, (int)v[2]);
		NEED(v[0] < (1u << 30) && v[2] < (1u << 30) && ep >= 0 && tf >= 0 && ep != tf && p->files[ep].kind == FILE_EPOLL);
		struct epctl_plan *e = GROW(t->epctls, t->nepctls);
		NEED(e != NULL);
		*e = (struct epctl_plan){ -1, (int)v[1], (uint32_t)v[3], v[4], ep, tf };
	} else if (!strcmp(k, "vma")) {
		return add_vma(p, t, w, n);
	} else if (!strcmp(k, "shmat")) {
		return add_shmat(t, w, n);
	} else if (!strcmp(k, "vdso")) {
		NEED(n == 3 && plan_u64s(w, 1, 2, v) == 0);
		t->vvar_start = v[0];
		t->vdso_start = v[1];
	} else if (!strcmp(k, "mm")) {
		NEED(n == 12 && plan_u64s(w, 1, 11, v) == 0);
		struct ucr_prctl_mm_map *m = &t->mm;
		m->start_code = v[0], m->end_code = v[1], m->start_data = v[2], m->end_data = v[3];
		m->start_brk = v[4], m->brk = v[5], m->start_stack = v[6];
		m->arg_start = v[7], m->arg_end = v[8], m->env_start = v[9], m->env_end = v[10];
		t->have_mm = 1;
	} else if (!strcmp(k, "rseq")) {
		NEED(n == 4 && plan_u64s(w, 1, 3, v) == 0 && v[1] < 4096);
		t->rseq_ptr = v[0];
		t->rseq_len = (uint32_t)v[1];
		t->rseq_sig = v[2];
	} else if (!strcmp(k, "sigmask")) {
		NEED(n == 2 && !parse_u64(w[1], v));
		t->sigmask = v[0];
	} else if (!strcmp(k, "sigaction")) {
		NEED(n == 6 && plan_u64s(w, 1, 5, v) == 0 && v[0] >= 1 && v[0] <= 64);
		t->act[v[0]] = (struct sigact_plan){ 1, v[1], v[2], v[3], v[4] };
	} else if (!strcmp(k, "rlimit")) {
		NEED(n == 4 && plan_u64s(w, 1, 3, v) == 0 && v[0] < 16);
		t->rlim[v[0]] = (struct rlimit_plan){ 1, v[1], v[2] };
	} else if (!strcmp(k, "regs")) {
		NEED(n == 2 && hex_decode(w[1], &t->regs, sizeof t->regs) == (long)sizeof t->regs);
		t->have_regs = 1;
	} else if (!strcmp(k, "thread")) {
		NEED(n == 14 && !parse_u64(w[1], v) && v[0] > 0 && v[0] < (1u << 22));
		struct thread_plan *th = GROW(t->threads, t->nthreads);
		NEED(th != NULL);
		th->tid = (pid_t)v[0];
		NEED(hex_decode(w[2], &th->regs, sizeof th->regs) == (long)sizeof th->regs);
		size_t len = strlen(w[3]) / 2;
		NEED(len > 0 && len <= 65536 && (th->xstate = malloc(len)) != NULL && hex_decode(w[3], th->xstate, len) == (long)len);
		th->xstate_len = len;
		NEED(plan_u64s(w, 4, 5, v) == 0 && v[2] < 4096);
		th->sigmask = v[0];
		th->rseq_ptr = v[1];
		th->rseq_len = (uint32_t)v[2];
		th->rseq_sig = v[3];
		th->tidaddr = v[4];
		NEED(plan_u64s(w, 9, 3, v) == 0 && siginfos(w[12], &th->sig.pending, &th->sig.npending) == 0);
		th->sig.alt_sp = v[0];
		th->sig.alt_flags = (int)v[1];
		th->sig.alt_size = v[2];
		NEED(hex_decode(w[13], th->comm, 16) >= 0);
	} else if (!strcmp(k, "altstack")) {
		NEED(n == 4 && plan_u64s(w, 1, 3, v) == 0);
		t->sig.alt_sp = v[0];
		t->sig.alt_flags = (int)v[1];
		t->sig.alt_size = v[2];
	} else if (!strcmp(k, "robust") || !strcmp(k, "throbust")) {
		struct sigstate *ss = k[0] == 'r' ? &t->sig : t->nthreads ? &t->threads[t->nthreads - 1].sig : NULL;
		NEED(n == 3 && ss && plan_u64s(w, 1, 2, v) == 0 && v[1] == 24);
		ss->robust_head = v[0];
		ss->robust_len = v[1];
	} else if (!strcmp(k, "thpending")) {
		NEED(n == 2 && t->nthreads > 0 && siginfos(w[1], &t->threads[t->nthreads - 1].sig.pending, &t->threads[t->nthreads - 1].sig.npending) == 0);
	} else if (!strcmp(k, "pending")) {
		NEED(n == 2 && siginfos(w[1], &t->sig.pending, &t->sig.npending) == 0);
	} else if (!strcmp(k, "shpending")) {
		NEED(n == 2 && siginfos(w[1], &t->shpending, &t->nshpending) == 0);
	} else if (!strcmp(k, "itimer")) {
		NEED(n == 6 && plan_u64s(w, 1, 5, v) == 0 && v[0] < 3);
		for (int i = 0; i < 4; i++)
			t->itimer[v[0]][i] = (long)v[1 + i];
	} else if (!strcmp(k, "ptimer")) {
		NEED(n == 11 && plan_u64s(w, 1, 10, v) == 0 && v[0] <= 0x7fffffff && v[1] < 16 && v[3] <= 64);
		struct ptimer_plan *pt = GROW(t->ptimers, t->nptimers);
		NEED(pt != NULL);
		*pt = (struct ptimer_plan){ .id = (int)v[0], .clock = (int)v[1], .notify = (int)v[2], .signo = (int)v[3],
					    .sigval = v[4], .tid = (int)v[5] };
		for (int i = 0; i < 4; i++)
			pt->its[i] = (long)v[6 + i];
	} else if (!strcmp(k, "subreaper")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
		t->subreaper = (int)v[0];
	} else if (!strcmp(k, "nonewprivs")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
		t->nonewprivs = (int)v[0];
	} else if (!strcmp(k, "personality")) {
		NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 0xffffffffu);
		t->personality = (long)v[0];
	} else if (!strcmp(k, "sched") || !strcmp(k, "attrs")) {
		return plan_attrs_line(t, w, n);
	} else if (!strcmp(k, "xstate")) {
		size_t len = strlen(w[1]) / 2;
		NEED(n == 2 && len > 0 && len <= 65536 && (t->xstate = malloc(len)) != NULL &&
		     hex_decode(w[1], t->xstate, len) == (long)len);
		t->xstate_len = len;
	} else {
		return proto_fail("plan", k, EINVAL, "unknown plan line");
	}
	return 0;
}

int plan_read(struct plan *p)
{
	memset(p, 0, sizeof *p);
	p->pid_wait_ms = 5000;
	p->workers = 1;
	struct task_plan *t = NULL;
	char *line, *w[32];
	while ((line = proto_readline())) {
		int n = proto_split(line, w, 32);
		if (n == 0)
			continue;
		uint64_t v[6];
		const char *k = w[0];
		int r = 0;
		if (!strcmp(k, "end"))
			return p->ntasks ? 0 : proto_fail("plan", "task", EINVAL, "the plan has no task");
		if (!strcmp(k, "pidwait")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] < 3600000);
			p->pid_wait_ms = (int)v[0];
		} else if (!strcmp(k, "seed")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 0xffffffffu);
			p->seed = (uint32_t)v[0];
		} else if (!strcmp(k, "workers")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] >= 1 && v[0] <= 64);
			p->workers = (int)v[0];
		} else if (!strcmp(k, "pidns")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
			p->pidns = (int)v[0];
		} else if (!strcmp(k, "foreground")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
			p->foreground = (int)v[0];
		} else if (!strcmp(k, "lz4")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
			p->lz4 = (int)v[0];
		} else if (!strcmp(k, "trusted")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
			p->trusted = (int)v[0];
		} else if (!strcmp(k, "spool")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
			p->spool = (int)v[0];
		} else if (!strcmp(k, "file")) {
			r = plan_add_file(p, w, n);
		} else if (!strcmp(k, "pipe")) {
			r = plan_add_pipe(p, w, n);
		} else if (!strcmp(k, "skipmem")) {
			int64_t task;
			NEED(n == 4 && !parse_i64(w[1], &task) && task >= -1 && task < (1 << 22) && plan_u64s(w, 2, 2, v) == 0 && v[0] < v[1]);
			struct skip_range *s = GROW(p->skips, p->nskips);
			NEED(s != NULL);
			*s = (struct skip_range){ task, v[0], v[1] };
		} else if (!strcmp(k, "tty")) {
			r = plan_add_tty(p, w, n);
		} else if (!strcmp(k, "ttymodes")) {
			r = plan_add_ttymodes(p, w, n);
		} else if (!strcmp(k, "flock")) {
			r = plan_add_flock(p, w, n);
		} else if (!strcmp(k, "sockopts")) {
			r = plan_add_sockopts(p, w, n);
		} else if (!strcmp(k, "fown")) {
			r = plan_add_fown(p, w, n);
		} else if (!strcmp(k, "inwatch")) {
			r = plan_add_inwatch(p, w, n);
		} else if (!strcmp(k, "obj")) {
			r = plan_add_obj(p, w, n);
		} else if (!strcmp(k, "ipcns")) {
			NEED(n == 2 && !parse_u64(w[1], v) && v[0] <= 1);
			p->ipcns = (int)v[0];
		} else if (!strcmp(k, "shm") || !strcmp(k, "sem") || !strcmp(k, "msg")) {
			r = plan_add_ipc(p, w, n);
		} else if (!strcmp(k, "run") || !strcmp(k, "objrun")) {
			r = add_run(p, w, n);
		} else if (!strcmp(k, "act")) {
			NEED(n >= 3);
			r = add_act(p, w, n);
		} else if (!strcmp(k, "task")) {
			NEED(n == 7 && plan_u64s(w, 1, 6, v) == 0 && v[0] == (uint64_t)p->ntasks && v[2] < (1u << 22) &&
			     v[3] <= 3 && v[5] <= 1);
			t = GROW(p->tasks, p->ntasks);
			NEED(t != NULL);
			t->old_pid = (pid_t)v[1];
			t->ctty = -1;
			t->want_pid = (pid_t)v[2];
			t->kind = (enum task_kind)v[3];
			t->exit_status = (int)v[4];
			t->stopped = (int)v[5];
			t->umask = 022;
			t->creator = -1;
			t->cmdfd = t->cmdrd = -1;
			t->cwdfd = t->exefd = -1;
		} else {
			NEED(t != NULL);
			r = task_line(p, t, w, n);
		}
		if (r < 0)
			return -1;
	}
	return proto_fail("plan", "end", EPIPE, "the plan ended early");
}
