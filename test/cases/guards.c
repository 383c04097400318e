// build: gcc -O2 -g -Wall -Wextra -o guards guards.c
/*
 * guards.c - guard regions (madvise MADV_GUARD_INSTALL, Linux 6.13; file mappings 6.15) come
 * back: a guarded page faults (SIGSEGV) on any access, the pages around it keep their data.
 *
 *   guards --out FILE
 *
 * A private anonymous mapping A of 8 pages, all written, with guards on pages 1-2 and 5 (the
 * data there is gone, as the kernel drops it); a private mapping F of a 4-page file FILE.map,
 * page 0 written, with a guard on page 2. Before ready and after SIGTERM: each page's pagemap
 * guard bit (58) is as planned, every guarded page faults on read and on write, every other page
 * reads its data (A: a pattern; F: page 0 as written, pages 1 and 3 the file's).
 */
#include "case.h"

#include <setjmp.h>
#include <sys/mman.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#define PG 4096UL

static unsigned char *A, *F;
static const int aguard[8] = { 0, 1, 1, 0, 0, 1, 0, 0 };
static const int fguard[4] = { 0, 0, 1, 0 };
static sigjmp_buf jb;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

/* 1 if touching p (a read, or a write) faults */
static int faults(volatile unsigned char *p, int write)
{
	if (sigsetjmp(jb, 1))
		return 1;
	if (write)
		*p = *p; /* never reached with a value on a guard */
	else
		(void)*p;
	return 0;
}

static unsigned char want_byte(int region, int page)
{
	if (region == 0)
		return (unsigned char)(0x40 + page);
	return page == 0 ? 0x99 : (unsigned char)(0x10 + page); /* F: written page 0, the file's others */
}

static void check(const char *when)
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		case_fail("%s: cannot open the page map", when);
		return;
	}
	for (int r = 0; r < 2 && !case_failed; r++) {
		unsigned char *base = r ? F : A;
		int n = r ? 4 : 8;
		const int *g = r ? fguard : aguard;
		const char *name = r ? "F" : "A";
		for (int i = 0; i < n && !case_failed; i++) {
			uint64_t e = 0;
			if (pread(pm, &e, 8, (off_t)((uintptr_t)(base + i * PG) / PG * 8)) != 8)
				case_fail("%s: cannot read the page map", when);
			int bit = (int)((e >> 58) & 1) && !((e >> 63) & 1);
			if (bit != g[i])
				case_fail("%s: %s page %d: page map guard bit %d, expected %d", when, name, i, bit, g[i]);
			else if (faults(base + i * PG, 0) != g[i] || faults(base + i * PG + 100, 1) != g[i])
				case_fail("%s: %s page %d %s", when, name, i, g[i] ? "does not fault (guard lost)" : "faults");
			else if (!g[i] && (base[i * PG] != want_byte(r, i) || base[i * PG + PG - 1] != want_byte(r, i)))
				case_fail("%s: %s page %d holds 0x%02x, expected 0x%02x", when, name, i, base[i * PG], want_byte(r, i));
		}
	}
	close(pm);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	struct sigaction sa = { .sa_handler = on_segv };
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);

	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.map", case_out);
	static unsigned char file[4 * PG];
	for (int i = 0; i < 4; i++)
		memset(file + i * PG, 0x10 + i, PG);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, file, sizeof file) != (ssize_t)sizeof file)
		case_setup_fail("cannot write %s: %s", path, strerror(errno));
	A = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	F = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (A == MAP_FAILED || F == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	for (int i = 0; i < 8; i++)
		memset(A + i * PG, 0x40 + i, PG);
	memset(F, 0x99, PG);
	if (madvise(A + PG, 2 * PG, MADV_GUARD_INSTALL) < 0 || madvise(A + 5 * PG, PG, MADV_GUARD_INSTALL) < 0)
		case_setup_fail("madvise(MADV_GUARD_INSTALL): %s", strerror(errno));
	if (madvise(F + 2 * PG, PG, MADV_GUARD_INSTALL) < 0)
		case_setup_fail("madvise(MADV_GUARD_INSTALL) of a file mapping: %s", strerror(errno));
	check("before");
	if (case_failed)
		case_setup_fail("%s", case_fail_msg);
	case_ready();
	case_wait_term();
	check("after");
	unlink(path);
	case_finish();
}
