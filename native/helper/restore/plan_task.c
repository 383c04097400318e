/* The lines of a task section of the restore plan (format: plan.h; fields: protocol/schema.mjs). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_parse.h"
#include "proto.h"

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
	NEED((t->cwd = strdup(m->path)) != NULL);
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
	NEED((t->exe = strdup(m->path)) != NULL);
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
	memcpy(t->auxv, m->auxv, m->auxv_len);
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
	*fd = (struct fd_plan){ .target = (int)m->target, .file = f, .cloexec = (int)m->cloexec };
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
		NEED((v->path = strdup(m->path)) != NULL);
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
	t->vvar_start = m->vvar;
	t->vdso_start = m->vdso;
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
	t->act[m->sig] = (struct sigact_plan){ 1, m->handler, m->flags, m->restorer, m->mask };
	return 0;
}

int on_plan_rlimit(struct plan_in *in, struct msg_plan_rlimit *m)
{
	TASK(t);
	t->rlim[m->resource] = (struct rlimit_plan){ 1, m->cur, m->max };
	return 0;
}

int on_plan_regs(struct plan_in *in, struct msg_plan_regs *m)
{
	TASK(t);
	_Static_assert(sizeof t->regs == 216, "protocol/schema.mjs REGS");
	memcpy(&t->regs, m->regs, sizeof t->regs);
	t->have_regs = 1;
	return 0;
}

static unsigned char *copy(const unsigned char *b, size_t len)
{
	unsigned char *c = malloc(len ? len : 1);
	if (c)
		memcpy(c, b, len);
	return c;
}

int on_plan_xstate(struct plan_in *in, struct msg_plan_xstate *m)
{
	TASK(t);
	size_t len = m->has_len ? (size_t)m->len : m->xstate_len; /* the rest: zeros */
	NEED(len >= m->xstate_len && (t->xstate = calloc(len, 1)) != NULL);
	memcpy(t->xstate, m->xstate, m->xstate_len);
	t->xstate_len = len;
	return 0;
}

/* whole 128-byte siginfos, appended to the list (a long queue spans lines) */
static int siginfos(const unsigned char *b, size_t len, unsigned char **out, size_t *count)
{
	if (len % 128 || *count + len / 128 > MAX_PENDING)
		return -1;
	if (!len)
		return 0;
	unsigned char *more = realloc(*out, *count * 128 + len);
	if (!more)
		return -1;
	*out = more;
	memcpy(*out + *count * 128, b, len);
	*count += len / 128;
	return 0;
}

int on_plan_thread(struct plan_in *in, struct msg_plan_thread *m)
{
	TASK(t);
	struct thread_plan *th = GROW(t->threads, t->nthreads);
	NEED(th != NULL);
	th->tid = (pid_t)m->tid;
	memcpy(&th->regs, m->regs, sizeof th->regs);
	NEED((th->xstate = copy(m->xstate, m->xstate_len)) != NULL);
	th->xstate_len = m->xstate_len;
	th->sigmask = m->sigmask;
	th->rseq_ptr = m->rseq_ptr;
	th->rseq_len = (uint32_t)m->rseq_len;
	th->rseq_sig = m->rseq_sig;
	th->tidaddr = m->tidaddr;
	th->sig.alt_sp = m->alt_sp;
	th->sig.alt_flags = (int)m->alt_flags;
	th->sig.alt_size = m->alt_size;
	NEED(siginfos(m->pending, m->pending_len, &th->sig.pending, &th->sig.npending) == 0);
	memcpy(th->comm, m->comm, m->comm_len);
	return 0;
}

int on_plan_altstack(struct plan_in *in, struct msg_plan_altstack *m)
{
	TASK(t);
	t->sig.alt_sp = m->sp;
	t->sig.alt_flags = (int)m->flags;
	t->sig.alt_size = m->size;
	return 0;
}

int on_plan_robust(struct plan_in *in, struct msg_plan_robust *m)
{
	TASK(t);
	t->sig.robust_head = m->head;
	t->sig.robust_len = m->len;
	return 0;
}

int on_plan_throbust(struct plan_in *in, struct msg_plan_throbust *m)
{
	TASK(t);
	NEED(t->nthreads > 0);
	t->threads[t->nthreads - 1].sig.robust_head = m->head;
	t->threads[t->nthreads - 1].sig.robust_len = m->len;
	return 0;
}

int on_plan_pending(struct plan_in *in, struct msg_plan_pending *m)
{
	TASK(t);
	NEED(siginfos(m->siginfos, m->siginfos_len, &t->sig.pending, &t->sig.npending) == 0);
	return 0;
}

int on_plan_thpending(struct plan_in *in, struct msg_plan_thpending *m)
{
	TASK(t);
	NEED(t->nthreads > 0);
	struct sigstate *s = &t->threads[t->nthreads - 1].sig;
	NEED(siginfos(m->siginfos, m->siginfos_len, &s->pending, &s->npending) == 0);
	return 0;
}

int on_plan_shpending(struct plan_in *in, struct msg_plan_shpending *m)
{
	TASK(t);
	NEED(siginfos(m->siginfos, m->siginfos_len, &t->shpending, &t->nshpending) == 0);
	return 0;
}

int on_plan_itimer(struct plan_in *in, struct msg_plan_itimer *m)
{
	TASK(t);
	const uint64_t v[4] = { m->isec, m->iusec, m->vsec, m->vusec };
	for (int i = 0; i < 4; i++)
		t->itimer[m->which][i] = (long)v[i];
	return 0;
}

int on_plan_ptimer(struct plan_in *in, struct msg_plan_ptimer *m)
{
	TASK(t);
	struct ptimer_plan *pt = GROW(t->ptimers, t->nptimers);
	NEED(pt != NULL);
	*pt = (struct ptimer_plan){ .id = (int)m->id, .clock = (int)m->clock, .notify = (int)m->notify, .signo = (int)m->signo,
				    .sigval = m->sigval, .tid = (int)m->tid,
				    .its = { (long)m->isec, (long)m->insec, (long)m->vsec, (long)m->vnsec },
				    .overrun = m->has_overrun ? (int)m->overrun : 0 };
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
