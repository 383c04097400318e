#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore.h"

/* Files the restart made in the file system (socket files it bound, unlinked files it created
 * again), removed if the restart fails: each only while it is still the file made (same device
 * and inode), so nothing that took the path meanwhile is touched. files_undo() runs from a
 * signal handler too: lstat and unlink only. */
struct made_file {
	char *path;
	dev_t dev;
	ino_t ino;
};
static struct made_file *made;
static int nmade;

void files_created(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	struct made_file *more = realloc(made, (size_t)(nmade + 1) * sizeof *made);
	if (!more)
		return;
	made = more;
	made[nmade] = (struct made_file){ strdup(path), st.st_dev, st.st_ino };
	if (made[nmade].path)
		nmade++;
}

void files_undo(void)
{
	for (int i = 0; i < nmade; i++) {
		struct stat st;
		if (made[i].path && lstat(made[i].path, &st) == 0 && st.st_dev == made[i].dev && st.st_ino == made[i].ino)
			(S_ISDIR(st.st_mode) ? rmdir : unlink)(made[i].path);
	}
	nmade = 0;
}
