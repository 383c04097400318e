/* Internal to fscred.c (credentials and agents) and fsops.c (the actions). */
#ifndef UCR_FSCRED_H
#define UCR_FSCRED_H
#include <limits.h>

enum fs_op { FS_OPEN = 1, FS_OPENDIR, FS_CHECKED, FS_UNLINK, FS_STALE, FS_BIND, FS_CONNECT, FS_CHOWN, FS_CHMOD, FS_FCHMOD, FS_WATCH, FS_MKDIR, FS_RMDIR, FS_ACCESSFD, FS_MKNOD, FS_MKFIFO, FS_SYMLINK };

/* One action: what fsops.c does, here or in an agent. */
#define FS_ADDR_MAX 128
struct fsreq {
	int op, flags, mode, uid, gid;
	unsigned alen; /* FS_BIND, FS_CONNECT: the address (in path); flags 1: a relative name, in
			* the directory at path + FS_ADDR_MAX */
	unsigned long long rdev; /* FS_MKNOD */
	char path[PATH_MAX];
};

extern int fs_in_agent; /* this process is an agent */
/* Runs r for task (in the helper when its credentials are the helper's, else through its agent);
 * fd: one passed along (-1: none); *out: the fd that comes back (-1: none). Like a system call. */
int fs_call(int task, struct fsreq *r, int fd, int *out);
/* Does r itself. */
int fs_do(const struct fsreq *r, int fd, int *out);
#endif
