/* The plan line of a unix socket (format in plan.h). */
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

int plan_unix_file(struct file_plan *f, char **w, int n)
{
	int64_t v[16];
	NEED(n == 21 || n == 22);
	for (int i = 0; i < 16; i++)
		NEED(!parse_i64(w[3 + i], &v[i]));
	NEED(v[0] == SOCK_STREAM || v[0] == SOCK_DGRAM || v[0] == SOCK_SEQPACKET);
	NEED(v[2] >= UNIX_NONE && v[2] <= UNIX_DGRAM && v[3] >= -1 && v[4] >= -1 && v[5] >= 0 && v[5] <= 1);
	NEED(v[6] >= 0 && v[6] <= 65535 && v[7] >= 0 && v[7] <= 3 && v[8] >= 0 && v[8] <= 1 && v[12] >= 0 && v[12] <= 1);
	NEED(v[9] >= 0 && v[9] <= (1 << 30) && v[10] >= 0 && v[10] <= (1 << 30) && v[11] >= -1 && v[11] <= (1 << 30));
	NEED(v[13] >= -1 && v[13] < 0xffffffffLL && v[14] >= -1 && v[14] < 0xffffffffLL && v[15] >= -1 && v[15] <= 07777);
	struct unix_plan *u = calloc(1, sizeof *u);
	NEED(u != NULL);
	f->kind = FILE_UNIX;
	f->ux = u;
	f->flags = (int)v[1];
	u->type = (int)v[0], u->conn = (int)v[2], u->peer = (int)v[3], u->listener = (int)v[4];
	u->listening = (int)v[5], u->backlog = (int)v[6], u->shutdown = (int)v[7], u->passcred = (int)v[8];
	u->sndbuf = (int)v[9], u->rcvbuf = (int)v[10], u->peekoff = (int)v[11], u->unlinked = (int)v[12];
	u->uid = (int)v[13], u->gid = (int)v[14], u->mode = (int)v[15];
	u->fd = u->tmp = -1;
	u->pending = -1;
	if (n == 22) {
		NEED(!parse_i64(w[21], &v[0]) && v[0] >= 0 && v[0] <= 65535 && u->conn == UNIX_CLIENT && u->peer == -1 && u->listener >= 0);
		u->pending = (int)v[0];
	}
	if (strcmp(w[19], "-")) {
		size_t hl = strlen(w[19]);
		NEED(hl % 2 == 0 && hl / 2 <= sizeof u->name && hex_decode(w[19], u->name, sizeof u->name) == (long)(hl / 2));
		u->namelen = hl / 2;
	}
	if (strcmp(w[20], "-")) {
		for (const char *p = w[20];;) {
			size_t hl = strcspn(p, ",");
			NEED(add_msg(u, p, hl) == 0);
			if (!p[hl])
				break;
			p += hl + 1;
		}
	}
	NEED(!u->from || (u->type == SOCK_DGRAM && u->namelen && u->conn != UNIX_PAIR));
	return 0;
}
