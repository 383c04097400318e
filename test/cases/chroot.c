// build: gcc -O2 -g -Wall -Wextra -o chroot chroot.c
/*
 * chroot.c - a process in a chroot stays in it: its root directory, its working directory
 * inside it, no way out through "..".
 *
 *   chroot --out FILE
 *
 * Makes the directory of FILE its root (chroot), goes to /sub inside it and writes a marker
 * there; FILE is then /NAME from inside. After SIGTERM: "/" must be that directory (same inode
 * and device), "/.." must be "/" again, the working directory /sub, the marker readable by
 * its path inside the root, and a directory that exists only outside the root (/proc here is
 * not mounted in it) must not be reachable.
 */
#include "case.h"

#include <libgen.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	char dir[PATH_MAX], name[PATH_MAX];
	strcpy(dir, case_out);
	strcpy(name, case_out);
	char *d = dirname(dir), *n = basename(name);
	char sub[PATH_MAX + 8];
	snprintf(sub, sizeof sub, "%s/sub", d);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		case_setup_fail("mkdir %s: %s", sub, strerror(errno));
	struct stat jail;
	if (stat(d, &jail) < 0)
		case_setup_fail("stat %s: %s", d, strerror(errno));
	if (chroot(d) < 0 || chdir("/sub") < 0)
		case_setup_fail("chroot %s: %s", d, strerror(errno));
	snprintf(case_out, sizeof case_out, "/%s", n);
	int fd = open("/sub/marker", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "jailed\n", 7) != 7)
		case_setup_fail("marker: %s", strerror(errno));
	close(fd);
	case_ready();
	case_wait_term();

	struct stat root, up;
	if (stat("/", &root) < 0 || root.st_ino != jail.st_ino || root.st_dev != jail.st_dev)
		case_fail("the root directory is no longer %s (inode %lu, now %lu)", d, (unsigned long)jail.st_ino,
			  (unsigned long)root.st_ino);
	if (stat("/..", &up) < 0 || up.st_ino != root.st_ino)
		case_fail("\"/..\" leaves the root directory");
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, "/sub"))
		case_fail("working directory %s, expected /sub", getcwd(cwd, sizeof cwd) ? cwd : strerror(errno));
	char buf[16] = "";
	fd = open("/sub/marker", O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof buf) != 7 || memcmp(buf, "jailed\n", 7))
		case_fail("/sub/marker unreadable inside the root");
	if (fd >= 0)
		close(fd);
	if (access("/proc/self", F_OK) == 0)
		case_fail("/proc/self is reachable: the process is not in its root directory");
	case_finish();
	return 0;
}
