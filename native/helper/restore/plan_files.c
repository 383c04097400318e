/* Plan lines for the objects the helper creates before any task: files, pipes, content objects,
 * ptys and what belongs to an open file (locks, owner, inotify watches). Format: plan.h;
 * fields: protocol/schema.mjs. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_parse.h"
#include "proto.h"

struct file_plan *plan_new_file(struct plan *p, uint64_t id, const char *verb)
{
	if (plan_find_file(p, (int)id) >= 0) {
		proto_fail("plan", verb, EINVAL, "bad plan line (file id %llu twice)", (unsigned long long)id);
		return NULL;
	}
	struct file_plan *f = GROW(p->files, p->nfiles);
	if (!f) {
		proto_fail("plan", verb, ENOMEM, "out of memory");
		return NULL;
	}
	f->id = (int)id;
	f->hfd = -1;
	return f;
}

#define NEW_FILE(f, m, kind_)                                                   \
	struct file_plan *f = plan_new_file(in->p, (m)->id, plan_verb(__func__)); \
	if (!f)                                                                 \
		return -1;                                                      \
	f->kind = kind_

int on_plan_file_path(struct plan_in *in, struct msg_plan_file_path *m)
{
	NEW_FILE(f, m, FILE_PATH);
	NEED((f->path = strdup(m->path)) != NULL);
	f->flags = (int)m->flags;
	f->pos = m->pos;
	return 0;
}

/* a namespace type of /proc/PID/ns (TYPE or TYPE_for_children) */
static int ns_sub_ok(const char *t)
{
	static const char *const types[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		size_t n = strlen(types[i]);
		if (!strncmp(t, types[i], n) && (!t[n] || !strcmp(t + n, "_for_children")))
			return 1;
	}
	return 0;
}

int on_plan_file_proc(struct plan_in *in, struct msg_plan_file_proc *m)
{
	NEED(!m->sub || (m->sub[0] == '/' && !strstr(m->sub, "/..") && strlen(m->sub) < 256));
	NEED(!m->sub || strncmp(m->sub, "/ns/", 4) || (!m->tid && ns_sub_ok(m->sub + 4))); /* a namespace link, nothing below */
	NEW_FILE(f, m, FILE_PROC);
	NEED(!m->sub || (f->path = strdup(m->sub)) != NULL);
	f->proc_pid = (pid_t)m->pid, f->proc_tid = (pid_t)m->tid;
	f->flags = (int)m->flags, f->pos = m->pos;
	return 0;
}

int on_plan_file_inherit(struct plan_in *in, struct msg_plan_file_inherit *m)
{
	NEW_FILE(f, m, FILE_INHERIT);
	f->srcfd = (int)m->fd;
	return 0;
}

int on_plan_file_reopen(struct plan_in *in, struct msg_plan_file_reopen *m)
{
	int o = plan_find_obj(in->p, (int)m->obj);
	NEED(o >= 0 && in->p->objs[o].kind != OBJ_ANON);
	NEW_FILE(f, m, FILE_REOPEN);
	f->obj = o;
	f->flags = (int)m->flags, f->pos = m->pos;
	return 0;
}

static int pty_file(struct plan_in *in, uint64_t id, uint64_t tty, uint64_t flags, enum file_kind kind, const char *verb)
{
	int t = plan_find_tty(in->p, (int)tty);
	if (t < 0)
		return proto_fail("plan", verb, EINVAL, "bad plan line (no pty %llu)", (unsigned long long)tty);
	struct file_plan *f = plan_new_file(in->p, id, verb);
	if (!f)
		return -1;
	f->kind = kind;
	f->tty = t;
	f->flags = (int)flags;
	return 0;
}

int on_plan_file_ptmx(struct plan_in *in, struct msg_plan_file_ptmx *m)
{
	return pty_file(in, m->id, m->tty, m->flags, FILE_PTMX, "file.ptmx");
}

int on_plan_file_pts(struct plan_in *in, struct msg_plan_file_pts *m)
{
	return pty_file(in, m->id, m->tty, m->flags, FILE_PTS, "file.pts");
}

int on_plan_file_ptshup(struct plan_in *in, struct msg_plan_file_ptshup *m)
{
	NEW_FILE(f, m, FILE_PTSHUP);
	f->flags = (int)m->flags;
	return 0;
}

/* /dev/tty: of a pty of the plan (its session leader opens it), or -1 the caller's terminal */
int on_plan_file_devtty(struct plan_in *in, struct msg_plan_file_devtty *m)
{
	int t = m->tty < 0 ? -1 : plan_find_tty(in->p, (int)m->tty);
	NEED(m->tty < 0 || t >= 0);
	NEW_FILE(f, m, FILE_DEVTTY);
	f->tty = t;
	f->flags = (int)m->flags;
	return 0;
}

int on_plan_file_epoll(struct plan_in *in, struct msg_plan_file_epoll *m)
{
	NEW_FILE(f, m, FILE_EPOLL);
	f->flags = (int)m->flags;
	return 0;
}

int on_plan_file_inotify(struct plan_in *in, struct msg_plan_file_inotify *m)
{
	NEW_FILE(f, m, FILE_INOTIFY);
	f->flags = (int)m->flags;
	return 0;
}

int on_plan_file_eventfd(struct plan_in *in, struct msg_plan_file_eventfd *m)
{
	NEW_FILE(f, m, FILE_EVENTFD);
	f->arg[0] = m->count, f->arg[1] = m->semaphore, f->flags = (int)m->flags;
	return 0;
}

int on_plan_file_signalfd(struct plan_in *in, struct msg_plan_file_signalfd *m)
{
	NEW_FILE(f, m, FILE_SIGNALFD);
	f->arg[0] = m->mask, f->flags = (int)m->flags;
	return 0;
}

int on_plan_file_timerfd(struct plan_in *in, struct msg_plan_file_timerfd *m)
{
	NEW_FILE(f, m, FILE_TIMERFD);
	f->arg[0] = m->clock, f->flags = (int)m->flags;
	f->arg[1] = m->ticks, f->arg[2] = m->isec, f->arg[3] = m->insec, f->arg[4] = m->vsec, f->arg[5] = m->vnsec;
	return 0;
}

int on_plan_file_pipe(struct plan_in *in, struct msg_plan_file_pipe *m)
{
	NEW_FILE(f, m, FILE_PIPE);
	f->pipe = (int)m->pipe;
	f->end = (int)m->end;
	f->flags = (int)m->flags;
	return 0;
}

int on_plan_pipe(struct plan_in *in, struct msg_plan_pipe *m)
{
	NEED(m->data_len <= m->size && (!m->path || m->path[0] == '/'));
	struct pipe_plan *pp = GROW(in->p->pipes, in->p->npipes);
	NEED(pp != NULL);
	pp->id = (int)m->id;
	pp->size = (int)m->size;
	if (m->data_len) {
		NEED((pp->data = malloc(m->data_len)) != NULL);
		memcpy(pp->data, m->data, m->data_len);
		pp->len = m->data_len;
	}
	NEED(!m->path || (pp->path = strdup(m->path)) != NULL);
	NEED(!m->has_ghost || m->path);
	pp->ghost = m->has_ghost ? (int)m->ghost + 1 : 0;
	return 0;
}

int plan_find_obj(const struct plan *p, int id)
{
	for (int i = 0; i < p->nobjs; i++)
		if (p->objs[i].id == id)
			return i;
	return -1;
}

/* obj <id> <kind> <size> <seals> <name|-> [<mode> [<uid> <gid> [<dev> <ino>]]] */
int on_plan_obj(struct plan_in *in, struct msg_plan_obj *m)
{
	struct plan *p = in->p;
	NEED(plan_find_obj(p, (int)m->id) < 0 && m->has_uid == m->has_gid && m->has_dev == m->has_ino && (!m->has_uid || m->has_mode) &&
	     (!m->has_dev || m->has_uid));
	NEED(!m->has_mode || (m->kind != OBJ_ANON && m->kind != OBJ_QUEUE));
	NEED(m->has_dev == (m->kind == OBJ_TMPFS));
	/* shared anonymous memory is whole pages; memfds, unlinked and tmpfs files and queues have any size */
	NEED(m->kind != OBJ_ANON || (m->size > 0 && m->size % 4096 == 0));
	NEED(m->kind != OBJ_DIR || (m->size == 0 && m->seals == 0 && m->has_mode)); /* a removed directory is empty */
	NEED(m->kind == OBJ_ANON || m->kind == OBJ_QUEUE || m->name != NULL);
	NEED((m->kind != OBJ_UNLINKED && m->kind != OBJ_DIR && m->kind != OBJ_TMPFS) || (m->name[0] == '/' && !strstr(m->name, "/../")));
	struct obj_plan *s = GROW(p->objs, p->nobjs);
	NEED(s != NULL);
	*s = (struct obj_plan){ .id = (int)m->id, .kind = (enum obj_kind)m->kind, .size = m->size, .seals = (int)m->seals,
				.mode = m->has_mode ? (int)m->mode : -1, .uid = m->has_uid ? (uid_t)m->uid : (uid_t)-1,
				.gid = m->has_gid ? (gid_t)m->gid : (gid_t)-1, .dev = m->dev, .ino = m->ino, .hfd = -1, .rdfd = -1 };
	NEED(!m->name || (s->name = strdup(m->name)) != NULL);
	return 0;
}

/* objtimes <obj> <atime s> <ns> <mtime s> <ns>: right after a memfd's, unlinked file's or removed
 * directory's obj line */
int on_plan_objtimes(struct plan_in *in, struct msg_plan_objtimes *m)
{
	struct plan *p = in->p;
	NEED(p->nobjs > 0 && p->objs[p->nobjs - 1].id == (int)m->obj);
	struct obj_plan *s = &p->objs[p->nobjs - 1];
	NEED(!s->has_times && (s->kind == OBJ_MEMFD || s->kind == OBJ_UNLINKED || s->kind == OBJ_DIR));
	s->has_times = 1;
	s->times[0] = (struct timespec){ (time_t)m->atime_s, (long)m->atime_ns };
	s->times[1] = (struct timespec){ (time_t)m->mtime_s, (long)m->mtime_ns };
	return 0;
}

int on_plan_inwatch(struct plan_in *in, struct msg_plan_inwatch *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_INOTIFY && m->path[0] == '/');
	struct file_plan *fp = &in->p->files[f];
	NEED(fp->nwatches == 0 || fp->watches[fp->nwatches - 1].wd < (int)m->wd);
	struct inwatch *iw = GROW(fp->watches, fp->nwatches);
	NEED(iw != NULL && (iw->path = strdup(m->path)) != NULL);
	iw->ofile = m->has_ofile ? (int)m->ofile : -1; /* checked once every file is known (restore_fds.c) */
	iw->wd = (int)m->wd;
	iw->mask = (uint32_t)m->mask;
	return 0;
}

int on_plan_flock(struct plan_in *in, struct msg_plan_flock *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0);
	struct lock_plan *l = GROW(in->p->files[f].locks, in->p->files[f].nlocks);
	NEED(l != NULL);
	*l = (struct lock_plan){ (int)m->ofd, (int)m->write, m->start, m->len };
	return 0;
}

/* the owner of signal-driven I/O by its pid in the image */
int on_plan_fown(struct plan_in *in, struct msg_plan_fown *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && !FILE_LATE(in->p->files[f].kind));
	struct file_plan *fp = &in->p->files[f];
	fp->fown_type = (int)m->type + 1;
	fp->fown_pid = (pid_t)m->pid;
	fp->fown_sig = (int)m->sig;
	return 0;
}

int plan_find_tty(const struct plan *p, int index)
{
	for (int i = 0; i < p->nttys; i++)
		if (p->ttys[i].index == index)
			return i;
	return -1;
}

/* the modes of the job's terminal (external stdio) at checkpoint time */
int on_plan_ttymodes(struct plan_in *in, struct msg_plan_ttymodes *m)
{
	NEED(!in->p->jobtty.settings);
	in->p->jobtty = (struct tty_plan){ .settings = 1, .iflag = (uint32_t)m->iflag, .oflag = (uint32_t)m->oflag, .cflag = (uint32_t)m->cflag,
					   .lflag = (uint32_t)m->lflag, .line = (unsigned char)m->line, .ispeed = (uint32_t)m->ispeed,
					   .ospeed = (uint32_t)m->ospeed, .rows = (unsigned short)m->rows, .cols = (unsigned short)m->cols,
					   .xpix = (unsigned short)m->xpix, .ypix = (unsigned short)m->ypix, .master_hfd = -1, .slave_hfd = -1 };
	memcpy(in->p->jobtty.cc, m->cc, m->cc_len);
	return 0;
}

int on_plan_tty(struct plan_in *in, struct msg_plan_tty *m)
{
	NEED(plan_find_tty(in->p, (int)m->index) < 0);
	struct tty_plan *t = GROW(in->p->ttys, in->p->nttys);
	NEED(t != NULL);
	*t = (struct tty_plan){ .index = (int)m->index, .locked = (int)m->locked, .pkt = (int)m->pkt, .excl = (int)m->excl,
				.settings = (int)m->settings, .iflag = (uint32_t)m->iflag, .oflag = (uint32_t)m->oflag,
				.cflag = (uint32_t)m->cflag, .lflag = (uint32_t)m->lflag, .line = (unsigned char)m->line,
				.ispeed = (uint32_t)m->ispeed, .ospeed = (uint32_t)m->ospeed, .rows = (unsigned short)m->rows,
				.cols = (unsigned short)m->cols, .xpix = (unsigned short)m->xpix, .ypix = (unsigned short)m->ypix,
				.master_hfd = -1, .slave_hfd = -1, .uid = m->has_uid ? m->uid : -1, .gid = m->has_gid ? m->gid : -1,
				.mode = m->has_mode ? m->mode : -1 };
	memcpy(t->cc, m->cc, m->cc_len);
	/* the bytes queued: copied (the line's buffer is reused), parsed when the pair is made */
	if (m->has_out && m->out_len) {
		NEED((t->qout = malloc(m->out_len)) != NULL);
		memcpy(t->qout, m->out, t->qoutlen = m->out_len);
	}
	if (m->has_partial && m->partial_len) {
		NEED((t->qpartial = malloc(m->partial_len)) != NULL);
		memcpy(t->qpartial, m->partial, t->qpartlen = m->partial_len);
	}
	if (m->has_lines && m->lines)
		NEED((t->qlines = strdup(m->lines)) != NULL);
	return 0;
}
