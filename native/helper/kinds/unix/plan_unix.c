/* The plan line of a unix socket (format in plan.h; fields: protocol/schema.mjs). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "plan_parse.h"
#include "proto.h"

static int add_data(struct unix_plan *u, const char *hex, size_t hl);

/* The sender of message u->nmsgs - 1, from "name hex" of length hl; every message of a socket
 * has one, or none has. */
static int add_from(struct unix_plan *u, const char *hex, size_t hl, int has)
{
	if (u->nmsgs > 1 && has != (u->from != NULL))
		return -1;
	if (!has)
		return 0;
	char (*f)[108] = realloc(u->from, (size_t)u->nmsgs * sizeof *f);
	if (!f)
		return -1;
	u->from = f;
	size_t *fl = realloc(u->fromlen, (size_t)u->nmsgs * sizeof *fl);
	if (!fl)
		return -1;
	u->fromlen = fl;
	char *tmp = strndup(hex, hl);
	long got = tmp && hl % 2 == 0 && hl / 2 <= sizeof *f ? (hl ? hex_decode(tmp, f[u->nmsgs - 1], hl / 2) : 0) : -1;
	free(tmp);
	if (got != (long)(hl / 2))
		return -1;
	fl[u->nmsgs - 1] = hl / 2;
	return 0;
}

static int add_msg(struct unix_plan *u, const char *hex, size_t hl)
{
	const char *colon = memchr(hex, ':', hl);
	size_t dl = colon ? (size_t)(colon - hex) : hl;
	if (add_data(u, hex, dl) < 0)
		return -1;
	return colon ? add_from(u, colon + 1, hl - dl - 1, 1) : add_from(u, NULL, 0, 0);
}

static int add_data(struct unix_plan *u, const char *hex, size_t hl)
{
	unsigned char **m = realloc(u->msgs, (size_t)(u->nmsgs + 1) * sizeof *m);
	if (!m)
		return -1;
	u->msgs = m;
	size_t *l = realloc(u->msglen, (size_t)(u->nmsgs + 1) * sizeof *l);
	if (!l)
		return -1;
	u->msglen = l;
	int empty = hl == 1 && hex[0] == 'z';
	if (!empty && (hl % 2 || hl == 0))
		return -1;
	size_t len = empty ? 0 : hl / 2;
	unsigned char *d = malloc(len + 1);
	char *tmp = strndup(hex, hl);
	if (!d || !tmp || (len && hex_decode(tmp, d, len) != (long)len)) {
		free(d);
		free(tmp);
		return -1;
	}
	free(tmp);
	u->msgs[u->nmsgs] = d;
	u->msglen[u->nmsgs++] = len;
	return 0;
}

int on_plan_file_unix(struct plan_in *in, struct msg_plan_file_unix *m)
{
	NEED(!m->has_place || (m->conn == UNIX_CLIENT && m->peer == -1 && m->listener >= 0));
	struct unix_plan *u = calloc(1, sizeof *u);
	NEED(u != NULL);
	struct file_plan *f = plan_new_file(in->p, m->id, "file.unix");
	if (!f) {
		free(u);
		return -1;
	}
	f->kind = FILE_UNIX;
	f->ux = u;
	f->flags = (int)m->flags;
	u->type = (int)m->type, u->conn = (int)m->conn, u->peer = (int)m->peer, u->listener = (int)m->listener;
	u->listening = (int)m->listening, u->backlog = (int)m->backlog, u->shutdown = (int)m->shutdown, u->passcred = (int)m->passcred;
	u->sndbuf = (int)m->sndbuf, u->rcvbuf = (int)m->rcvbuf, u->peekoff = (int)m->peekoff, u->unlinked = (int)m->unlinked;
	u->uid = (int)m->uid, u->gid = (int)m->gid, u->mode = (int)m->mode;
	u->fd = u->tmp = u->opath = -1;
	u->pending = m->has_place ? (int)m->place : -1;
	_Static_assert(sizeof u->name == 108, "protocol/schema.mjs: file.unix name");
	memcpy(u->name, m->name, m->name_len);
	u->namelen = m->name_len;
	if (m->msgs) {
		for (const char *p = m->msgs;;) {
			size_t hl = strcspn(p, ",");
			NEED(add_msg(u, p, hl) == 0);
			if (!p[hl])
				break;
			p += hl + 1;
		}
	}
	/* a pair with senders: a named socket whose peer was closed (made unconnected: unix_gone_peers) */
	NEED(!u->from || (u->type == SOCK_DGRAM && u->namelen && (u->conn != UNIX_PAIR || u->peer == -1)));
	return 0;
}

/* `unixrights`: the files in flight with one queued message (its unix socket's file line came
 * first; a message has one such line at most; datagrams sent again by their senders carry none). */
int on_plan_unixrights(struct plan_in *in, struct msg_plan_unixrights *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_UNIX);
	struct unix_plan *u = in->p->files[f].ux;
	NEED(!u->from && (int)m->msg < u->nmsgs);
	if (!u->rights) {
		u->rights = calloc((size_t)u->nmsgs, sizeof *u->rights);
		u->nrights = calloc((size_t)u->nmsgs, sizeof *u->nrights);
		NEED(u->rights && u->nrights);
	}
	NEED(!u->rights[m->msg]);
	NEED((u->rights[m->msg] = malloc(m->files_count * sizeof(int))) != NULL);
	for (size_t i = 0; i < m->files_count; i++) {
		u->rights[m->msg][i] = (int)m->files[i];
	}
	u->nrights[m->msg] = (int)m->files_count;
	return 0;
}

/* `unixdir`: the directory of a socket's relative name (absolute; its file line came first). */
int on_plan_unixdir(struct plan_in *in, struct msg_plan_unixdir *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_UNIX);
	struct unix_plan *u = in->p->files[f].ux;
	NEED(!u->dir && u->namelen && u->name[0] && u->name[0] != '/' && m->path[0] == '/');
	NEED((u->dir = strdup(m->path)) != NULL);
	return 0;
}

/* `unixpeer`: a datagram socket whose peer was outside the image, connected again to that name
 * (an absolute path or an abstract name; nothing queued at it; its file line came first). */
int on_plan_unixpeer(struct plan_in *in, struct msg_plan_unixpeer *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_UNIX);
	struct unix_plan *u = in->p->files[f].ux;
	NEED(u->type == SOCK_DGRAM && u->conn == UNIX_DGRAM && u->peer == -1 && !u->nmsgs && !u->extlen);
	NEED(m->name_len >= 1 && m->name_len <= sizeof u->ext && (m->name[0] == 0 || (m->name[0] == '/' && !memchr(m->name, 0, m->name_len))));
	memcpy(u->ext, m->name, m->name_len);
	u->extlen = m->name_len;
	return 0;
}
