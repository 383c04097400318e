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

static struct ipc_plan *new_ipc(struct plan *p, enum ipc_kind kind, int64_t id, int64_t key, uint64_t mode, uint64_t uid,
				uint64_t gid, uint64_t cuid, uint64_t cgid)
{
	struct ipc_plan *o = GROW(p->ipcs, p->nipcs);
	if (!o) {
		proto_fail("plan", "ipc", ENOMEM, "out of memory");
		return NULL;
	}
	*o = (struct ipc_plan){ .kind = kind, .id = (int)id, .key = (int)key, .mode = (uint32_t)mode, .uid = (uint32_t)uid,
				.gid = (uint32_t)gid, .cuid = (uint32_t)cuid, .cgid = (uint32_t)cgid, .new_id = -1, .keep = 1 };
	return o;
}

int on_plan_shm(struct plan_in *in, struct msg_plan_shm *m)
{
	struct ipc_plan *o = new_ipc(in->p, IPC_KIND_SHM, m->id, m->key, m->mode, m->uid, m->gid, m->cuid, m->cgid);
	if (!o)
		return -1;
	o->size = m->size, o->destroyed = (int)m->destroyed, o->locked = (int)m->locked, o->keep = (int)m->keep;
	return 0;
}

int on_plan_sem(struct plan_in *in, struct msg_plan_sem *m)
{
	struct ipc_plan *o = new_ipc(in->p, IPC_KIND_SEM, m->id, m->key, m->mode, m->uid, m->gid, m->cuid, m->cgid);
	if (!o)
		return -1;
	NEED((o->values = malloc(m->values_count * sizeof *o->values)) != NULL);
	for (size_t i = 0; i < m->values_count; i++)
		o->values[i] = (unsigned short)m->values[i];
	o->nsems = (int)m->values_count;
	return 0;
}

int on_plan_msg(struct plan_in *in, struct msg_plan_msg *m)
{
	NEED(messages_ok(m->data, m->data_len));
	struct ipc_plan *o = new_ipc(in->p, IPC_KIND_MSG, m->id, m->key, m->mode, m->uid, m->gid, m->cuid, m->cgid);
	if (!o)
		return -1;
	o->size = m->qbytes;
	if (m->data_len) {
		NEED((o->data = malloc(m->data_len)) != NULL);
		memcpy(o->data, m->data, m->data_len);
		o->len = m->data_len;
	}
	return 0;
}
