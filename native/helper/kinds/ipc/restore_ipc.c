/* System V IPC on restart: the helper recreates every object of the plan before any task
 * exists (in a new IPC namespace with `ipcns 1`), at its old id (written to
 * /proc/sys/kernel/{shm,sem,msg}_next_id right before the get call) and key, with its mode,
 * owner and creator, then its contents: semaphore values, queued messages in order, and for a
 * segment the helper's own attachment that the SHM records of the image fill. Tasks attach
 * segments in their map step (restore_task.c); a segment that was marked for destruction is
 * marked again at once: the helper's attachment keeps it alive until the tasks hold theirs.
 * Any failure removes everything created so far. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "crc32c.h"
#include "image.h"
#include "proto.h"
#include "restore.h"

extern struct plan plan;

union semun_u {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static const char *kind_name(enum ipc_kind k)
{
	return k == IPC_KIND_SHM ? "shm" : k == IPC_KIND_SEM ? "sem" : "msg";
}

static const char *obj_name(const struct ipc_plan *o, char *buf, size_t len)
{
	static const char *const what[] = { "", "shared memory segment", "semaphore set", "message queue" };
	snprintf(buf, len, "%s %d", what[o->kind], o->id);
	return buf;
}

static int set_next_id(const struct ipc_plan *o)
{
	char path[64], num[16];
	snprintf(path, sizeof path, "/proc/sys/kernel/%s_next_id", kind_name(o->kind));
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int len = snprintf(num, sizeof num, "%d", o->id);
	int r = fd >= 0 && write(fd, num, (size_t)len) == len ? 0 : -1;
	int e = errno;
	if (fd >= 0)
		close(fd);
	errno = e;
	return r;
}

static void remove_one(struct ipc_plan *o)
{
	if (o->addr) {
		shmdt(o->addr);
		o->addr = NULL;
	}
	if (o->new_id < 0)
		return;
	if (o->kind == IPC_KIND_SHM)
		shmctl(o->new_id, IPC_RMID, NULL);
	else if (o->kind == IPC_KIND_SEM)
		semctl(o->new_id, 0, IPC_RMID);
	else
		msgctl(o->new_id, IPC_RMID, NULL);
	o->new_id = -1;
}

/* The get call, as the object's creator (cuid/cgid), so IPC_STAT shows the same creator. */
static int get_as_creator(struct ipc_plan *o)
{
	int flags = (int)(o->mode & 0777) | IPC_CREAT | IPC_EXCL;
	uid_t euid = geteuid();
	gid_t egid = getegid();
	int as = o->cuid != euid || o->cgid != egid;
	if (as && (setegid(o->cgid) < 0 || seteuid(o->cuid) < 0)) {
		int e = errno;
		setegid(egid);
		errno = e;
		return -2;
	}
	int id;
	if (o->kind == IPC_KIND_SHM)
		id = shmget(o->key, o->size, flags);
	else if (o->kind == IPC_KIND_SEM)
		id = semget(o->key, o->nsems, flags);
	else
		id = msgget(o->key, flags);
	int e = errno;
	if (as && (seteuid(euid) < 0 || setegid(egid) < 0))
		abort(); /* cannot happen: the saved uid is the helper's */
	errno = e;
	return id;
}

static int set_owner(struct ipc_plan *o)
{
	if (o->kind == IPC_KIND_SHM) {
		struct shmid_ds ds;
		if (shmctl(o->new_id, IPC_STAT, &ds) < 0)
			return -1;
		ds.shm_perm.uid = o->uid, ds.shm_perm.gid = o->gid, ds.shm_perm.mode = o->mode & 0777;
		return shmctl(o->new_id, IPC_SET, &ds);
	}
	if (o->kind == IPC_KIND_SEM) {
		struct semid_ds ds;
		if (semctl(o->new_id, 0, IPC_STAT, (union semun_u){ .buf = &ds }) < 0)
			return -1;
		ds.sem_perm.uid = o->uid, ds.sem_perm.gid = o->gid, ds.sem_perm.mode = o->mode & 0777;
		return semctl(o->new_id, 0, IPC_SET, (union semun_u){ .buf = &ds });
	}
	struct msqid_ds ds;
	if (msgctl(o->new_id, IPC_STAT, &ds) < 0)
		return -1;
	ds.msg_perm.uid = o->uid, ds.msg_perm.gid = o->gid, ds.msg_perm.mode = o->mode & 0777;
	ds.msg_qbytes = o->size;
	return msgctl(o->new_id, IPC_SET, &ds);
}

static int fill(struct ipc_plan *o, const char *obj)
{
	if (o->kind == IPC_KIND_SEM) {
		if (semctl(o->new_id, 0, SETALL, (union semun_u){ .array = o->values }) < 0)
			return proto_fail("ipc", obj, errno, "cannot set the semaphore values");
		return 0;
	}
	if (o->kind == IPC_KIND_MSG) {
		struct { long type; char text[]; } *m = malloc(sizeof(long) + o->len + 1);
		if (!m)
			return proto_fail("ipc", obj, ENOMEM, "out of memory");
		for (size_t off = 0; off < o->len;) {
			uint64_t type;
			uint32_t l;
			memcpy(&type, o->data + off, 8);
			memcpy(&l, o->data + off + 8, 4);
			m->type = (long)type;
			memcpy(m->text, o->data + off + 12, l);
			off += 12 + l;
			if (msgsnd(o->new_id, m, l, IPC_NOWAIT) < 0) {
				int e = errno;
				free(m);
				return proto_fail("ipc", obj, e, "cannot queue a message of %u bytes again", l);
			}
		}
		free(m);
		return 0;
	}
	if (o->locked && shmctl(o->new_id, SHM_LOCK, NULL) < 0)
		return proto_fail("ipc", obj, errno, "cannot lock the segment in memory (SHM_LOCK)");
	void *a = shmat(o->new_id, NULL, 0);
	if (a == (void *)-1)
		return proto_fail("ipc", obj, errno, "cannot attach the segment to fill it");
	o->addr = a;
	/* only the helper holds this attachment: tasks and tracers do not inherit it */
	if (madvise(a, (o->size + PAGE_SZ - 1) / PAGE_SZ * PAGE_SZ, MADV_DONTFORK) < 0)
		return proto_fail("ipc", obj, errno, "cannot keep the segment from being inherited");
	if (o->destroyed && shmctl(o->new_id, IPC_RMID, NULL) < 0)
		return proto_fail("ipc", obj, errno, "cannot mark the segment for destruction again");
	return 0;
}

int ipc_create(struct restore_ctx *c)
{
	if (c->plan->ipcns && unshare(CLONE_NEWIPC) < 0)
		return proto_fail("ipc", "namespace", errno, "cannot create a new IPC namespace");
	for (int i = 0; i < c->plan->nipcs; i++) {
		struct ipc_plan *o = &c->plan->ipcs[i];
		char obj[64];
		obj_name(o, obj, sizeof obj);
		if (o->keep && set_next_id(o) < 0)
			return proto_fail("ipc", obj, errno, "cannot choose the id (/proc/sys/kernel/%s_next_id)", kind_name(o->kind));
		int id = get_as_creator(o);
		if (id == -2)
			return proto_fail("ipc", obj, errno, "cannot act as its creator uid %u gid %u", o->cuid, o->cgid);
		if (id < 0 && errno == EEXIST)
			return proto_fail("ipc", obj, errno, "key 0x%x is taken in this IPC namespace", (unsigned)o->key);
		if (id < 0)
			return proto_fail("ipc", obj, errno, "cannot create it again");
		o->new_id = id;
		if (o->keep && id != o->id)
			return proto_fail("ipc", obj, EEXIST, "id %d is taken in this IPC namespace (the kernel gave %d)", o->id, id);
		if (set_owner(o) < 0)
			return proto_fail("ipc", obj, errno, "cannot set its owner and mode");
		if (fill(o, obj) < 0)
			return -1;
	}
	return 0;
}

int ipc_shm_id(int image_id)
{
	for (int i = 0; i < plan.nipcs; i++)
		if (plan.ipcs[i].kind == IPC_KIND_SHM && plan.ipcs[i].id == image_id)
			return plan.ipcs[i].new_id;
	return -1;
}

void ipc_release(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->nipcs; i++)
		if (c->plan->ipcs[i].addr) {
			shmdt(c->plan->ipcs[i].addr);
			c->plan->ipcs[i].addr = NULL;
		}
}

void ipc_undo(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->nipcs; i++)
		remove_one(&c->plan->ipcs[i]);
}

/* SHM records: segment index = the n-th shm object of the plan; offsets rise within a segment. */
int ipc_shm_payload(const unsigned char *payload, uint64_t plen, uint32_t crc, uint32_t want_crc, uint32_t *digest,
		    int check_only, uint64_t *bytes)
{
	static int last_seg = -1;
	static uint64_t next_off;
	struct pages_hdr h;
	if (plen < sizeof h)
		return proto_fail("restore-shm", "image", 0, "truncated or corrupt shared memory record");
	memcpy(&h, payload, sizeof h);
	struct ipc_plan *o = NULL;
	for (int i = 0, k = 0; i < plan.nipcs && !o; i++)
		if (plan.ipcs[i].kind == IPC_KIND_SHM && k++ == (int)h.task)
			o = &plan.ipcs[i];
	uint64_t len = (uint64_t)h.npages * PAGE_SZ;
	uint64_t rounded = o ? (o->size + PAGE_SZ - 1) / PAGE_SZ * PAGE_SZ : 0;
	if (!o || (!o->addr && !check_only) || (int)h.task < last_seg || ((int)h.task == last_seg && h.addr < next_off) ||
	    h.addr % PAGE_SZ || h.npages == 0 || h.npages > MAX_CHUNK_PAGES || h.addr > rounded ||
	    len > rounded - h.addr || plen != sizeof h + len)
		return proto_fail("restore-shm", "image", 0, "corrupt image: a shared memory record does not match the segments");
	if (crc != want_crc)
		return proto_fail("restore-shm", "image", 0, "corrupt image: shared memory record checksum mismatch");
	if (!check_only)
		memcpy((unsigned char *)o->addr + h.addr, payload + sizeof h, len);
	last_seg = (int)h.task;
	next_off = h.addr + len;
	*digest = digest_add(*digest, crc);
	*bytes += len;
	return 0;
}
