/* Content objects of a restart, made by the helper before any task exists: shared anonymous
 * memory, memfds, unlinked and tmpfs files and removed directories (created again with their
 * holder's credentials, then given their owner and mode), filled by OBJECT records and sealed
 * last. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "proto.h"
#include "restore.h"

extern struct plan plan;

/* Makes an unlinked file (open O_RDWR) or a removed directory (open O_RDONLY) at path, with its
 * holder's credentials. */
static int make_at(const struct obj_plan *sp, const char *path, int mode)
{
	if (sp->kind != OBJ_DIR)
		return fs_open(sp->task, path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
	return fs_mkdir(sp->task, path, mode);
}

/* The directories above path that are gone (removed with it since the checkpoint), made again
 * from the top with the holder's credentials (mode 0700; removed again by drop_parents once the
 * object is made and removed): how many (their ends: the '/' after each in buf), -1 on error. */
#define MAX_PARENTS 64
static int make_parents(const struct obj_plan *sp, char *buf, int *ends)
{
	int n = 0;
	snprintf(buf, PATH_MAX, "%s", sp->name);
	for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		int fd = n < MAX_PARENTS ? fs_mkdir(sp->task, buf, 0700) : (errno = ENAMETOOLONG, -1);
		*s = '/';
		if (fd >= 0) {
			close(fd);
			ends[n++] = (int)(s - buf);
		} else if (errno != EEXIST || n) { /* below a directory made here, nothing exists */
			int e = errno;
			for (int i = n - 1; i >= 0; i--)
				buf[ends[i]] = 0, fs_rmdir(sp->task, buf), buf[ends[i]] = '/';
			errno = e;
			return -1;
		}
	}
	return n;
}

/* Removes again, deepest first, the directories make_parents made: 0, or -1 (errno). */
static int drop_parents(const struct obj_plan *sp, char *buf, const int *ends, int n)
{
	int r = 0;
	for (int i = n - 1; i >= 0; i--) {
		buf[ends[i]] = 0;
		if (fs_rmdir(sp->task, buf) < 0)
			r = -1;
		buf[ends[i]] = '/';
	}
	return r;
}

/* An open file whose path was unlinked, or a directory that was removed (a cwd, or held open):
 * created again with its holder's credentials (at its path if that is free, else at a temporary
 * name beside it), opened, and unlinked at once, so only its fds (and cwds) keep it. A removed
 * directory is always empty. It never gets set-ID bits back unless the image is trusted
 * (fs_mode). */
static int create_unlinked(struct obj_plan *sp)
{
	char tmp[PATH_MAX];
	const char *at = sp->name;
	int dir = sp->kind == OBJ_DIR;
	int mode = (int)fs_mode((mode_t)sp->mode) & 0777;
	int fd = make_at(sp, at, mode), ends[MAX_PARENTS], nparents = 0;
	char parents[PATH_MAX];
	if (fd < 0 && errno == ENOENT) { /* its directory went too */
		nparents = make_parents(sp, parents, ends);
		if (nparents > 0)
			fd = make_at(sp, at, mode);
		else if (nparents == 0)
			errno = ENOENT;
	} else if (fd < 0 && errno == EEXIST) {
		const char *slash = strrchr(sp->name, '/');
		snprintf(tmp, sizeof tmp, "%.*s/.ucr-unlinked-%d-%d", (int)(slash - sp->name), sp->name, (int)getpid(), sp->id);
		at = tmp;
		fd = make_at(sp, at, mode);
	}
	if (fd < 0) {
		int e = errno;
		drop_parents(sp, parents, ends, nparents < 0 ? 0 : nparents);
		return proto_fail("files", sp->name, e, "%s%s", dir ? "cannot create the removed directory again" : "cannot create the unlinked file again",
				  fs_who(sp->task));
	}
	files_created(at);
	if ((dir ? fs_rmdir(sp->task, at) : fs_unlink(sp->task, at)) < 0 || drop_parents(sp, parents, ends, nparents) < 0) {
		int e = errno;
		close(fd);
		return proto_fail("files", sp->name, e, "%s%s", dir ? "cannot remove the directory again" : "cannot unlink the file again", fs_who(sp->task));
	}
	return fd;
}

/* A file of tmpfs the tree mapped shared: still the very file of the checkpoint (same device
 * and inode: its contents are put back as they were), or gone (created again at its path with
 * its holder's credentials, removed again if the restart fails); another file at its path is
 * never used. Only ever on a tmpfs, whatever the image says. */
static int open_tmpfs(struct obj_plan *sp)
{
	char dir[PATH_MAX];
	struct statfs sf;
	snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(sp->name, '/') - sp->name) + 1, sp->name);
	int r = statfs(dir, &sf);
	if (r < 0 || sf.f_type != TMPFS_MAGIC)
		return proto_fail("files", sp->name, r < 0 ? errno : EXDEV, "its directory is not on a tmpfs");
	int created = 1;
	int fd = fs_open(sp->task, sp->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = 0;
		fd = fs_open(sp->task, sp->name, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0);
	}
	if (fd < 0)
		return proto_fail("files", sp->name, errno, "cannot create the tmpfs file again%s", fs_who(sp->task));
	if (created)
		files_created(sp->name);
	struct stat st;
	if (fstatfs(fd, &sf) < 0 || sf.f_type != TMPFS_MAGIC) {
		close(fd);
		return proto_fail("files", sp->name, EXDEV, "it is not on a tmpfs");
	}
	if (!created && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_dev != sp->dev || (uint64_t)st.st_ino != sp->ino)) {
		close(fd);
		return proto_fail("files", sp->name, EEXIST, "another file has taken its path since the checkpoint");
	}
	if (!created && ftruncate(fd, 0) < 0) { /* its pages are the image's: holes stay holes */
		int e = errno;
		close(fd);
		return proto_fail("files", sp->name, e, "cannot empty it");
	}
	return fd;
}

/* An owner the holder could give itself: its fsuid, and its fsgid or one of its groups (what
 * trust.ts already bounds an image to; checked again here unless the image is trusted). */
static int owner_allowed(const struct obj_plan *sp)
{
	if (plan.trusted)
		return 1;
	if (sp->task < 0 || sp->task >= plan.ntasks)
		return 0;
	const struct task_plan *t = &plan.tasks[sp->task];
	if (sp->uid != t->uid[3])
		return 0;
	if (sp->gid == t->gid[3])
		return 1;
	for (int i = 0; i < t->ngroups; i++)
		if (sp->gid == t->groups[i])
			return 1;
	return 0;
}

/* A memfd, unlinked or tmpfs file or removed directory gets its owner (by the helper: a memfd
 * is its own; bounded by owner_allowed), then its mode with its holder's credentials (a chown
 * clears set-ID bits; fs_mode keeps them only for a trusted image): before the seals
 * (F_SEAL_EXEC on an executable memfd would imply the write seals). */
static int set_owner_mode(struct obj_plan *sp, int fd)
{
	const char *what = sp->name ? sp->name : "object";
	if (sp->uid != (uid_t)-1 && !owner_allowed(sp))
		return proto_fail("files", what, EPERM, "its owner %u:%u is not its holder's%s", (unsigned)sp->uid, (unsigned)sp->gid, fs_who(sp->task));
	if (sp->uid != (uid_t)-1 && fchown(fd, sp->uid, sp->gid) < 0)
		return proto_fail("files", what, errno, "cannot give it its owner %u:%u back", (unsigned)sp->uid,
				  (unsigned)sp->gid);
	if (sp->mode >= 0 && fs_fchmod(sp->task, fd, (mode_t)sp->mode) < 0)
		return proto_fail("files", what, errno, "cannot give it its mode %04o back%s", sp->mode, fs_who(sp->task));
	return 0;
}

/* A memfd, executable or not as its mode says (a kernel with vm.memfd_noexec set would
 * otherwise make it non-executable and sealed so; MFD_EXEC is Linux 6.3). */
static int create_memfd(struct obj_plan *sp)
{
	unsigned flags = 1U | 2U; /* MFD_CLOEXEC | MFD_ALLOW_SEALING */
	int fd = -1;
	if (sp->mode >= 0 && (sp->mode & 0111))
		fd = (int)syscall(SYS_memfd_create, sp->name, flags | 0x10U /* MFD_EXEC */);
	if (fd < 0)
		fd = (int)syscall(SYS_memfd_create, sp->name, flags);
	return fd;
}

/* Shared anonymous memory is recreated as the kernel makes it (a shmem file named "dev/zero",
 * reached through /proc/self/map_files, which needs CAP_SYS_ADMIN; otherwise a memfd of that
 * name stands in); memfds with memfd_create. Sized now, filled by OBJECT records, sealed last. */
int open_objs(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->nobjs; i++) {
		struct obj_plan *sp = &c->plan->objs[i];
		char obj[48];
		snprintf(obj, sizeof obj, "shared memory object %d", sp->id);
		int fd = -1;
		if (sp->kind == OBJ_ANON) {
			void *m = mmap(NULL, sp->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				return proto_fail("files", obj, errno, "cannot create %llu bytes of shared memory",
						  (unsigned long long)sp->size);
			char path[80];
			snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)m,
				 (unsigned long)m + sp->size);
			fd = open(path, O_RDWR | O_CLOEXEC);
			munmap(m, sp->size);
			if (fd < 0)
				fd = (int)syscall(SYS_memfd_create, "dev/zero", 1U /* MFD_CLOEXEC */);
		} else if (sp->kind == OBJ_MEMFD) {
			fd = create_memfd(sp);
		} else if (sp->kind == OBJ_QUEUE) { /* read by restore_inet.c at release */
			fd = (int)syscall(SYS_memfd_create, "ucr-queue", 1U /* MFD_CLOEXEC */);
		} else if (sp->kind == OBJ_TMPFS) {
			if ((fd = open_tmpfs(sp)) < 0)
				return -1;
		} else if ((fd = create_unlinked(sp)) < 0) {
			return -1;
		}
		if (fd < 0 || (sp->kind != OBJ_DIR && ftruncate(fd, (off_t)sp->size) < 0))
			return proto_fail("files", obj, errno, "cannot create it");
		if (sp->kind != OBJ_ANON && sp->kind != OBJ_QUEUE && set_owner_mode(sp, fd) < 0) {
			close(fd);
			return -1;
		}
		sp->hfd = restore_high(fd);
		if (sp->hfd < 0)
			return proto_fail("files", obj, errno, "cannot place it");
	}
	return 0;
}

int obj_known(uint32_t id)
{
	return plan_find_obj(&plan, (int)id) >= 0;
}

/* A record's pages, up to the object's size: an object of any size ends inside its last page. */
int obj_fill(uint32_t id, uint64_t off, const void *buf, size_t len)
{
	int i = plan_find_obj(&plan, (int)id);
	if (i < 0) {
		errno = ENOENT;
		return -1;
	}
	const struct obj_plan *sp = &plan.objs[i];
	if (off >= sp->size)
		return 0;
	if (len > sp->size - off)
		len = (size_t)(sp->size - off);
	return pwrite(sp->hfd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

/* Once the contents are in: the memfds get their seals back, and memfds, unlinked files and
 * removed directories their access and modification times (the writes of the contents set them
 * to now; the change time cannot be set). */
int seal_objs(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->nobjs; i++) {
		struct obj_plan *sp = &c->plan->objs[i];
		if (sp->has_times && futimens(sp->hfd, sp->times) < 0)
			return proto_fail_sys("futimens", "pages", sp->name, errno, "cannot give %s its times back", sp->name);
		if (sp->kind == OBJ_MEMFD && sp->seals && fcntl(sp->hfd, F_ADD_SEALS, sp->seals) < 0)
			return proto_fail("pages", sp->name, errno, "cannot seal memfd %s", sp->name);
	}
	return 0;
}

