/* Pseudo-terminal pairs, recreated by the helper before any task exists, at their old index
 * (/dev/pts/N): /dev/ptmx hands out the lowest free index, so it is opened again and again
 * until it gives N (the extra pairs are closed); a higher one means N is in use. The slave gets
 * the saved termios, window size and packet mode; lock and exclusive mode are put back once
 * every object is open. The helper keeps the master and one slave open: tasks inherit both,
 * and a session leader takes the slave as its controlling terminal (act ctty). Both are opened
 * with the credentials of the pty's first holder (fscred.c): the slave belongs to it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "proto.h"
#include "restore.h"


#define MAX_TRIES 4096

static int make_pair(struct tty_plan *t)
{
	static int extra[MAX_TRIES];
	int nextra = 0, m = -1, got = -1;
	char obj[32];
	snprintf(obj, sizeof obj, "/dev/pts/%d", t->index);
	while (nextra < MAX_TRIES) {
		m = fs_open(t->task, "/dev/ptmx", O_RDWR | O_NOCTTY, 0); /* the slave is the opener's */
		if (m < 0 || ioctl(m, TIOCGPTN, &got) < 0 || got >= t->index)
			break;
		extra[nextra++] = m;
	}
	int e = errno;
	while (nextra > 0)
		close(extra[--nextra]);
	if (m < 0 || got < 0)
		return proto_fail("files", obj, e, "cannot create a pseudo-terminal");
	if (got != t->index) {
		close(m);
		return proto_fail("files", obj, EBUSY, "pty %d is in use: the tree's terminal cannot get its number back", t->index);
	}
	int unlock = 0;
	int s = ioctl(m, TIOCSPTLCK, &unlock) < 0 ? -1 : fs_open(t->task, obj, O_RDWR | O_NOCTTY, 0);
	if (s < 0) {
		e = errno;
		close(m);
		return proto_fail_sys("open", "files", obj, e, "cannot open the new pty's slave");
	}
	struct termios tio;
	struct winsize ws;
	tty_settings(t, &tio, &ws);
	if ((t->settings && (tcsetattr(s, TCSANOW, &tio) < 0 || ioctl(s, TIOCSWINSZ, &ws) < 0)) ||
	    (t->pkt && ioctl(m, TIOCPKT, &t->pkt) < 0)) {
		e = errno;
		close(m);
		close(s);
		return proto_fail("files", obj, e, "cannot set up the terminal again");
	}
	t->master_hfd = restore_high(m);
	t->slave_hfd = restore_high(s);
	return t->master_hfd < 0 || t->slave_hfd < 0 ? proto_fail("files", obj, errno, "cannot place the pty") : 0;
}

int open_ttys(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->nttys; i++)
		if (make_pair(&c->plan->ttys[i]) < 0)
			return -1;
	return 0;
}

/* A pty's master or slave file object: the master is the one open file of the pair; each
 * slave object is the slave opened again with its flags. */
int open_tty_file(struct restore_ctx *c, struct file_plan *fp)
{
	struct tty_plan *t = &c->plan->ttys[fp->tty];
	char obj[32];
	snprintf(obj, sizeof obj, "/dev/pts/%d", t->index);
	int fd;
	if (fp->kind == FILE_PTMX)
		fd = fcntl(t->master_hfd, F_DUPFD_CLOEXEC, 0);
	else
		fd = fs_open(fp->task, obj, (fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_NOCTTY, 0);
	if (fd < 0 || fcntl(fd, F_SETFL, fp->flags & ~O_ASYNC) < 0)
		return proto_fail_sys("open", "files", obj, errno, "cannot open the %s again", fp->kind == FILE_PTMX ? "pty master" : "terminal");
	fp->hfd = restore_high(fd);
	return fp->hfd < 0 ? proto_fail("files", obj, errno, "cannot place it") : 0;
}

/* Once every object is open: exclusive mode and the lock. */
int finish_ttys(struct restore_ctx *c)
{
	for (int i = 0; i < c->plan->nttys; i++) {
		struct tty_plan *t = &c->plan->ttys[i];
		int one = 1;
		if ((t->excl && ioctl(t->slave_hfd, TIOCEXCL) < 0) || (t->locked && ioctl(t->master_hfd, TIOCSPTLCK, &one) < 0))
			return proto_fail("files", "pty", errno, "cannot lock /dev/pts/%d again", t->index);
	}
	return 0;
}
