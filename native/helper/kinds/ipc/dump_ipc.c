/* Checkpoint of System V IPC objects (the coordinator decides which belong to the tree):
 *   ipc <pid>                  joins pid's IPC namespace (when it is not the helper's) and
 *                              reports /proc/sysvipc/{shm,sem,msg} as the namespace shows them
 *   sem <id> <nsems>           a semaphore set's values and last-operation pids (semctl)
 *   msg <id>                   a queue's byte limit and its messages, in order with their types,
 *                              read with msgrcv(MSG_COPY): nothing is dequeued
 *   shmdata <pid> <addr> <size> <segment index> <digest seed>
 *                              a segment's contents, read through the task's attachment at addr
 *                              and written to the image as SHM records (all-zero pages left out)
 * Contents never travel through the coordinator except message texts (bounded by msgmnb). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "helper.h"
#include "image.h"
#include "proto.h"
#include "proto_gen.h"
#include "tracee.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

union semun_u {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static char *read_text(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (ssize_t n; buf; len += (size_t)n) {
		if (len == cap && !(buf = realloc(buf, cap *= 2)))
			break;
		n = read(fd, buf + len, cap - len);
		if (n <= 0) {
			if (n < 0) {
				free(buf);
				buf = NULL;
			}
			break;
		}
	}
	close(fd);
	if (buf)
		buf[len < cap ? len : cap - 1] = 0;
	return buf;
}

int on_dump_ipc(struct dump_in *in, struct msg_dump_ipc *msg)
{
	(void)in;
	uint64_t pid = msg->pid;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/ipc", (int)pid);
	struct stat theirs, ours;
	if (stat(path, &theirs) < 0 || stat("/proc/self/ns/ipc", &ours) < 0)
		return proto_fail("ipc", "namespace", errno, "cannot read the IPC namespace of process %d", (int)pid);
	int own = theirs.st_ino != ours.st_ino;
	if (own) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWIPC) < 0)
			return proto_fail("ipc", "namespace", errno, "cannot enter the IPC namespace of process %d", (int)pid);
		close(fd);
	}
	static const char *const kinds[] = { "shm", "sem", "msg" };
	char *hex[3] = { 0 };
	for (int k = 0; k < 3; k++) {
		snprintf(path, sizeof path, "/proc/sysvipc/%s", kinds[k]);
		char *text = read_text(path);
		hex[k] = text ? hex_dup(text, strlen(text)) : NULL;
		free(text);
		if (!hex[k]) {
			for (int j = 0; j < k; j++)
				free(hex[j]);
			return proto_fail("ipc", path, errno, "cannot read the IPC objects");
		}
	}
	EMIT_IPC(.own = own, .shm = hex[0], .sem = hex[1], .msg = hex[2]);
	for (int k = 0; k < 3; k++)
		free(hex[k]);
	return 0;
}

/* Appends ",%llu" style numbers to a growing buffer. */
static char *append(char *buf, size_t *len, size_t *cap, const char *s)
{
	size_t l = strlen(s);
	if (*len + l + 1 > *cap) {
		*cap = (*len + l + 1) * 2;
		char *nb = realloc(buf, *cap);
		if (!nb) {
			free(buf);
			return NULL;
		}
		buf = nb;
	}
	memcpy(buf + *len, s, l + 1);
	*len += l;
	return buf;
}

int on_dump_sem(struct dump_in *in, struct msg_dump_sem *msg)
{
	(void)in;
	uint64_t id = msg->id, nsems = msg->nsems;
	char obj[48];
	snprintf(obj, sizeof obj, "semaphore set %d", (int)id);
	unsigned short *vals = calloc(nsems, sizeof *vals);
	if (!vals || semctl((int)id, 0, GETALL, (union semun_u){ .array = vals }) < 0) {
		int e = errno;
		free(vals);
		if (e == EACCES || e == EPERM || e == EINVAL || e == EIDRM) { /* not ours to read, or gone */
			EMIT_SEM(.denied = e, .has_denied = 1);
			return 0;
		}
		return proto_fail("sem", obj, e, "cannot read the semaphore values");
	}
	size_t len = 0, cap = 256, plen = 0, pcap = 256;
	char *out = malloc(cap), *pids = malloc(pcap), num[32];
	if (out)
		out[0] = '[', out[1] = 0, len = 1;
	if (pids)
		pids[0] = '[', pids[1] = 0, plen = 1;
	for (uint64_t i = 0; i < nsems && out && pids; i++) {
		snprintf(num, sizeof num, "%s%u", i ? "," : "", vals[i]);
		out = append(out, &len, &cap, num);
		int pid = semctl((int)id, (int)i, GETPID);
		snprintf(num, sizeof num, "%s%d", i ? "," : "", pid < 0 ? 0 : pid);
		pids = append(pids, &plen, &pcap, num);
	}
	out = out ? append(out, &len, &cap, "]") : NULL;
	pids = pids ? append(pids, &plen, &pcap, "]") : NULL;
	free(vals);
	if (!out || !pids) {
		free(out);
		free(pids);
		return proto_fail("sem", obj, ENOMEM, "out of memory");
	}
	EMIT_SEM(.values = out, .pids = pids);
	free(out);
	free(pids);
	return 0;
}

int on_dump_msg(struct dump_in *in, struct msg_dump_msg *msg)
{
	(void)in;
	uint64_t id = msg->id;
	char obj[48];
	snprintf(obj, sizeof obj, "message queue %d", (int)id);
	struct msqid_ds ds;
	if (msgctl((int)id, IPC_STAT, &ds) < 0)
		return proto_fail("msg", obj, errno, "cannot read the queue");
	/* one message is at most the whole queue's bytes */
	size_t bufsz = ds.__msg_cbytes + 1;
	struct { long type; char text[]; } *m = malloc(sizeof(long) + bufsz);
	size_t len = 0, cap = 256;
	char *out = malloc(cap);
	if (out)
		out[0] = 0;
	for (unsigned long i = 0; i < ds.msg_qnum && out && m; i++) {
		ssize_t got = msgrcv((int)id, m, bufsz, (long)i, IPC_NOWAIT | MSG_COPY);
		if (got < 0) {
			int e = errno;
			free(m);
			free(out);
			if (e == ENOSYS)
				return proto_fail("msg", obj, e, "msgrcv(MSG_COPY) is not available (kernel without CONFIG_CHECKPOINT_RESTORE)");
			return proto_fail("msg", obj, e, "cannot copy message %lu of %lu", i, (unsigned long)ds.msg_qnum);
		}
		char head[48];
		snprintf(head, sizeof head, "%s[\"%ld\",\"", i ? "," : "", m->type);
		char *hx = hex_dup(m->text, (size_t)got);
		out = append(out, &len, &cap, head);
		out = out && hx ? append(out, &len, &cap, hx) : NULL;
		out = out ? append(out, &len, &cap, "\"]") : NULL;
		free(hx);
	}
	free(m);
	if (!out)
		return proto_fail("msg", obj, ENOMEM, "out of memory");
	char *arr = proto_json_array(out, strlen(out));
	if (!arr)
		return free(out), proto_fail("msg", obj, ENOMEM, "out of memory");
	EMIT_MSG(.qbytes = (uint64_t)ds.msg_qbytes, .messages = arr);
	free(arr);
	free(out);
	return 0;
}

static int all_zero(const unsigned char *p)
{
	static const unsigned char zero[PAGE_SZ];
	return !memcmp(p, zero, PAGE_SZ);
}

static int write_shm_record(int out, uint32_t seg, uint64_t off, const unsigned char *data, uint64_t npages,
			    uint32_t *digest, uint64_t *bytes, uint64_t *records)
{
	struct pages_hdr h = { .task = seg, .npages = (uint32_t)npages, .addr = off };
	size_t len = npages * PAGE_SZ;
	uint32_t crc = ucr_crc32c(ucr_crc32c(0, &h, sizeof h), data, len);
	struct rec_frame f = { .kind = REC_SHM, .crc = crc, .len = sizeof h + len };
	if (write_full(out, &f, sizeof f) < 0 || write_full(out, &h, sizeof h) < 0 || write_full(out, data, len) < 0)
		return proto_fail("dump-shm", "image", errno, "cannot write the image");
	*digest = digest_add(*digest, crc);
	*bytes += len;
	(*records)++;
	return 0;
}

int on_dump_shmdata(struct dump_in *in, struct msg_dump_shmdata *msg)
{
	(void)in;
	uint64_t pid = msg->pid, addr = msg->addr, size = msg->size, seg = msg->seg, seed = msg->seed;
	if (addr % PAGE_SZ)
		return proto_fail("dump-shm", "command", EINVAL, "bad shmdata command");
	static unsigned char *buf;
	if (!buf && !(buf = malloc(MAX_CHUNK_PAGES * PAGE_SZ)))
		return proto_fail("dump-shm", "buffer", ENOMEM, "cannot allocate the buffer");
	uint64_t total = (size + PAGE_SZ - 1) / PAGE_SZ, bytes = 0, records = 0;
	uint32_t digest = (uint32_t)seed;
	for (uint64_t done = 0; done < total;) {
		uint64_t cnt = total - done < MAX_CHUNK_PAGES ? total - done : MAX_CHUNK_PAGES;
		if (t_read_mem((pid_t)pid, addr + done * PAGE_SZ, buf, cnt * PAGE_SZ) < 0) {
			char obj[64];
			snprintf(obj, sizeof obj, "shared memory at 0x%llx", (unsigned long long)(addr + done * PAGE_SZ));
			return proto_fail("dump-shm", obj, errno, "cannot read the segment through process %d", (int)pid);
		}
		/* runs of pages that are not all zero (a new segment is zero-filled) */
		for (uint64_t i = 0; i < cnt;) {
			if (all_zero(buf + i * PAGE_SZ)) {
				i++;
				continue;
			}
			uint64_t j = i;
			while (j < cnt && !all_zero(buf + j * PAGE_SZ))
				j++;
			if (write_shm_record(3, (uint32_t)seg, (done + i) * PAGE_SZ, buf + i * PAGE_SZ, j - i, &digest, &bytes,
					     &records) < 0)
				return -1;
			i = j;
		}
		done += cnt;
	}
	EMIT_SHMDATA(.bytes = bytes, .records = records, .digest = digest);
	return 0;
}
