// build: gcc -O2 -g -Wall -Wextra -o creds creds.c
/*
 * creds.c - a process of an ordinary user comes back as that user, with no more privilege.
 *
 *   creds --out FILE        (started as a non-root user, e.g. through setpriv)
 *
 * Records its real/effective/saved uids and gids, its supplementary groups and whether it is
 * dumpable and its capability sets (all five Cap* lines of /proc/self/status), waits for
 * SIGTERM, then checks they are all the same and that setuid(0) fails with EPERM.
 */
#include "case.h"

#include <grp.h>
#include <sys/prctl.h>

/* The five Cap* lines of /proc/self/status, concatenated. */
static void caps(char *out, size_t cap)
{
	static const char *const cap_lines[] = { "Cap", NULL };
	case_status_lines("/proc/self/status", cap_lines, out, cap);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	uid_t r0, e0, s0, r1, e1, s1;
	gid_t gr0, ge0, gs0, gr1, ge1, gs1;
	gid_t g0[64], g1[64];
	getresuid(&r0, &e0, &s0);
	getresgid(&gr0, &ge0, &gs0);
	int n0 = getgroups(64, g0);
	int d0 = prctl(PR_GET_DUMPABLE);
	char c0[512], c1[512];
	caps(c0, sizeof c0);
	if (e0 == 0)
		case_setup_fail("run me as an ordinary user");
	case_ready();
	while (!case_term)
		pause();
	getresuid(&r1, &e1, &s1);
	getresgid(&gr1, &ge1, &gs1);
	int n1 = getgroups(64, g1);
	if (r1 != r0 || e1 != e0 || s1 != s0)
		case_fail("uids %d/%d/%d, expected %d/%d/%d", r1, e1, s1, r0, e0, s0);
	else if (gr1 != gr0 || ge1 != ge0 || gs1 != gs0)
		case_fail("gids %d/%d/%d, expected %d/%d/%d", gr1, ge1, gs1, gr0, ge0, gs0);
	else if (n1 != n0 || (n0 > 0 && memcmp(g0, g1, (size_t)n0 * sizeof g0[0])))
		case_fail("%d supplementary groups, expected %d (or they differ)", n1, n0);
	else if (prctl(PR_GET_DUMPABLE) != d0)
		case_fail("dumpable %d, expected %d", prctl(PR_GET_DUMPABLE), d0);
	else if (caps(c1, sizeof c1), strcmp(c0, c1))
		case_fail("capabilities changed: %s -> %s", c0, c1);
	else if (setuid(0) == 0 || errno != EPERM)
		case_fail("setuid(0) did not fail with EPERM");
	case_finish();
}
