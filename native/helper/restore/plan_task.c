/* The lines of a task section of the restore plan (format: plan.h; fields: protocol/schema.mjs),
 * and what the restart asks of them: a free address range (plan_range_free), a handler. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "plan_parse.h"
#include "proto.h"
#include "tracee.h"

int on_plan_newns(struct plan_in *in, struct msg_plan_newns *m)
{
	TASK(t);
	t->newns = (int)m->value;
	return 0;
}

int on_plan_leaderexit(struct plan_in *in, struct msg_plan_leaderexit *m)
{
	TASK(t);
	t->leader_exit = (int)m->value;
	return 0;
}

int on_plan_cwd(struct plan_in *in, struct msg_plan_cwd *m)
{
	TASK(t);
	NEED((t->cwd = (char *)plan_intern(m->path, strlen(m->path) + 1)) != NULL);
	return 0;
}

int on_plan_cwdobj(struct plan_in *in, struct msg_plan_cwdobj *m)
{
	TASK(t);
	int o = plan_find_obj(in->p, (int)m->obj);
	NEED(o >= 0 && in->p->objs[o].kind == OBJ_DIR && t->cwd);
	t->cwd_obj = o + 1;
	return 0;
}

int on_plan_exe(struct plan_in *in, struct msg_plan_exe *m)
{
	TASK(t);
	NEED((t->exe = (char *)plan_intern(m->path, strlen(m->path) + 1)) != NULL);
	return 0;
}

int on_plan_umask(struct plan_in *in, struct msg_plan_umask *m)
{
	TASK(t);
	t->umask = (int)m->value;
	return 0;
}

int on_plan_comm(struct plan_in *in, struct msg_plan_comm *m)
{
	TASK(t);
	memcpy(t->comm, m->comm, m->comm_len);
	return 0;
}

int on_plan_pdeathsig(struct plan_in *in, struct msg_plan_pdeathsig *m)
{
	TASK(t);
	t->pdeathsig = (int)m->value;
	return 0;
}

int on_plan_creds(struct plan_in *in, struct msg_plan_creds *m)
{
	TASK(t);
	const uint64_t ids[8] = { m->ruid, m->euid, m->suid, m->fsuid, m->rgid, m->egid, m->sgid, m->fsgid };
	for (int i = 0; i < 4; i++) {
		t->uid[i] = (uint32_t)ids[i];
		t->gid[i] = (uint32_t)ids[4 + i];
	}
	t->ngroups = (int)m->groups_count;
	for (size_t i = 0; i < m->groups_count; i++)
		t->groups[i] = (uint32_t)m->groups[i];
	t->have_creds = 1;
	return 0;
}

int on_plan_caps(struct plan_in *in, struct msg_plan_caps *m)
{
	TASK(t);
	t->cap_inh = m->inheritable, t->cap_prm = m->permitted, t->cap_eff = m->effective;
	t->cap_bnd = m->bounding, t->cap_amb = m->ambient;
	t->have_caps = 1;
	return 0;
}

int on_plan_dumpable(struct plan_in *in, struct msg_plan_dumpable *m)
{
	TASK(t);
	t->dumpable = (int)m->value;
	return 0;
}

int on_plan_tidaddr(struct plan_in *in, struct msg_plan_tidaddr *m)
{
	TASK(t);
	t->tidaddr = m->addr;
	return 0;
}

int on_plan_auxv(struct plan_in *in, struct msg_plan_auxv *m)
{
	TASK(t);
	NEED(m->auxv_len <= 1024 && !t->auxv && (t->auxv = (unsigned char *)plan_intern(m->auxv, m->auxv_len)) != NULL);
	t->auxv_len = m->auxv_len;
	return 0;
}

int on_plan_fd(struct plan_in *in, struct msg_plan_fd *m)
{
	TASK(t);
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0);
	struct fd_plan *fd = GROW(t->fds, t->nfds);
	NEED(fd != NULL);
	*fd = (struct fd_plan){ .target = (int)m->target, .file = (unsigned)f, .cloexec = m->cloexec ? 1U : 0U };
	return 0;
}

int on_plan_plock(struct plan_in *in, struct msg_plan_plock *m)
{
	TASK(t);
	struct plock_plan *l = GROW(t->plocks, t->nplocks);
	NEED(l != NULL);
	*l = (struct plock_plan){ (int)m->fd, (int)m->write, m->start, m->len, 0 };
	return 0;
}

int on_plan_tflock(struct plan_in *in, struct msg_plan_tflock *m)
{
	TASK(t);
	struct plock_plan *l = GROW(t->plocks, t->nplocks);
	NEED(l != NULL);
	*l = (struct plock_plan){ (int)m->fd, (int)m->write, 0, 0, 1 };
	return 0;
}

int on_plan_lease(struct plan_in *in, struct msg_plan_lease *m)
{
	TASK(t);
	struct lease_plan *l = GROW(t->leases, t->nleases);
	NEED(l != NULL);
	*l = (struct lease_plan){ (int)m->fd, (int)m->write };
	return 0;
}

int on_plan_epctl(struct plan_in *in, struct msg_plan_epctl *m)
{
	TASK(t);
	struct epctl_plan *e = GROW(t->epctls, t->nepctls);
	NEED(e != NULL);
	*e = (struct epctl_plan){ (int)m->epfd, (int)m->tfd, (uint32_t)m->events, m->data, -1, -1 };
	return 0;
}

int on_plan_epghost(struct plan_in *in, struct msg_plan_epghost *m)
{
	TASK(t);
	struct plan *p = in->p;
	int ep = plan_find_file(p, (int)m->epfile), tf = plan_find_file(p, (int)m->tfile);
	NEED(ep >= 0 && tf >= 0 && ep != tf && p->files[ep].kind == FILE_EPOLL);
	struct epctl_plan *e = GROW(t->epctls, t->nepctls);
	NEED(e != NULL);
	*e = (struct epctl_plan){ -1, (int)m->tfd, (uint32_t)m->events, m->data, ep, tf };
	return 0;
}

int on_plan_vma(struct plan_in *in, struct msg_plan_vma *m)
{
	TASK(t);
	struct plan *p = in->p;
	NEED(m->start < m->end && !(m->start % PAGE_SZ) && !(m->end % PAGE_SZ));
	int obj = m->has_obj ? plan_find_obj(p, (int)m->obj) : -1;
	NEED(!m->has_obj || (obj >= 0 && p->objs[obj].kind != OBJ_DIR));
	struct vma_plan *v = GROW(t->vmas, t->nvmas);
	NEED(v != NULL);
	*v = (struct vma_plan){ .start = m->start, .end = m->end, .prot = (int)m->prot, .flags = (int)m->flags,
				.pgoff = m->pgoff, .fill = (int)m->fill, .madv = (unsigned)m->madv, .obj = obj, .fd = -1 };
	if (m->path)
		NEED((v->path = (char *)plan_intern(m->path, strlen(m->path) + 1)) != NULL); /* read only */
	return 0;
}

/* vma lines without a path or an object, in one (a process of 10,000 anonymous mappings):
 * each entry checked as a `vma` line is */
int on_plan_vmas(struct plan_in *in, struct msg_plan_vmas *m)
{
	TASK(t);
	NEED(m->vmas_len % 40 == 0);
	size_t k = m->vmas_len / 40;
	struct vma_plan *vs = realloc(t->vmas, ((size_t)t->nvmas + k) * sizeof *vs);
	NEED(vs != NULL);
	t->vmas = vs;
	for (size_t i = 0; i < k; i++) {
		uint64_t e[3];
		uint32_t f[4]; /* prot, flags, madv, fill */
		memcpy(e, m->vmas + 40 * i, sizeof e);
		memcpy(f, m->vmas + 40 * i + 24, sizeof f);
		NEED(e[0] < e[1] && !(e[0] % PAGE_SZ) && !(e[1] % PAGE_SZ) && f[3] <= 1);
		vs[t->nvmas++] = (struct vma_plan){ .start = e[0], .end = e[1], .prot = (int)f[0], .flags = (int)f[1], .pgoff = e[2],
						     .fill = (int)f[3], .madv = f[2], .obj = -1, .fd = -1 };
	}
	return 0;
}

int on_plan_shmat(struct plan_in *in, struct msg_plan_shmat *m)
{
	TASK(t);
	NEED(m->start < m->end && !(m->start % PAGE_SZ) && !(m->end % PAGE_SZ));
	struct vma_plan *v = GROW(t->vmas, t->nvmas);
	NEED(v != NULL);
	*v = (struct vma_plan){ .start = m->start, .end = m->end, .prot = (int)m->prot, .is_shm = 1, .shmid = (int)m->shmid,
				.shmflg = (int)m->shmflg, .madv = (unsigned)m->madv, .obj = -1, .fd = -1 };
	return 0;
}

int on_plan_vdso(struct plan_in *in, struct msg_plan_vdso *m)
{
	TASK(t);
	const uint64_t r[3][2] = { { m->vvar, m->vvar_end }, { m->vclock, m->vclock_end }, { m->vdso, m->vdso_end } };
	memset(t->special, 0, sizeof t->special);
	for (int i = 0; i < 3; i++) {
		/* none (0 0), or whole pages of user space, at most 1 MiB, apart from the others */
		NEED((!r[i][0] && !r[i][1]) || (r[i][0] < r[i][1] && r[i][1] <= TASK_END && r[i][1] - r[i][0] <= (1 << 20) &&
						!(r[i][0] % PAGE_SZ) && !(r[i][1] % PAGE_SZ)));
		NEED(!r[i][1] || !plan_special_clash(t, r[i][0], r[i][1]));
		t->special[i][0] = r[i][0], t->special[i][1] = r[i][1];
	}
	t->have_vdso = 1;
	return 0;
}

/* Whether [a, b) meets a mapping of the task's image or a part of its vdso group. */
static int image_clash(const struct task_plan *t, uint64_t a, uint64_t b)
{
	if (plan_special_clash(t, a, b))
		return 1;
	for (int i = 0; i < t->nvmas; i++)
		if (a < t->vmas[i].end && t->vmas[i].start < b)
			return 1;
	return 0;
}

uint64_t plan_range_free(const struct plan *pl, const struct task_plan *t, uint64_t from, uint64_t step, uint64_t len,
			 uint64_t gadget)
{
	for (uint64_t g = from; g + len < TASK_END; g += step) {
		/* the window has a guard page at its end */
		int clash = (gadget && g < gadget + GADGET_SIZE && gadget < g + len) ||
			    (pl->window && g < pl->window + pl->window_len + PAGE_SZ && pl->window < g + len);
		for (int i = 0; i < (t ? 1 : pl->ntasks) && !clash; i++)
			clash = image_clash(t ? t : &pl->tasks[i], g, g + len);
		if (!clash)
			return g;
	}
	return 0;
}

int on_plan_mm(struct plan_in *in, struct msg_plan_mm *m)
{
	TASK(t);
	struct ucr_prctl_mm_map *x = &t->mm;
	x->start_code = m->start_code, x->end_code = m->end_code, x->start_data = m->start_data, x->end_data = m->end_data;
	x->start_brk = m->start_brk, x->brk = m->brk, x->start_stack = m->start_stack;
	x->arg_start = m->arg_start, x->arg_end = m->arg_end, x->env_start = m->env_start, x->env_end = m->env_end;
	t->have_mm = 1;
	return 0;
}

int on_plan_rseq(struct plan_in *in, struct msg_plan_rseq *m)
{
	TASK(t);
	t->rseq_ptr = m->ptr;
	t->rseq_len = (uint32_t)m->len;
	t->rseq_sig = m->sig;
	return 0;
}

int on_plan_sigmask(struct plan_in *in, struct msg_plan_sigmask *m)
{
	TASK(t);
	t->sigmask = m->mask;
	return 0;
}

int on_plan_sigaction(struct plan_in *in, struct msg_plan_sigaction *m)
{
	TASK(t);
	int k = 0;
	while (k < t->nact && t->act[k].sig < (int)m->sig)
		k++;
	if (k == t->nact || t->act[k].sig != (int)m->sig) { /* a new one, in its place */
		NEED(GROW(t->act, t->nact) != NULL);
		memmove(&t->act[k + 1], &t->act[k], (size_t)(t->nact - 1 - k) * sizeof *t->act);
	}
	t->act[k] = (struct sigact_plan){ (int)m->sig, m->handler, m->flags, m->restorer, m->mask };
	return 0;
}

const struct sigact_plan *plan_sigact(const struct task_plan *t, int sig)
{
	for (int k = 0; k < t->nact && t->act[k].sig <= sig; k++)
		if (t->act[k].sig == sig)
			return &t->act[k];
	return NULL;
}

int on_plan_rlimit(struct plan_in *in, struct msg_plan_rlimit *m)
{
	TASK(t);
	t->rlim[m->resource] = (struct rlimit_plan){ 1, m->cur, m->max };
	return 0;
}

int on_plan_subreaper(struct plan_in *in, struct msg_plan_subreaper *m)
{
	TASK(t);
	t->subreaper = (int)m->value;
	return 0;
}

int on_plan_nonewprivs(struct plan_in *in, struct msg_plan_nonewprivs *m)
{
	TASK(t);
	t->nonewprivs = (int)m->value;
	return 0;
}

int on_plan_personality(struct plan_in *in, struct msg_plan_personality *m)
{
	TASK(t);
	t->personality = (long)m->value;
	return 0;
}
