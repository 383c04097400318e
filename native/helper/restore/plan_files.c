/* Plan lines for the objects the helper creates before any task: files and pipes. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_parse.h"
#include "proto.h"

int plan_add_file(struct plan *p, char **w, int n)
{
	uint64_t v[4];
	NEED(n >= 4 && !parse_u64(w[1], v) && plan_find_file(p, (int)v[0]) < 0);
	struct file_plan *f = GROW(p->files, p->nfiles);
	NEED(f != NULL);
	f->id = (int)v[0];
	f->hfd = -1;
	if (!strcmp(w[2], "path")) {
		NEED(n == 6 && plan_u64s(w, 4, 2, v + 1) == 0 && (f->path = plan_hex_string(w[3])) != NULL);
		f->kind = FILE_PATH;
		f->flags = (int)v[1];
		f->pos = v[2];
	} else if (!strcmp(w[2], "proc")) {
		uint64_t a[5];
		NEED(n == 8 && plan_u64s(w, 3, 2, a) == 0 && plan_u64s(w, 6, 2, a + 2) == 0 && a[0] > 0 && a[0] < (1u << 22) &&
		     a[1] < (1u << 22));
		NEED(!strcmp(w[5], "-") || ((f->path = plan_hex_string(w[5])) != NULL && f->path[0] == '/' &&
					    !strstr(f->path, "/..") && strlen(f->path) < 256));
		f->kind = FILE_PROC;
		f->proc_pid = (pid_t)a[0], f->proc_tid = (pid_t)a[1];
		f->flags = (int)a[2], f->pos = a[3];
	} else if (!strcmp(w[2], "inherit")) {
		NEED(n == 4 && !parse_u64(w[3], v + 1) && v[1] < 1024);
		f->kind = FILE_INHERIT;
		f->srcfd = (int)v[1];
	} else if (!strcmp(w[2], "reopen")) {
		uint64_t a[3];
		NEED(n == 6 && plan_u64s(w, 3, 3, a) == 0 && plan_find_obj(p, (int)a[0]) >= 0);
		f->kind = FILE_REOPEN;
		f->obj = plan_find_obj(p, (int)a[0]);
		f->flags = (int)a[1], f->pos = a[2];
		NEED(p->objs[f->obj].kind != OBJ_ANON);
	} else if (!strcmp(w[2], "ptmx") || !strcmp(w[2], "pts")) {
		NEED(n == 5 && plan_u64s(w, 3, 2, v + 1) == 0 && (f->tty = plan_find_tty(p, (int)v[1])) >= 0);
		f->kind = !strcmp(w[2], "ptmx") ? FILE_PTMX : FILE_PTS;
		f->flags = (int)v[2];
	} else if (!strcmp(w[2], "epoll")) {
		NEED(n == 4 && !parse_u64(w[3], v + 1));
		f->kind = FILE_EPOLL;
		f->flags = (int)v[1];
	} else if (!strcmp(w[2], "inotify")) {
		NEED(n == 4 && !parse_u64(w[3], v + 1));
		f->kind = FILE_INOTIFY;
		f->flags = (int)v[1];
	} else if (!strcmp(w[2], "eventfd")) {
		uint64_t a[3];
		NEED(n == 6 && plan_u64s(w, 3, 3, a) == 0 && a[1] <= 1);
		f->kind = FILE_EVENTFD;
		f->arg[0] = a[0], f->arg[1] = a[1], f->flags = (int)a[2];
	} else if (!strcmp(w[2], "signalfd")) {
		uint64_t a[2];
		NEED(n == 5 && plan_u64s(w, 3, 2, a) == 0);
		f->kind = FILE_SIGNALFD;
		f->arg[0] = a[0], f->flags = (int)a[1];
	} else if (!strcmp(w[2], "timerfd")) {
		uint64_t a[7];
		NEED(n == 10 && plan_u64s(w, 3, 7, a) == 0 && a[0] < 16);
		f->kind = FILE_TIMERFD;
		f->arg[0] = a[0], f->flags = (int)a[1];
		for (int i = 2; i < 7; i++)
			f->arg[i - 1] = a[i];
	} else if (!strcmp(w[2], "unix")) {
		return plan_unix_file(f, w, n);
	} else if (!strcmp(w[2], "inet")) {
		return plan_inet_file(p, f, w, n);
	} else {
		NEED(!strcmp(w[2], "pipe") && n == 6 && plan_u64s(w, 3, 3, v + 1) == 0 && v[2] <= 2);
		f->kind = FILE_PIPE;
		f->pipe = (int)v[1];
		f->end = (int)v[2];
		f->flags = (int)v[3];
	}
	return 0;
}

int plan_add_pipe(struct plan *p, char **w, int n)
{
	uint64_t v[2];
	NEED((n == 4 || n == 5) && plan_u64s(w, 1, 2, v) == 0 && v[1] >= 4096 && v[1] <= (1u << 26));
	struct pipe_plan *pp = GROW(p->pipes, p->npipes);
	NEED(pp != NULL);
	pp->id = (int)v[0];
	pp->size = (int)v[1];
	if (strcmp(w[3], "-")) {
		size_t len = strlen(w[3]) / 2;
		NEED(len <= v[1] && (pp->data = malloc(len + 1)) != NULL && hex_decode(w[3], pp->data, len) == (long)len);
		pp->len = len;
	}
	if (n == 5)
		NEED((pp->path = plan_hex_string(w[4])) != NULL && pp->path[0] == '/');
	return 0;
}


int plan_find_obj(const struct plan *p, int id)
{
	for (int i = 0; i < p->nobjs; i++)
		if (p->objs[i].id == id)
			return i;
	return -1;
}

int plan_add_obj(struct plan *p, char **w, int n)
{
	uint64_t v[4];
	uint64_t mode = 0600, owner[2] = { (uint64_t)-1, (uint64_t)-1 }, id[2] = { 0, 0 };
	NEED((n == 6 || n == 7 || n == 9 || n == 11) && plan_u64s(w, 1, 4, v) == 0 && v[1] <= OBJ_TMPFS &&
	     v[0] < (1u << 30) && plan_find_obj(p, (int)v[0]) < 0 && v[2] < (1ULL << 46) && v[3] <= 0xffff);
	NEED(n == 6 || (!parse_u64(w[6], &mode) && mode <= 07777 && v[1] != OBJ_ANON && v[1] != OBJ_QUEUE));
	NEED(n < 9 || (plan_u64s(w, 7, 2, owner) == 0 && owner[0] < 0xffffffffu && owner[1] < 0xffffffffu));
	NEED((n == 11) == (v[1] == OBJ_TMPFS) && (n < 11 || plan_u64s(w, 9, 2, id) == 0));
	/* shared anonymous memory is whole pages; memfds, unlinked and tmpfs files and queues have any size */
	NEED(v[1] != OBJ_ANON || (v[2] > 0 && v[2] % 4096 == 0));
	NEED(v[1] != OBJ_DIR || (v[2] == 0 && v[3] == 0 && n >= 7)); /* a removed directory is empty */
	struct obj_plan *s = GROW(p->objs, p->nobjs);
	NEED(s != NULL);
	*s = (struct obj_plan){ .id = (int)v[0], .kind = (enum obj_kind)v[1], .size = v[2], .seals = (int)v[3],
				.mode = n > 6 ? (int)mode : -1, .uid = (uid_t)owner[0], .gid = (gid_t)owner[1],
				.dev = id[0], .ino = id[1], .hfd = -1, .rdfd = -1 };
	if (strcmp(w[5], "-"))
		NEED((s->name = plan_hex_string(w[5])) != NULL);
	NEED(s->kind == OBJ_ANON || s->kind == OBJ_QUEUE || s->name != NULL);
	NEED((s->kind != OBJ_UNLINKED && s->kind != OBJ_DIR && s->kind != OBJ_TMPFS) || (s->name[0] == '/' && !strstr(s->name, "/../")));
	return 0;
}

int plan_add_inwatch(struct plan *p, char **w, int n)
{
	uint64_t v[3];
	NEED(n == 5 && plan_u64s(w, 1, 3, v) == 0 && v[1] >= 1 && v[1] <= 0x7fffffff && v[2] <= 0xffffffffu);
	int f = plan_find_file(p, (int)v[0]);
	NEED(f >= 0 && p->files[f].kind == FILE_INOTIFY);
	struct file_plan *fp = &p->files[f];
	NEED(fp->nwatches == 0 || fp->watches[fp->nwatches - 1].wd < (int)v[1]);
	struct inwatch *iw = GROW(fp->watches, fp->nwatches);
	NEED(iw != NULL && (iw->path = plan_hex_string(w[4])) != NULL && iw->path[0] == '/');
	iw->wd = (int)v[1];
	iw->mask = (uint32_t)v[2];
	return 0;
}

int plan_add_flock(struct plan *p, char **w, int n)
{
	uint64_t v[5];
	NEED(n == 6 && plan_u64s(w, 1, 5, v) == 0 && v[1] <= 1 && v[2] <= 1 && v[3] <= INT64_MAX && v[4] <= INT64_MAX);
	int f = plan_find_file(p, (int)v[0]);
	NEED(f >= 0);
	struct lock_plan *l = GROW(p->files[f].locks, p->files[f].nlocks);
	NEED(l != NULL);
	*l = (struct lock_plan){ (int)v[1], (int)v[2], v[3], v[4] };
	return 0;
}

/* fown <file id> <type 0 tid|1 pid|2 pgrp> <pid in the image> <signal> */
int plan_add_fown(struct plan *p, char **w, int n)
{
	uint64_t v[4];
	NEED(n == 5 && plan_u64s(w, 1, 4, v) == 0 && v[1] <= 2 && v[2] < (1u << 22) && v[3] <= 64); /* pid 0: no owner */
	int f = plan_find_file(p, (int)v[0]);
	NEED(f >= 0 && p->files[f].kind != FILE_PROC);
	struct file_plan *fp = &p->files[f];
	fp->fown_type = (int)v[1] + 1;
	fp->fown_pid = (pid_t)v[2];
	fp->fown_sig = (int)v[3];
	return 0;
}

int plan_find_tty(const struct plan *p, int index)
{
	for (int i = 0; i < p->nttys; i++)
		if (p->ttys[i].index == index)
			return i;
	return -1;
}

/* `ttymodes <iflag> <oflag> <cflag> <lflag> <line> <hex cc> <ispeed> <ospeed> <rows> <cols>
 * <xpix> <ypix>`: the modes of the job's terminal (external stdio) at checkpoint time */
int plan_add_ttymodes(struct plan *p, char **w, int n)
{
	uint64_t v[11];
	NEED(n == 13 && plan_u64s(w, 1, 5, v) == 0 && plan_u64s(w, 7, 6, v + 5) == 0 && strlen(w[6]) <= 64 &&
	     strlen(w[6]) % 2 == 0 && !p->jobtty.settings);
	for (int i = 0; i < 11; i++)
		NEED(v[i] <= (i == 4 ? 0xffu : i < 7 ? 0xffffffffu : 0xffffu));
	p->jobtty = (struct tty_plan){ .settings = 1, .iflag = (uint32_t)v[0], .oflag = (uint32_t)v[1], .cflag = (uint32_t)v[2],
				       .lflag = (uint32_t)v[3], .line = (unsigned char)v[4], .ispeed = (uint32_t)v[5],
				       .ospeed = (uint32_t)v[6], .rows = (unsigned short)v[7], .cols = (unsigned short)v[8],
				       .xpix = (unsigned short)v[9], .ypix = (unsigned short)v[10], .master_hfd = -1, .slave_hfd = -1 };
	NEED(hex_decode(w[6], p->jobtty.cc, strlen(w[6]) / 2) == (long)(strlen(w[6]) / 2));
	return 0;
}

int plan_add_tty(struct plan *p, char **w, int n)
{
	uint64_t v[16];
	NEED(n == 18 && plan_u64s(w, 1, 10, v) == 0 && plan_u64s(w, 12, 6, v + 10) == 0 && v[0] < (1u << 20) &&
	     plan_find_tty(p, (int)v[0]) < 0 && strlen(w[11]) <= 64 && strlen(w[11]) % 2 == 0);
	for (int i = 10; i < 16; i++)
		NEED(v[i] <= (i < 12 ? 0xffffffffu : 0xffffu));
	struct tty_plan *t = GROW(p->ttys, p->nttys);
	NEED(t != NULL);
	*t = (struct tty_plan){ .index = (int)v[0], .locked = v[1] != 0, .pkt = v[2] != 0, .excl = v[3] != 0,
				.settings = v[4] != 0, .iflag = (uint32_t)v[5], .oflag = (uint32_t)v[6], .cflag = (uint32_t)v[7],
				.lflag = (uint32_t)v[8], .line = (unsigned char)v[9], .ispeed = (uint32_t)v[10],
				.ospeed = (uint32_t)v[11], .rows = (unsigned short)v[12], .cols = (unsigned short)v[13],
				.xpix = (unsigned short)v[14], .ypix = (unsigned short)v[15], .master_hfd = -1, .slave_hfd = -1 };
	NEED(hex_decode(w[11], t->cc, strlen(w[11]) / 2) == (long)(strlen(w[11]) / 2));
	return 0;
}
