/* fanotify groups with their marks (src/kernel/fds/fanotify.ts), made again by the helper before
 * any task exists (at a high fd every task inherits): fanotify_init with the saved flags and
 * event flags, then every mark: an inode mark at its file's path (or, for a file deleted since,
 * through the helper's fd of the file made again), a mount mark at its mount's path, a
 * filesystem mark at its filesystem's root; the mask and the ignore mask with the mark's flags
 * (evictable, ignore, ignored-survives-modify). The restart's own file actions (opens of the
 * tasks' files, mappings) queue events in a group whose marks cover them: right before the
 * tasks run, those are read and dropped (resume), so the program sees only what happens from
 * then on. A mark with permission events is added only then, once the restart opens nothing
 * more (its opens would wait for the program's answer); a permission event another process
 * caused meanwhile is allowed. Events queued but unread at checkpoint are lost. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "kind.h"
#include "plan_parse.h"
#include "proto.h"
#include "restore.h"

#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x00000400
#endif
#ifndef FAN_PRE_ACCESS
#define FAN_PRE_ACCESS 0x00100000
#endif
#define PERM_EVENTS (FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM | FAN_PRE_ACCESS)
#ifndef FAN_EVENT_INFO_TYPE_PIDFD
#define FAN_EVENT_INFO_TYPE_PIDFD 4
#endif

int on_plan_file_fanotify(struct plan_in *in, struct msg_plan_file_fanotify *m)
{
	struct file_plan *f = plan_new_file(in->p, m->id, "file.fanotify");
	if (!f)
		return -1;
	f->kind = FILE_FANOTIFY;
	f->arg[0] = m->init, f->arg[1] = m->evflags;
	f->flags = (int)m->flags;
	return 0;
}

int on_plan_fanmark(struct plan_in *in, struct msg_plan_fanmark *m)
{
	int f = plan_find_file(in->p, (int)m->file);
	NEED(f >= 0 && in->p->files[f].kind == FILE_FANOTIFY && m->path[0] == '/' && (m->mask || m->ignored));
	NEED(!(m->mflags & ~(uint64_t)(FAN_MARK_EVICTABLE | FAN_MARK_IGNORE | FAN_MARK_IGNORED_SURV_MODIFY)));
	struct file_plan *fp = &in->p->files[f];
	struct fanmark *k = GROW(fp->marks, fp->nmarks);
	NEED(k != NULL && (k->path = strdup(m->path)) != NULL);
	k->type = (int)m->type, k->mflags = (uint32_t)m->mflags, k->mask = m->mask, k->ignored = m->ignored;
	k->ofile = m->has_ofile ? (int)m->ofile : -1;
	NEED(k->ofile < 0 || !((k->mask | k->ignored) & PERM_EVENTS)); /* added at resume: no deleted file's copy left */
	return 0;
}

static const unsigned mark_type[] = { 0, FAN_MARK_MOUNT, FAN_MARK_FILESYSTEM };

static int add_mark(struct restore_ctx *c, struct file_plan *fp, int fd, struct fanmark *k)
{
	char self[64];
	const char *path = k->path;
	if (k->ofile >= 0 && !(path = deleted_path(c, fp->task, k->ofile, self, sizeof self)))
		return -1;
	unsigned how = FAN_MARK_ADD | mark_type[k->type], evict = k->mflags & FAN_MARK_EVICTABLE;
	if (k->mask && fanotify_mark(fd, how | evict, k->mask, AT_FDCWD, path) < 0)
		return proto_fail_sys("fanotify_mark", "files", k->path, errno, "cannot mark it again (mask 0x%llx)", (unsigned long long)k->mask);
	unsigned ign = (k->mflags & FAN_MARK_IGNORE ? FAN_MARK_IGNORE : FAN_MARK_IGNORED_MASK) | (k->mflags & FAN_MARK_IGNORED_SURV_MODIFY);
	if (k->ignored && fanotify_mark(fd, how | ign | (k->mask ? 0 : evict), k->ignored, AT_FDCWD, path) < 0)
		return proto_fail_sys("fanotify_mark", "files", k->path, errno, "cannot mark it again (ignore mask 0x%llx)", (unsigned long long)k->ignored);
	return 0;
}

static int fanotify_open(struct restore_ctx *c, struct file_plan *fp)
{
	/* the very flags fdinfo showed (FAN_NONBLOCK and FAN_CLOEXEC included: fdinfo keeps them,
	 * zdtm fanotify00 compares); the fd's own status flags are set below, its close-on-exec by
	 * each holder's fd */
	int fd = fanotify_init((unsigned)fp->arg[0], (unsigned)fp->arg[1]);
	if (fd < 0)
		return proto_fail_sys("fanotify_init", "files", "fanotify", errno, "cannot create the fanotify group (flags 0x%llx, event flags 0x%llx)",
				      (unsigned long long)fp->arg[0], (unsigned long long)fp->arg[1]);
	for (int i = 0; i < fp->nmarks; i++)
		if (!((fp->marks[i].mask | fp->marks[i].ignored) & PERM_EVENTS) && add_mark(c, fp, fd, &fp->marks[i]) < 0) {
			close(fd);
			return -1;
		}
	if (fcntl(fd, F_SETFL, fp->flags & ~O_ASYNC) < 0) {
		close(fd);
		return proto_fail("files", "fanotify", errno, "cannot set its flags");
	}
	fp->hfd = restore_high(fd);
	return fp->hfd < 0 ? -1 : 0;
}

/* Reads away the events the restart itself queued, closing the fds they carry (a permission
 * event, of another process, is allowed). */
static void drain(int fd)
{
	static char buf[65536] __attribute__((aligned(8)));
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (struct fanotify_event_metadata *e = (void *)buf; FAN_EVENT_OK(e, n); e = FAN_EVENT_NEXT(e, n)) {
			if (e->fd >= 0 && (e->mask & PERM_EVENTS)) {
				struct fanotify_response r = { .fd = e->fd, .response = FAN_ALLOW };
				ssize_t w = write(fd, &r, sizeof r); /* failing: answered when the group goes */
				(void)w;
			}
			if (e->fd >= 0)
				close(e->fd);
			for (unsigned off = e->metadata_len; off + sizeof(struct fanotify_event_info_header) <= e->event_len;) {
				struct fanotify_event_info_header *h = (void *)((char *)e + off);
				if (h->len < sizeof *h)
					break;
				if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD && h->len >= sizeof *h + sizeof(int)) {
					int pfd;
					memcpy(&pfd, (char *)h + sizeof *h, sizeof pfd);
					if (pfd >= 0)
						close(pfd);
				}
				off += h->len;
			}
		}
	fcntl(fd, F_SETFL, fl);
}

static int fanotify_resume(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->nfiles; i++) {
		struct file_plan *fp = &c->plan->files[i];
		if (fp->kind != FILE_FANOTIFY || fp->hfd < 0)
			continue;
		for (int k = 0; k < fp->nmarks; k++)
			if (((fp->marks[k].mask | fp->marks[k].ignored) & PERM_EVENTS) && add_mark(c, fp, fp->hfd, &fp->marks[k]) < 0)
				return -1;
		drain(fp->hfd);
	}
	return 0;
}

static const int fanotify_kinds[] = { FILE_FANOTIFY, 0 };

const struct kind_ops fanotify_ops = {
	.name = "fanotify",
	.file_kinds = fanotify_kinds,
	.open_file = fanotify_open,
	.resume = fanotify_resume,
};
