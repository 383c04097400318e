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
int cmd_object(char **w, int n)
{
	if (n != 2)
		return proto_fail("object", "command", EINVAL, "bad object command");
	int fd = open_object("object", w[1]);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return proto_fail("object", w[1], e, "cannot stat the shared memory object");
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		seals = 0;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	if (!out) {
		close(fd);
		return proto_fail("object", w[1], ENOMEM, "out of memory");
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
			return proto_fail("object", w[1], ENOMEM, "out of memory");
		}
		len += (size_t)snprintf(out + len, cap - len, "%s[%lld,%lld]", len ? "," : "", (long long)data,
					(long long)((hole - data) / (off_t)PAGE_SZ));
		pos = hole;
	}
	close(fd);
	proto_emit("{\"ev\":\"object\",\"size\":%lld,\"seals\":%d,\"mode\":%d,\"uid\":%u,\"gid\":%u,\"nlink\":%d,\"runs\":[%s]}",
		   (long long)st.st_size, seals, (int)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid,
		   (int)st.st_nlink, out);
	free(out);
	return 0;
}

/* `objdump <object id> <digest seed> <path>`, then `run <byte offset> <npages>` lines, then
 * `end`: the object's contents as OBJECT records on fd 3. */
int cmd_objdump(char **w, int n)
{
	uint64_t obj, seed;
	if (n != 4 || parse_u64(w[1], &obj) || parse_u64(w[2], &seed) || obj > 0xffffffffu)
		return proto_fail("dump-object", "command", EINVAL, "bad objdump command");
	size_t cap = 256, cnt = 0;
	struct page_run *runs = malloc(cap * sizeof *runs);
	char *line, *a[4];
	while (runs && (line = proto_readline()) && strcmp(line, "end") != 0) {
		uint64_t off, np;
		if (proto_split(line, a, 4) != 3 || strcmp(a[0], "run") || parse_u64(a[1], &off) ||
		    parse_u64(a[2], &np) || off % PAGE_SZ) {
			free(runs);
			return proto_fail("dump-object", "command", EINVAL, "bad run line");
		}
		if (cnt == cap && !(runs = realloc(runs, (cap *= 2) * sizeof *runs)))
			break;
		runs[cnt++] = (struct page_run){ .task = (uint32_t)obj, .obj = 1, .addr = off, .npages = np };
	}
	if (!runs)
		return proto_fail("dump-object", "command", ENOMEM, "out of memory");
	int fd = open_object("dump-object", w[3]);
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
	proto_emit("{\"ev\":\"objdump\",\"bytes\":%llu,\"stored\":%llu,\"records\":%llu,\"digest\":%u}",
		   (unsigned long long)bytes, (unsigned long long)pages_stored_since(0), (unsigned long long)records, digest);
	return 0;
}
