// build: gcc -O2 -g -Wall -Wextra -o dropped dropped.c
/*
 * dropped.c - a file opened while the process was root, held after it dropped to an ordinary
 * user (a daemon's log opened as root before setuid: nginx, sshd, the zdtm mlock_setuid case),
 * comes back open, at its offset, writable, while the process stays that user.
 *
 *   dropped --out FILE        (started as root)
 *
 * Opens FILE.log (mode 0600, root's) read-write and writes "before\n", gives its directory to
 * 65534 (to write its verdict there), drops every uid and gid to 65534 and every group; waits
 * for SIGTERM. Then: it is still 65534, open(FILE.log) is still refused (EACCES), and writing
 * "after\n" through the fd it held leaves FILE.log holding "before\nafter\n".
 */
#include "case.h"

#include <grp.h>
#include <libgen.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	char log[PATH_MAX + 8], dir[PATH_MAX];
	snprintf(log, sizeof log, "%s.log", case_out);
	snprintf(dir, sizeof dir, "%s", case_out);
	int fd = open(log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "before\n", 7) != 7)
		case_setup_fail("cannot write %s: %s", log, strerror(errno));
	if (chown(dirname(dir), 65534, 65534) < 0 || setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		case_setup_fail("cannot become 65534: %s", strerror(errno));
	if (open(log, O_RDWR) >= 0 || errno != EACCES)
		case_setup_fail("%s can be opened as 65534", log);
	case_ready();
	case_wait_term();

	uid_t r, e, s;
	getresuid(&r, &e, &s);
	if (r != 65534 || e != 65534 || s != 65534)
		case_fail("uids %d/%d/%d after the restart, not 65534", (int)r, (int)e, (int)s);
	else if (open(log, O_RDWR) >= 0 || errno != EACCES)
		case_fail("%s can be opened after the restart (%s)", log, strerror(errno));
	else if (write(fd, "after\n", 6) != 6)
		case_fail("the held fd does not write: %s", strerror(errno));
	char buf[32] = { 0 };
	if (!case_failed && (pread(fd, buf, sizeof buf - 1, 0) != 13 || strcmp(buf, "before\nafter\n")))
		case_fail("%s holds \"%s\"", log, buf);
	case_finish();
}
