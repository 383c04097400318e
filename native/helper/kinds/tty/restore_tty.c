/* Pseudo-terminal pairs, recreated by the helper before any task exists, at their old index
 * (/dev/pts/N): /dev/ptmx hands out the lowest free index, so it is opened again and again
 * until it gives N (the extra pairs are closed); a higher one means N is in use. The slave gets
 * the saved termios, window size and packet mode; lock and exclusive mode are put back once
 * every object is open. The helper keeps the master and one slave open: tasks inherit both,
 * and a session leader takes the slave as its controlling terminal (act ctty). Both are opened
 * with the credentials of the pty's first holder (fscred.c): the slave belongs to it; then
 * /dev/pts/N gets the owner and mode it had, and the bytes queued both ways are put back
 * (tty_queue.c). A slave whose master was closed (hung up, /dev/pts/N gone) is a new pair whose
 * master is closed again; /dev/tty is opened by the session leader of its terminal right
 * after it takes it (restore_child.c, act ctty), or for the caller's terminal by the helper. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "proto.h"
#include "restore.h"
#include "tty_queue.h"


#define MAX_TRIES 4096

/* /dev/pts/N's owner and mode (with the credentials of the pty's holder: the kernel decides
 * whether it may give it away), then the bytes that were queued both ways */
static int owner_and_queue(struct tty_plan *t, int s, const struct termios *tio, const char *obj)
{
	struct stat st;
	if (fstat(s, &st) < 0)
		return proto_fail_sys("fstat", "files", obj, errno, "cannot read the new pty's owner");
	uid_t uid = t->uid >= 0 ? (uid_t)t->uid : st.st_uid;
	gid_t gid = t->gid >= 0 ? (gid_t)t->gid : st.st_gid;
	if ((uid != st.st_uid || gid != st.st_gid) && fs_chown(t->task, obj, uid, gid) < 0)
		return proto_fail_sys("chown", "files", obj, errno, "cannot give the terminal its owner back (uid %d gid %d)%s", (int)uid, (int)gid, fs_who(t->task));
	if (t->mode >= 0 && (st.st_mode & 07777) != (mode_t)t->mode && fs_fchmod(t->task, s, fs_mode((mode_t)t->mode)) < 0)
		return proto_fail_sys("fchmod", "files", obj, errno, "cannot give the terminal its mode back (%o)", (unsigned)t->mode);
	if (!t->qout && !t->qpartial && !t->qlines)
		return 0;
	if (!t->settings)
		return proto_fail("files", obj, EINVAL, "bytes queued in a terminal without its settings");
	struct ttyq q;
	int r = ttyq_parse(&q, t->qlines, t->qpartial, t->qpartlen, t->qout, t->qoutlen);
	if (r == 0 && ttyq_write(s, tio, &q) < 0)
		r = proto_fail_sys("ioctl", "files", obj, errno, "cannot put back the bytes queued in the terminal (TIOCSTI needs CAP_SYS_ADMIN)");
	else if (r < 0)
		r = proto_fail("files", obj, errno, "bad queued bytes");
	ttyq_free(&q);
	return r;
}

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
	if (owner_and_queue(t, s, &tio, obj) < 0) {
		close(m);
		close(s);
		return -1;
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

/* A slave whose master was closed: hung up, its /dev/pts/N gone. A new pair's slave (opened
 * through its master, with the file's flags), and the master closed: the kernel hangs it up. */
static int open_hungup(struct file_plan *fp)
{
	int m = fs_open(fp->task, "/dev/ptmx", O_RDWR | O_NOCTTY, 0), unlock = 0;
	int flags = (fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_ASYNC)) | O_NOCTTY;
	int s = m < 0 || ioctl(m, TIOCSPTLCK, &unlock) < 0 ? -1 : ioctl(m, TIOCGPTPEER, flags);
	int e = errno;
	if (m >= 0)
		close(m);
	if (s < 0)
		return proto_fail_sys("open", "files", "pty", e, "cannot make a hung up terminal again");
	fp->hfd = restore_high(s);
	return fp->hfd < 0 ? proto_fail("files", "pty", errno, "cannot place it") : 0;
}

/* A pty's master or slave file object: the master is the one open file of the pair; each
 * slave object is the slave opened again with its flags. /dev/tty of a pty of the tree: a
 * placeholder that the session leader replaces once it has the terminal (restore_child.c);
 * of the caller's terminal: opened here (the helper is in the caller's session). */
int open_tty_file(struct restore_ctx *c, struct file_plan *fp)
{
	if (fp->kind == FILE_PTSHUP)
		return open_hungup(fp);
	int flags = (fp->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)) | O_NOCTTY;
	if (fp->kind == FILE_DEVTTY) {
		int fd = fp->tty >= 0 ? open("/dev/null", O_RDWR | O_CLOEXEC) : fs_open(fp->task, "/dev/tty", flags, 0);
		if (fd < 0 || fcntl(fd, F_SETFL, fp->flags & ~O_ASYNC) < 0)
			return proto_fail_sys("open", "files", "/dev/tty", errno, errno == ENXIO ? "ucr restart has no controlling terminal to give the job's /dev/tty" : "cannot open /dev/tty");
		fp->hfd = restore_high(fd);
		return fp->hfd < 0 ? proto_fail("files", "/dev/tty", errno, "cannot place it") : 0;
	}
	struct tty_plan *t = &c->plan->ttys[fp->tty];
	char obj[32];
	snprintf(obj, sizeof obj, "/dev/pts/%d", t->index);
	int fd;
	if (fp->kind == FILE_PTMX)
		fd = fcntl(t->master_hfd, F_DUPFD_CLOEXEC, 0);
	else
		fd = fs_open(fp->task, obj, flags, 0);
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
