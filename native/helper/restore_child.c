/* The new task's first steps, run as a clone of the helper before the tracer takes over.
 * It is a plain fork-like copy of a single-threaded process, but it keeps to simple system
 * calls and reports failures through a pipe as {step, errno, fd} before _exit. */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(int errfd, int step, int fd)
{
	struct child_error e = { .step = step, .err = errno, .fd = fd };
	if (write(errfd, &e, sizeof e) < 0) {
		/* nothing else to do */
	}
	_exit(100 + step);
}

static void close_from(int lo, int hi)
{
	if (lo > hi)
		return;
	if (syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0) < 0)
		for (int fd = lo; fd <= hi; fd++)
			close(fd);
}

void child_main(struct task_plan *p, pid_t parent, int gofd, int errfd, int maxfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(99);
	char c;
	if (read(gofd, &c, 1) != 1) /* the tracer has seized us */
		_exit(98);

	/* Work above every fd number in use or wanted, so nothing is clobbered. */
	int base = maxfd + 1;
	errfd = fcntl(errfd, F_DUPFD_CLOEXEC, base);
	if (errfd < 0)
		_exit(97);
	int tmpbase = errfd + 1;
	for (int i = 0; i < p->nfds; i++) {
		struct fd_plan *f = &p->fds[i];
		for (int j = 0; j < i && f->kind == FD_PATH; j++)
			if (p->fds[j].kind == FD_PATH && p->fds[j].group == f->group) {
				f->tmp = p->fds[j].tmp;
				break;
			}
		if (f->tmp >= 0)
			continue;
		int fd;
		if (f->kind == FD_INHERIT) {
			fd = fcntl(f->srcfd, F_DUPFD_CLOEXEC, tmpbase);
		} else {
			int flags = f->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
			int o = open(f->path, flags | O_NOCTTY);
			if (o < 0)
				die(errfd, CHILD_OPEN, f->target);
			fd = fcntl(o, F_DUPFD_CLOEXEC, tmpbase);
			close(o);
			if (fd >= 0 && lseek(fd, (off_t)f->pos, SEEK_SET) < 0 && errno != ESPIPE)
				die(errfd, CHILD_SEEK, f->target);
		}
		if (fd < 0)
			die(errfd, CHILD_DUP, f->target);
		f->tmp = fd;
	}
	close_from(0, errfd - 1);
	for (int i = 0; i < p->nfds; i++) {
		struct fd_plan *f = &p->fds[i];
		if (dup3(f->tmp, f->target, f->cloexec ? O_CLOEXEC : 0) < 0)
			die(errfd, CHILD_DUP, f->target);
	}
	close_from(errfd + 1, ~0U >> 1);
	if (p->cwd && chdir(p->cwd) < 0)
		die(errfd, CHILD_CWD, -1);
	umask((mode_t)p->umask);
	prctl(PR_SET_NAME, p->comm);
	close(errfd);
	kill(getpid(), SIGSTOP); /* the tracer takes over from this stop */
	_exit(96);
}
