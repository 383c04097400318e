/* The plan line of a TCP or UDP socket (format in plan.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inet.h"
#include "plan_parse.h"
#include "proto.h"

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

static int ints(const char *s, int64_t *v, int count)
{
	for (int i = 0; i < count; i++) {
		char *end;
		errno = 0;
		v[i] = strtoll(s, &end, 0);
		if (errno || end == s || (i + 1 < count ? *end != ',' : *end != 0))
			return -1;
		s = end + 1;
	}
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

/* sockopts <file id> <list>: the socket-level options of a unix socket (inet.h order) */
int plan_add_sockopts(struct plan *pl, char **w, int n)
{
	int64_t opts[INET_NOPTS];
	uint64_t id;
	NEED(n == 3 && !parse_u64(w[1], &id) && id < (1u << 30) && !ints(w[2], opts, INET_NOPTS));
	int f = plan_find_file(pl, (int)id);
	NEED(f >= 0 && pl->files[f].kind == FILE_UNIX);
	struct unix_plan *u = pl->files[f].ux;
	for (int i = 0; i < INET_NOPTS; i++) {
		NEED(opts[i] >= INT32_MIN && opts[i] <= 0x7fffffff && (inet_opt_unix(i) || opts[i] == INET_OPT_UNSET));
		u->opts[i] = (int)opts[i];
	}
	u->have_opts = 1;
	return 0;
}

int plan_inet_file(const struct plan *pl, struct file_plan *f, char **w, int n)
{
	int64_t opts[INET_NOPTS], win[5];
	NEED(n == 27);
	static const int num[] = { 3, 4, 5, 6, 7, 9, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21 };
	int64_t a[16];
	for (int i = 0; i < 16; i++)
		NEED(!parse_i64(w[num[i]], &a[i]));
	NEED((a[0] == 4 || a[0] == 6) && (a[1] == IPPROTO_TCP || a[1] == IPPROTO_UDP) && a[2] >= 0 && a[2] <= 0xffffffffLL);
	NEED(a[3] >= INET_CLOSED && a[3] <= INET_DISCONNECTED && a[4] >= INET_PLAIN && a[4] <= INET_CONNECT);
	NEED(a[5] >= 0 && a[5] <= 65535 && a[6] >= 0 && a[6] <= 65535 && a[7] >= 0 && a[7] <= 65535);
	for (int i = 8; i < 11; i++)
		NEED(a[i] >= 0 && a[i] <= 0xffffffffLL);
	NEED(a[11] >= 0 && a[11] <= 65535 && a[12] >= 0 && a[12] <= 14 && a[13] >= 0 && a[13] <= 14 && a[14] >= 0 && a[14] <= 255);
	NEED(a[15] >= 0 && a[15] <= 0xffffffffLL);
	_Static_assert(INET_NOPTS <= INET_NOPTS_MAX && INET_NOPTS_MAX == sizeof ((struct inet_plan *)0)->opts / sizeof(int), "inet options");
	NEED(!ints(w[13], opts, INET_NOPTS) && !ints(w[22], win, 5));
	struct inet_plan *p = calloc(1, sizeof *p);
	NEED(p != NULL);
	f->kind = FILE_INET;
	f->in = p;
	p->family = (int)a[0], p->proto = (int)a[1], f->flags = (int)a[2], p->state = (int)a[3], p->mode = (int)a[4];
	p->lport = (int)a[5], p->rport = (int)a[6], p->backlog = (int)a[7];
	p->inseq = (uint32_t)a[8], p->outseq = (uint32_t)a[9], p->unsent = (int)a[10], p->mss = (int)a[11];
	p->sndws = (int)a[12], p->rcvws = (int)a[13], p->tcpopts = (int)a[14], p->timestamp = (uint32_t)a[15];
	NEED(!addr_word(w[8], p->family, p->local) && !addr_word(w[10], p->family, p->remote));
	for (int i = 0; i < INET_NOPTS; i++) {
		NEED(opts[i] >= INT32_MIN && opts[i] <= 0x7fffffff); /* INT32_MIN: not recorded (INET_OPT_UNSET) */
		p->opts[i] = (int)opts[i];
	}
	for (int i = 0; i < 5; i++) {
		NEED(win[i] >= 0 && win[i] <= 0xffffffffLL);
		p->window[i] = (uint32_t)win[i];
	}
	if (p->proto == IPPROTO_UDP)
		NEED(!dgram_word(w[23], p) && !strcmp(w[24], "-"));
	else
		NEED(!queue_word(pl, w[23], &p->rq, &p->rqlen, &p->rq_obj) && !queue_word(pl, w[24], &p->sq, &p->sqlen, &p->sq_obj));
	if (p->proto == IPPROTO_UDP)
		p->rq_obj = p->sq_obj = -1;
	NEED((p->rq_obj < 0 && p->sq_obj < 0) || p->mode == INET_REPAIR);
	if (strcmp(w[25], "-")) {
		char *slash = strchr(w[25], '/');
		int64_t kp;
		NEED(slash != NULL);
		*slash = 0;
		NEED(!parse_i64(w[25], &kp) && kp > 0 && kp < (1 << 22) && !parse_u64(slash + 1, &p->keeper_start));
		p->keeper = (int)kp;
	}
	NEED(!queue_word(pl, w[26], &p->filter, &p->filterlen, NULL) && p->filterlen % 8 == 0 && p->filterlen <= 4096 * 8);
	NEED(p->unsent >= 0 && (size_t)p->unsent <= p->sqlen);
	NEED(p->proto == IPPROTO_TCP || (p->state == INET_CLOSED || p->state == INET_UDP_CONNECTED));
	NEED((p->state == INET_DISCONNECTED) == (p->mode == INET_FINISHED || (p->mode == INET_RESET && p->state == INET_DISCONNECTED)));
	NEED(p->mode == INET_PLAIN || p->state == INET_DISCONNECTED ||
	     (p->proto == IPPROTO_TCP && p->state >= INET_ESTABLISHED && p->state <= INET_CLOSE_WAIT && p->local[0] && p->remote[0]));
	NEED(p->state != INET_DISCONNECTED || (p->proto == IPPROTO_TCP && p->mode != INET_PLAIN));
	NEED(p->mode != INET_PEER_CLOSED || p->state == INET_CLOSE_WAIT);
	NEED(p->mode != INET_CONNECT || (p->state == INET_ESTABLISHED && !p->rqlen && !p->sqlen));
	NEED(p->state != INET_LISTEN || p->local[0]);
	return 0;
}
