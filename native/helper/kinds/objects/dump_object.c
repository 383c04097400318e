/* Checkpoint of content objects (shared anonymous memory, memfds, open files whose path was
 * unlinked): their size, seals, mode and which pages hold data, then their contents as OBJECT
 * records. The object is reached by a path the coordinator chose: /proc/PID/fd/N of an fd of
 * it, or /proc/PID/map_files/START-END of a mapping (which needs CAP_SYS_ADMIN). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"
#include "image.h"
#include "proto.h"
#include "proto_gen.h"
#include "dump.h"

static int open_object(const char *phase, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		proto_fail(phase, path, errno, errno == EPERM || errno == EACCES
			   ? "cannot open the shared memory object (reading a mapping's object needs CAP_SYS_ADMIN)"
			   : "cannot open the shared memory object");
	return fd;
}

/* `object <path>`: size, seals, mode, owner, link count and the runs of pages that hold data
 * (SEEK_DATA/SEEK_HOLE):
 * {"ev":"object","size":N,"seals":S,"mode":M,"uid":U,"gid":G,"nlink":L,"runs":[[byte offset,npages],...]} */
int on_dump_object(struct dump_in *in, struct msg_dump_object *msg)
{
	(void)in;
	const char *path = msg->path;
	int fd = open_object("object", path);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return proto_fail("object", path, e, "cannot stat the shared memory object");
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		seals = 0;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	if (!out) {
		close(fd);
		return proto_fail("object", path, ENOMEM, "out of memory");
	}
	out[0] = 0;
	off_t end = (off_t)((st.st_size + PAGE_SZ - 1) & ~(PAGE_SZ - 1));
	for (off_t pos = 0; pos < end;) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			break; /* ENXIO: no data after pos */
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		data &= ~(off_t)(PAGE_SZ - 1);
		hole = (hole + (off_t)PAGE_SZ - 1) & ~(off_t)(PAGE_SZ - 1);
		if (len + 64 > cap && !(out = realloc(out, cap *= 2))) {
			close(fd);
			return proto_fail("object", path, ENOMEM, "out of memory");
		}
		len += (size_t)snprintf(out + len, cap - len, "%s[%lld,%lld]", len ? "," : "", (long long)data,
					(long long)((hole - data) / (off_t)PAGE_SZ));
		pos = hole;
	}
	close(fd);
	char *runs = proto_json_array(out, len);
	free(out);
	if (!runs)
		return proto_fail("object", path, ENOMEM, "out of memory");
	EMIT_OBJECT(.size = st.st_size, .seals = seals, .mode = st.st_mode & 07777, .uid = st.st_uid, .gid = st.st_gid,
		    .nlink = (int64_t)st.st_nlink, .atime_s = st.st_atim.tv_sec, .atime_ns = st.st_atim.tv_nsec,
		    .mtime_s = st.st_mtim.tv_sec, .mtime_ns = st.st_mtim.tv_nsec, .runs = runs);
	free(runs);
	return 0;
}

/* `objdump <object id> <digest seed> <path>`, then `run <byte offset> <npages>` lines, then
 * `end`: the object's contents as OBJECT records on fd 3. */
int on_dump_objdump(struct dump_in *in, struct msg_dump_objdump *msg)
{
	(void)in;
	uint64_t obj = msg->obj, seed = msg->seed;
	struct runs_in ri = { .task = (uint32_t)obj, .obj = 1 };
	if (dump_read_runs(&ri) < 0)
		return -1;
	struct page_run *runs = ri.runs;
	size_t cnt = ri.count;
	int fd = open_object("dump-object", msg->path);
	if (fd < 0) {
		free(runs);
		return -1;
	}
	uint32_t digest = (uint32_t)seed;
	uint64_t bytes = 0, records = 0;
	pages_stored_since(1);
	int r = object_dump(fd, (uint32_t)obj, runs, cnt, 3, &digest, &bytes, &records);
	close(fd);
	free(runs);
	if (r < 0)
		return -1;
	EMIT_OBJDUMP(.bytes = bytes, .stored = pages_stored_since(0), .records = records, .digest = digest);
	return 0;
}
