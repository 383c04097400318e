// build: gcc -O2 -g -Wall -Wextra -o vmflags vmflags.c
/*
 * vmflags.c - the kernel's flags of every mapping come back: madvise state and the rest.
 *
 *   vmflags --out FILE
 *
 * Sets up mappings with MADV_DONTFORK, MADV_DONTDUMP, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
 * MADV_MERGEABLE, MADV_WIPEONFORK, MADV_SEQUENTIAL, MADV_RANDOM, mlock, mlock2(MLOCK_ONFAULT),
 * MAP_NORESERVE, MAP_DROPPABLE, mseal; a file mapped shared read-only through an fd open for writing (the mapping
 * may later be made writable: VmFlags "mw"), the same file mapped shared through a read-only
 * fd, a memfd mapped shared read-only through a read-write fd, shared anonymous memory, a
 * read-only anonymous area that was written before, and a written private file mapping. Then
 * records the VmFlags line of every mapping of the process (/proc/self/smaps) and waits for
 * SIGTERM. After it, every mapping must show the same VmFlags (all mappings of the process,
 * libraries, heap and stack included), the read-only shared mappings opened for writing can
 * be made writable and written (seen through the file), and fork() sees what the flags say:
 * no DONTFORK area, a WIPEONFORK area zeroed, the rest as it was.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/wait.h>

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

#define PG 4096UL
#define HUGE (2UL << 20)

static char smaps_buf[1 << 21];
static char before[1 << 18], after[1 << 18];

/* "start-end perms VmFlags" for every mapping, one per line */
static void vmflags(char *out, size_t cap)
{
	int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;
	while (fd >= 0 && len < sizeof smaps_buf - 1 && (n = read(fd, smaps_buf + len, sizeof smaps_buf - 1 - len)) > 0)
		len += (size_t)n;
	if (fd >= 0)
		close(fd);
	smaps_buf[len] = 0;
	size_t o = 0;
	out[0] = 0;
	for (char *line = smaps_buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = 0;
		char *sp = strchr(line, ' ');
		if (sp && strchr(line, '-') && strchr(line, '-') < sp && line[0] != 'V') {
			/* a mapping's head line: keep "start-end perms" */
			int w = snprintf(out + o, cap - o, "%.*s", (int)(sp - line + 5), line);
			o += (size_t)w < cap - o ? (size_t)w : 0;
		} else if (!strncmp(line, "VmFlags:", 8)) {
			int w = snprintf(out + o, cap - o, "%s\n", line + 8);
			o += (size_t)w < cap - o ? (size_t)w : 0;
		}
	}
}

static void *map(size_t len, int prot, int flags, int fd, const char *what)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		case_setup_fail("mmap %s: %s", what, strerror(errno));
	return p;
}

static void advise(void *p, size_t len, int advice, const char *what)
{
	if (madvise(p, len, advice) < 0)
		case_setup_fail("madvise %s: %s", what, strerror(errno));
}

static void fill(unsigned char *p, size_t len, int salt)
{
	for (size_t i = 0; i < len; i += 64)
		p[i] = (unsigned char)(i / 64 + (size_t)salt);
}

static int filled(const unsigned char *p, size_t len, int salt)
{
	for (size_t i = 0; i < len; i += 64)
		if (p[i] != (unsigned char)(i / 64 + (size_t)salt))
			return 0;
	return 1;
}

/* every mapping whose line differs between before and after (as many as fit the message) */
static void compare(void)
{
	static char diff[700];
	size_t o = 0;
	int count = 0;
	for (char *la = before, *lb = after; *la || *lb;) {
		char *na = strchr(la, '\n'), *nb = strchr(lb, '\n');
		size_t ka = na ? (size_t)(na - la) : strlen(la), kb = nb ? (size_t)(nb - lb) : strlen(lb);
		if (ka != kb || memcmp(la, lb, ka)) {
			int w = snprintf(diff + o, sizeof diff - o, "%s\"%.*s\" -> \"%.*s\"", count ? "; " : "", (int)ka, la,
					 (int)kb, lb);
			o += (size_t)w < sizeof diff - o ? (size_t)w : 0;
			count++;
		}
		la += ka + (na ? 1 : 0);
		lb += kb + (nb ? 1 : 0);
	}
	if (count)
		case_fail("%d mappings differ in flags: %s", count, diff);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	/* areas separated by guard pages so the kernel never merges neighbours */
	unsigned char *dontfork = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "dontfork");
	advise(dontfork, 4 * PG, MADV_DONTFORK, "DONTFORK");
	fill(dontfork, 4 * PG, 1);
	unsigned char *dontdump = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "dontdump");
	advise(dontdump, 4 * PG, MADV_DONTDUMP, "DONTDUMP");
	fill(dontdump, 4 * PG, 2);
	unsigned char *raw = map(3 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "huge");
	unsigned char *huge = (unsigned char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	munmap(raw, (size_t)(huge - raw));
	munmap(huge + HUGE, (size_t)(raw + 3 * HUGE - huge - HUGE));
	advise(huge, HUGE, MADV_HUGEPAGE, "HUGEPAGE");
	fill(huge, HUGE, 3);
	unsigned char *nohuge = map(8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "nohuge");
	advise(nohuge, 8 * PG, MADV_NOHUGEPAGE, "NOHUGEPAGE");
	fill(nohuge, 8 * PG, 4);
	unsigned char *merge = map(8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "mergeable");
	advise(merge, 8 * PG, MADV_MERGEABLE, "MERGEABLE");
	fill(merge, 8 * PG, 5);
	unsigned char *wipe = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "wipeonfork");
	advise(wipe, 4 * PG, MADV_WIPEONFORK, "WIPEONFORK");
	fill(wipe, 4 * PG, 6);
	unsigned char *seq = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "sequential");
	advise(seq, 4 * PG, MADV_SEQUENTIAL, "SEQUENTIAL");
	unsigned char *rnd = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "random");
	advise(rnd, 4 * PG, MADV_RANDOM, "RANDOM");
	fill(rnd, 4 * PG, 7);
	unsigned char *locked = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "locked");
	fill(locked, 4 * PG, 8);
	if (mlock(locked, 4 * PG) < 0)
		case_setup_fail("mlock: %s", strerror(errno));
	unsigned char *onfault = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "onfault");
	if (syscall(SYS_mlock2, onfault, 4 * PG, MLOCK_ONFAULT) < 0)
		case_setup_fail("mlock2: %s", strerror(errno));
	onfault[0] = 9;
	unsigned char *noreserve = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, "noreserve");
	fill(noreserve, 4 * PG, 10);
	unsigned char *ro = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "read-only");
	fill(ro, 4 * PG, 11);
	if (mprotect(ro, 4 * PG, PROT_READ) < 0)
		case_setup_fail("mprotect: %s", strerror(errno));
	/* mseal (Linux 6.10): a sealed area cannot be unmapped or changed any more */
	unsigned char *sealed = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "sealed");
	fill(sealed, 4 * PG, 14);
	if (syscall(462 /* mseal */, sealed, 4 * PG, 0) < 0 && errno != ENOSYS)
		case_setup_fail("mseal: %s", strerror(errno));
	/* MAP_DROPPABLE (Linux 6.11): the kernel may drop its pages under memory pressure (VmFlags dp) */
	unsigned char *drop = map(4 * PG, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, "droppable");
	fill(drop, 4 * PG, 15);
	unsigned char *shanon = map(4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, "shared anonymous");
	fill(shanon, 4 * PG, 12);

	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s.map", case_out);
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)(4 * PG)) < 0)
		case_setup_fail("%s: %s", path, strerror(errno));
	unsigned char *fshared = map(4 * PG, PROT_READ, MAP_SHARED, fd, "file shared read-only (fd read-write)");
	unsigned char *fpriv = map(4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, "file private");
	fill(fpriv, 4 * PG, 13);
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		case_setup_fail("%s: %s", path, strerror(errno));
	unsigned char *frdonly = map(4 * PG, PROT_READ, MAP_SHARED, fd, "file shared (fd read-only)");
	close(fd);
	int mfd = memfd_create("vmflags", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, (off_t)(4 * PG)) < 0)
		case_setup_fail("memfd: %s", strerror(errno));
	unsigned char *mshared = map(4 * PG, PROT_READ, MAP_SHARED, mfd, "memfd shared read-only");
	close(mfd);

	vmflags(before, sizeof before);
	case_ready();
	case_wait_term();
	vmflags(after, sizeof after);
	compare();

	/* the flags mean what they say */
	if (!case_failed && mprotect(fshared, 4 * PG, PROT_READ | PROT_WRITE) < 0)
		case_fail("mprotect(PROT_WRITE) of the shared file mapping opened read-write: %s", case_errname(errno));
	if (!case_failed && mprotect(mshared, 4 * PG, PROT_READ | PROT_WRITE) < 0)
		case_fail("mprotect(PROT_WRITE) of the shared memfd mapping: %s", case_errname(errno));
	if (!case_failed && mprotect(frdonly, 4 * PG, PROT_READ | PROT_WRITE) == 0)
		case_fail("mprotect(PROT_WRITE) of the shared file mapping opened read-only succeeded");
	if (!case_failed) {
		fshared[100] = 42;
		mshared[100] = 43;
		if (frdonly[100] != 42)
			case_fail("a write through the shared file mapping is not seen by the other one");
	}
	if (!case_failed && !(filled(dontfork, 4 * PG, 1) && filled(dontdump, 4 * PG, 2) && filled(huge, HUGE, 3) &&
			       filled(nohuge, 8 * PG, 4) && filled(merge, 8 * PG, 5) && filled(wipe, 4 * PG, 6) &&
			       filled(rnd, 4 * PG, 7) && filled(locked, 4 * PG, 8) && onfault[0] == 9 &&
			       filled(noreserve, 4 * PG, 10) && filled(ro, 4 * PG, 11) && filled(shanon, 4 * PG, 12) &&
			       filled(fpriv, 4 * PG, 13) && filled(sealed, 4 * PG, 14) && seq[0] == 0))
		case_fail("memory contents differ after the restart");
	for (size_t k = 0; k < 4 * PG && !case_failed; k += 64) /* droppable pages are not saved: zeros, as if dropped */
		if (drop[k])
			case_fail("droppable page %zu is not zero after the restart", k / PG);
	if (!case_failed) {
		pid_t p = fork();
		if (p == 0) {
			/* the child: DONTFORK is not mapped, WIPEONFORK is zero, the rest is inherited */
			int ok = mprotect(dontfork, PG, PROT_READ) < 0 && errno == ENOMEM && wipe[0] == 0 && wipe[64] == 0 &&
				 filled(merge, 8 * PG, 5) && shanon[64] == (unsigned char)(1 + 12);
			_exit(ok ? 0 : 1);
		}
		int st = 0;
		if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			case_fail("a forked child does not see DONTFORK/WIPEONFORK as set (status %d)", st);
	}
	case_finish();
}
