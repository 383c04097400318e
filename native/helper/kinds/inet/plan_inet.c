/* The plan line of a TCP or UDP socket (format in plan.h; fields: protocol/schema.mjs). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inet.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore_inet.h"

static int addr_word(const char *w, int family, char out[48])
{
	unsigned char buf[16];
	if (!strcmp(w, "-"))
		return out[0] = 0, 0;
	if (strlen(w) >= 48 || inet_pton(family == 4 ? AF_INET : AF_INET6, w, buf) != 1)
		return -1;
	strcpy(out, w);
	return 0;
}

/* A queue: hex, "-" (empty) or "@<object id>:<bytes>" (kept in a content object); obj NULL:
 * only hex */
static int queue_word(const struct plan *plan, const char *w, unsigned char **data, size_t *len, int *obj)
{
	*data = NULL, *len = 0;
	if (obj)
		*obj = -1;
	if (!strcmp(w, "-"))
		return 0;
	if (w[0] == '@' && obj) {
		char *colon = strchr(w, ':');
		uint64_t id, l;
		char idw[24];
		if (!colon || colon - w - 1 <= 0 || colon - w - 1 >= (long)sizeof idw)
			return -1;
		memcpy(idw, w + 1, (size_t)(colon - w - 1));
		idw[colon - w - 1] = 0;
		if (parse_u64(idw, &id) || parse_u64(colon + 1, &l) || id >= (1u << 30) || l <= INET_QUEUE_MAX || l > (1ULL << 31))
			return -1;
		*obj = plan_find_obj(plan, (int)id);
		*len = (size_t)l;
		return *obj >= 0 && plan->objs[*obj].kind == OBJ_QUEUE && plan->objs[*obj].size == l ? 0 : -1;
	}
	size_t hl = strlen(w);
	if (hl % 2 || hl / 2 > INET_QUEUE_MAX || !(*data = malloc(hl / 2)))
		return -1;
	*len = hl / 2;
	return hex_decode(w, *data, *len) == (long)*len ? 0 : -1;
}

/* `addr/port/hex,...` */
static int dgram_word(char *w, struct inet_plan *p)
{
	if (!strcmp(w, "-"))
		return 0;
	size_t total = 0;
	for (char *save = NULL, *e = strtok_r(w, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		char *port = strchr(e, '/'), *hex = port ? strchr(port + 1, '/') : NULL;
		if (!hex)
			return -1;
		*port++ = 0, *hex++ = 0;
		struct inet_dgram *d = GROW(p->dgrams, p->ndgrams);
		int64_t pt;
		size_t hl = strlen(hex);
		if (!d || addr_word(e, p->family, d->from) < 0 || !d->from[0] || parse_i64(port, &pt) || pt < 0 || pt > 65535 ||
		    hl % 2 || hl / 2 > 65535 || (total += hl / 2) > INET_QUEUE_MAX || !(d->data = malloc(hl / 2 + 1)))
			return -1;
		d->port = (int)pt;
		d->len = hl / 2;
		if (d->len && hex_decode(hex, d->data, d->len) != (long)d->len)
			return -1;
	}
	return 0;
}

int on_plan_file_inet(struct plan_in *in, struct msg_plan_file_inet *m)
{
	const struct plan *pl = in->p;
	_Static_assert(INET_NOPTS <= INET_NOPTS_MAX && INET_NOPTS_MAX == sizeof ((struct inet_plan *)0)->opts / sizeof(int), "inet options");
	struct inet_plan *p = calloc(1, sizeof *p);
	NEED(p != NULL);
	struct file_plan *f = plan_new_file(in->p, m->id, "file.inet");
	if (!f) {
		free(p);
		return -1;
	}
	f->kind = FILE_INET;
	f->in = p;
	p->lite = m->proto == IPPROTO_UDPLITE;
	p->family = (int)m->family, p->proto = p->lite ? IPPROTO_UDP : (int)m->proto, f->flags = (int)m->flags, p->state = (int)m->state, p->mode = (int)m->mode;
	p->lport = (int)m->lport, p->rport = (int)m->rport, p->backlog = (int)m->backlog;
	p->inseq = (uint32_t)m->inseq, p->outseq = (uint32_t)m->outseq, p->unsent = (int)m->unsent, p->mss = (int)m->mss;
	p->sndws = (int)m->sndws, p->rcvws = (int)m->rcvws, p->tcpopts = (int)m->tcpopts, p->timestamp = (uint32_t)m->timestamp;
	NEED(!addr_word(m->local ? m->local : "-", p->family, p->local) && !addr_word(m->remote ? m->remote : "-", p->family, p->remote));
	for (int i = 0; i < INET_NOPTS; i++)
		p->opts[i] = (int)(int64_t)m->opts[i];
	for (int i = 0; i < 5; i++)
		p->window[i] = (uint32_t)m->window[i];
	if (p->proto == IPPROTO_UDP)
		NEED((!m->rq || !dgram_word(m->rq, p)) && !m->sq);
	else
		NEED(!queue_word(pl, m->rq ? m->rq : "-", &p->rq, &p->rqlen, &p->rq_obj) &&
		     !queue_word(pl, m->sq ? m->sq : "-", &p->sq, &p->sqlen, &p->sq_obj));
	if (p->proto == IPPROTO_UDP)
		p->rq_obj = p->sq_obj = -1;
	NEED((p->rq_obj < 0 && p->sq_obj < 0) || p->mode == INET_REPAIR);
	NEED(m->keeper || !m->keeper_start);
	p->keeper = (int)m->keeper;
	p->keeper_start = m->keeper_start;
	NEED(m->filter_len % 8 == 0 && (!m->filter_len || (p->filter = malloc(m->filter_len)) != NULL));
	if (m->filter_len)
		memcpy(p->filter, m->filter, m->filter_len);
	p->filterlen = m->filter_len;
	NEED(p->unsent >= 0 && (size_t)p->unsent <= p->sqlen);
	NEED(p->proto == IPPROTO_TCP || (p->state == INET_CLOSED || p->state == INET_UDP_CONNECTED));
	NEED((p->state == INET_DISCONNECTED) == (p->mode == INET_FINISHED || (p->mode == INET_RESET && p->state == INET_DISCONNECTED)));
	int conn = p->state == INET_ESTABLISHED || p->state == INET_FIN_WAIT2 || p->state == INET_CLOSE_WAIT || p->state == INET_FIN_WAIT1 ||
		   p->state == INET_CLOSING || p->state == INET_LAST_ACK;
	NEED(p->mode == INET_PLAIN || p->state == INET_DISCONNECTED || (p->proto == IPPROTO_TCP && conn && p->local[0] && p->remote[0]));
	NEED(!conn || p->mode != INET_PLAIN);
	NEED(p->state != INET_DISCONNECTED || (p->proto == IPPROTO_TCP && p->mode != INET_PLAIN));
	NEED(p->mode != INET_PEER_CLOSED || tcp_fin_in(p->state));
	p->finunsent = (int)m->finunsent;
	NEED(!p->finunsent || p->state == INET_FIN_WAIT1 || p->state == INET_CLOSING || p->state == INET_LAST_ACK);
	NEED(!tcp_fin_out(p->state) || p->finunsent || p->unsent == 0); /* a FIN sent: every byte before it too */
	if (m->dev) { /* a device name (dev_valid_name): 1-15 printable bytes, no '/' or ':' */
		size_t dl = strlen(m->dev);
		NEED(dl >= 1 && dl < sizeof p->dev && strcmp(m->dev, ".") && strcmp(m->dev, ".."));
		for (size_t i = 0; i < dl; i++)
			NEED(m->dev[i] > ' ' && m->dev[i] < 127 && m->dev[i] != '/' && m->dev[i] != ':');
		memcpy(p->dev, m->dev, dl + 1);
	}
	NEED(p->mode != INET_CONNECT || (p->state == INET_ESTABLISHED && !p->rqlen && !p->sqlen));
	NEED(p->state != INET_LISTEN || p->local[0]);
	return 0;
}

/* `inetcscov`: a UDP-Lite socket's checksum coverage (its file line came first) */
int on_plan_inetcscov(struct plan_in *in, struct msg_plan_inetcscov *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_INET && in->p->files[f].in->lite);
	in->p->files[f].in->cscov[0] = (int)m->send, in->p->files[f].in->cscov[1] = (int)m->recv;
	return 0;
}

/* `inetshut <file id> <how>`: a UDP (or UDP-Lite) socket's shutdown() state */
int on_plan_inetshut(struct plan_in *in, struct msg_plan_inetshut *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_INET &&
	     (in->p->files[f].in->proto == IPPROTO_UDP || in->p->files[f].in->proto == IPPROTO_UDPLITE));
	in->p->files[f].in->shutdown = (int)m->how;
	return 0;
}

/* `sockopts <file id> <list>`: the socket-level options of a unix socket (inet.h order) */

int on_plan_sockopts(struct plan_in *in, struct msg_plan_sockopts *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_UNIX);
	struct unix_plan *u = in->p->files[f].ux;
	for (int i = 0; i < INET_NOPTS; i++) {
		NEED(inet_opt_unix(i) || m->opts[i] == INET_OPT_UNSET);
		u->opts[i] = (int)m->opts[i];
	}
	u->have_opts = 1;
	return 0;
}
