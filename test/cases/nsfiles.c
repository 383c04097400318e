// build: gcc -O2 -g -Wall -Wextra -o nsfiles nsfiles.c
/*
 * nsfiles.c - namespace files (/proc/self/ns/TYPE) open across a restart.
 *
 *   nsfiles --out FILE [--foreign]
 *
 * Opens /proc/self/ns/net, /proc/self/ns/uts, /proc/self/ns/pid_for_children (read-only) and
 * /proc/self/ns/mnt with O_PATH, and forks a child that holds /proc/self/ns/ipc (inherited by
 * nothing: its own open). After SIGTERM each fd is a namespace file (NS_GET_NSTYPE gives its
 * type; the O_PATH one keeps O_PATH), its link reads as the one of /proc/self/ns/TYPE now, and
 * its inode is that namespace's; the child checks its own the same way and reports by its exit
 * status.
 * --foreign: the child makes a new user namespace and the parent opens the child's
 * /proc/PID/ns/user: a namespace none of its holders is in (the checkpoint refuses it).
 */
#include "case.h"

#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

struct ns { const char *name; int type; int flags; int fd; };

static struct ns mine[] = {
    { "net", CLONE_NEWNET, O_RDONLY, -1 },
    { "uts", CLONE_NEWUTS, O_RDONLY, -1 },
    { "pid_for_children", CLONE_NEWPID, O_RDONLY, -1 },
    { "mnt", CLONE_NEWNS, O_PATH, -1 },
};

static const char *check(struct ns *n)
{
	static char why[256];
	char p[64], want[64], got[64];
	struct stat a, b;
	snprintf(p, sizeof p, "/proc/self/ns/%s", n->name);
	ssize_t l1 = readlink(p, want, sizeof want - 1);
	snprintf(p, sizeof p, "/proc/self/fd/%d", n->fd);
	ssize_t l2 = readlink(p, got, sizeof got - 1);
	if (l1 < 0 || l2 < 0)
		return "readlink failed";
	want[l1] = got[l2] = 0;
	snprintf(p, sizeof p, "/proc/self/ns/%s", n->name);
	if (strcmp(want, got) || fstat(n->fd, &a) < 0 || stat(p, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		snprintf(why, sizeof why, "%s: fd %d is %s, the namespace is %s", n->name, n->fd, got, want);
		return why;
	}
	int fl = fcntl(n->fd, F_GETFL);
	if (fl < 0 || (fl & O_PATH) != (n->flags & O_PATH))
		return "O_PATH not as it was";
	if (!(n->flags & O_PATH) && ioctl(n->fd, NS_GET_NSTYPE) != n->type) {
		snprintf(why, sizeof why, "%s: NS_GET_NSTYPE gives %s", n->name, case_errname(errno));
		return why;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int foreign = 0;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--foreign"))
			foreign = 1;
	case_init(argc, argv);
	case_install_sigterm(0);
	for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) {
		char p[64];
		snprintf(p, sizeof p, "/proc/self/ns/%s", mine[i].name);
		if ((mine[i].fd = open(p, mine[i].flags)) < 0)
			case_setup_fail("open %s: %s", p, strerror(errno));
	}
	int go[2];
	if (pipe(go) < 0)
		case_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		struct ns ipc = { "ipc", CLONE_NEWIPC, O_RDONLY, open("/proc/self/ns/ipc", O_RDONLY) };
		if (foreign && unshare(CLONE_NEWUSER) < 0)
			_exit(3);
		char c = ipc.fd < 0 ? 'e' : 'k';
		if (write(go[1], &c, 1) != 1 || c == 'e')
			_exit(2);
		case_wait_term();
		_exit(check(&ipc) ? 1 : 0);
	}
	char c;
	if (read(go[0], &c, 1) != 1 || c != 'k')
		case_setup_fail("the child could not set up");
	if (foreign) {
		char p[64];
		snprintf(p, sizeof p, "/proc/%d/ns/user", (int)child);
		if (open(p, O_RDONLY) < 0)
			case_setup_fail("open %s: %s", p, strerror(errno));
	}
	case_ready();
	case_wait_term();
	int st = 0;
	if (kill(child, SIGTERM) < 0 || waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st))
		case_fail("the child's ipc namespace file is not right after the restart (status 0x%x)", st);
	for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) {
		const char *why = check(&mine[i]);
		if (why)
			case_fail("%s", why);
	}
	case_finish();
}
