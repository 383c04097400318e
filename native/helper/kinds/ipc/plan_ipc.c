/* Plan lines for the System V objects the helper creates before any task (plan.h):
 *   shm <id> <key> <mode> <uid> <gid> <cuid> <cgid> <size> <destroyed> <locked> <keep id 0|1>
 *   sem <id> <key> <mode> <uid> <gid> <cuid> <cgid> <v,v,...>
 *   msg <id> <key> <mode> <uid> <gid> <cuid> <cgid> <qbytes> <hex messages|->            */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_parse.h"
#include "proto.h"

#define IPC_MAX_SIZE (1ULL << 40)

/* Messages: u64 type | u32 length | text, repeated; every type > 0, every length in bounds. */
static int messages_ok(const unsigned char *d, size_t len)
{
	for (size_t o = 0; o < len;) {
		uint64_t type;
		uint32_t l;
		if (len - o < 12)
			return 0;
		memcpy(&type, d + o, 8);
		memcpy(&l, d + o + 8, 4);
		o += 12;
		if (type == 0 || type > 0x7fffffffffffffffULL || l > len - o)
			return 0;
		o += l;
	}
	return 1;
}

int plan_add_ipc(struct plan *p, char **w, int n)
{
	int64_t id, key;
	uint64_t v[5];
	NEED(n >= 9 && !parse_i64(w[1], &id) && id >= 0 && id <= 0x7fffffff && !parse_i64(w[2], &key) &&
	     key >= -0x80000000LL && key <= 0x7fffffffLL && plan_u64s(w, 3, 5, v) == 0 && v[0] <= 07777);
	for (int i = 1; i < 5; i++)
		NEED(v[i] <= 0xffffffffu);
	struct ipc_plan *o = GROW(p->ipcs, p->nipcs);
	NEED(o != NULL);
	o->id = (int)id;
	o->key = (int)key;
	o->mode = (uint32_t)v[0], o->uid = (uint32_t)v[1], o->gid = (uint32_t)v[2];
	o->cuid = (uint32_t)v[3], o->cgid = (uint32_t)v[4];
	o->new_id = -1;
	o->keep = 1;
	if (!strcmp(w[0], "shm")) {
		uint64_t a[4];
		NEED(n == 12 && plan_u64s(w, 8, 4, a) == 0 && a[0] > 0 && a[0] <= IPC_MAX_SIZE && a[1] <= 1 && a[2] <= 1 &&
		     a[3] <= 1);
		o->kind = IPC_KIND_SHM;
		o->size = a[0], o->destroyed = (int)a[1], o->locked = (int)a[2], o->keep = (int)a[3];
	} else if (!strcmp(w[0], "sem")) {
		NEED(n == 9);
		o->kind = IPC_KIND_SEM;
		char *save = NULL;
		for (char *s = strtok_r(w[8], ",", &save); s; s = strtok_r(NULL, ",", &save)) {
			uint64_t x;
			NEED(o->nsems < 65536 && !parse_u64(s, &x) && x <= 32767);
			unsigned short *nv = realloc(o->values, (size_t)(o->nsems + 1) * sizeof *nv);
			NEED(nv != NULL);
			o->values = nv;
			o->values[o->nsems++] = (unsigned short)x;
		}
		NEED(o->nsems > 0);
	} else {
		NEED(!strcmp(w[0], "msg") && n == 10 && !parse_u64(w[8], &o->size) && o->size <= 0x7fffffff);
		o->kind = IPC_KIND_MSG;
		if (strcmp(w[9], "-")) {
			o->len = strlen(w[9]) / 2;
			NEED((o->data = malloc(o->len)) != NULL && hex_decode(w[9], o->data, o->len) == (long)o->len &&
			     messages_ok(o->data, o->len));
		}
	}
	return 0;
}
