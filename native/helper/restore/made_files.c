#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore.h"

/* Paths the restart made in the file system, removed if the restart fails: each only while it
 * is still the one made (same device and inode), so nothing that took the path meanwhile is
 * touched. Two lists: the files here (socket files it bound, unlinked files it created again),
 * and the cgroup directories (restore_cgroup.c: removed deepest first, once the tasks left). */

void made_add(struct made_list *l, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	struct made_path *more = realloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
	if (!more)
		return;
	l->v = more;
	l->v[l->n] = (struct made_path){ strdup(path), st.st_dev, st.st_ino };
	if (l->v[l->n].path)
		l->n++;
}

/* lstat only: files_undo() runs from a signal handler too */
mode_t made_still(const struct made_path *m)
{
	struct stat st;
	if (!m->path || lstat(m->path, &st) < 0 || st.st_dev != m->dev || st.st_ino != m->ino)
		return 0;
	return st.st_mode;
}

static struct made_list files;

void files_created(const char *path)
{
	made_add(&files, path);
}

void files_undo(void)
{
	for (int i = 0; i < files.n; i++) {
		mode_t mode = made_still(&files.v[i]);
		if (mode)
			(S_ISDIR(mode) ? rmdir : unlink)(files.v[i].path);
	}
	files.n = 0;
}
