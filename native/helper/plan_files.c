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
	} else if (!strcmp(w[2], "inherit")) {
		NEED(n == 4 && !parse_u64(w[3], v + 1) && v[1] < 1024);
		f->kind = FILE_INHERIT;
		f->srcfd = (int)v[1];
	} else if (!strcmp(w[2], "memfd")) {
		uint64_t a[3];
		NEED(n == 8 && plan_u64s(w, 4, 3, a) == 0 && (f->path = plan_hex_string(w[3])) != NULL);
		f->kind = FILE_MEMFD;
		f->flags = (int)a[0], f->pos = a[1], f->arg[0] = a[2];
		if (strcmp(w[7], "-")) {
			f->len = strlen(w[7]) / 2;
			NEED((f->data = malloc(f->len)) != NULL && hex_decode(w[7], f->data, f->len) == (long)f->len);
		}
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
	} else {
		NEED(!strcmp(w[2], "pipe") && n == 6 && plan_u64s(w, 3, 3, v + 1) == 0 && v[2] <= 1);
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
	NEED(n == 4 && plan_u64s(w, 1, 2, v) == 0 && v[1] >= 4096 && v[1] <= (1u << 26));
	struct pipe_plan *pp = GROW(p->pipes, p->npipes);
	NEED(pp != NULL);
	pp->id = (int)v[0];
	pp->size = (int)v[1];
	if (strcmp(w[3], "-")) {
		size_t len = strlen(w[3]) / 2;
		NEED(len <= v[1] && (pp->data = malloc(len + 1)) != NULL && hex_decode(w[3], pp->data, len) == (long)len);
		pp->len = len;
	}
	return 0;
}

