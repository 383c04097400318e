// build: gcc -O2 -g -Wall -Wextra -o cow cow.c
/*
 * cow.c - copy-on-write sharing between a parent, its children and a grandchild comes back
 * exactly: the same pages are one physical page in the same processes, the others are not.
 *
 *   cow --out FILE        (needs root: frame numbers in /proc/PID/pagemap)
 *
 * The root P maps a region R of 256 pages (its own mapping between guard pages) and fills
 * pages 0-199 (200-255 never touched), and grows its heap by 32 pages, all filled. Then:
 *   P forks A; P writes R[10..19]           (A keeps the old pages: its own)
 *   P forks B                               (B shares everything with P, R[10..19] included)
 *   A writes R[20..29], then forks A1       (A1 shares A's pages: R[10..29] from A, the rest
 *                                            from P through A)
 *   A1 writes R[40..44] and R[210]          (its own; R[210] a page nobody else has)
 *   B writes R[50..59] and heap page 5, and drops R[60..69] (MADV_DONTNEED: holes)
 * None of them writes after that (a page written by the parent after two forks would leave the
 * two children sharing the old page with each other but not with the parent: see design.md).
 * And 400 one-page mappings (alternately read-write and read-only), filled before the forks; A
 * writes the 100th before it forks A1. Before ready, P records for R, the 32 heap pages and
 * the 400 mappings of every process: which pages are
 * present, for each pair of processes which present pages are the same frame, a hash of every
 * present page (read through /proc/PID/mem), and from /proc/PID/smaps the Rss, Pss,
 * Shared_Dirty, Private_Dirty and Anonymous of R's and the heap's mapping; and it checks that
 * the scenario produced the sharing described above (so the test cannot pass vacuously).
 * After SIGTERM (the tree restarted) all of it must be exactly the same. The children only
 * sleep; P kills them at the end.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define PG 4096UL
#define RPAGES 256
#define HPAGES 32
#define MPAGES 400 /* one mapping each: many mappings to share (several batches of calls) */
#define NP 4 /* P, A, B, A1 */
#define NPAGES (RPAGES + HPAGES + MPAGES)

static const char *name[NP] = { "P", "A", "B", "A1" };
static pid_t pid[NP];
static unsigned char *R, *H, *M;

struct snap {
	unsigned char present[NP][NPAGES];
	uint64_t pfn[NP][NPAGES];
	uint64_t hash[NP][NPAGES];
	long smaps[NP][2][5]; /* R, heap: Rss Pss Shared_Dirty Private_Dirty Anonymous (kB) */
};
static struct snap before, after;

static uint64_t addr_of(int i)
{
	if (i < RPAGES)
		return (uint64_t)(uintptr_t)R + (uint64_t)i * PG;
	if (i < RPAGES + HPAGES)
		return (uint64_t)(uintptr_t)H + (uint64_t)(i - RPAGES) * PG;
	return (uint64_t)(uintptr_t)M + (uint64_t)(i - RPAGES - HPAGES) * PG;
}

static void pattern(unsigned char *p, size_t pages, uint64_t salt)
{
	for (size_t i = 0; i < pages * PG; i += 8) {
		uint64_t v = case_splitmix(salt ^ (uint64_t)(uintptr_t)(p + i));
		memcpy(p + i, &v, 8);
	}
}

static int open_proc(pid_t p, const char *what)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)p, what);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static const char *fields[5] = { "Rss:", "Pss:", "Shared_Dirty:", "Private_Dirty:", "Anonymous:" };

/* The five numbers of the mapping that starts at or holds start. */
static int smaps(pid_t p, uint64_t start, long out[5])
{
	static char buf[1 << 20];
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/smaps", (int)p);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	ssize_t n;
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	int in = 0, got = 0;
	for (char *line = buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = 0;
		unsigned long long s, e;
		char c;
		if (sscanf(line, "%llx-%llx %c", &s, &e, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = s <= start && start < e;
			continue;
		}
		for (int f = 0; in && f < 5; f++)
			if (!strncmp(line, fields[f], strlen(fields[f]))) {
				out[f] = atol(line + strlen(fields[f]));
				got++;
			}
	}
	return got == 5 ? 0 : -1;
}

static int take(struct snap *s)
{
	memset(s, 0, sizeof *s);
	static unsigned char page[PG];
	for (int k = 0; k < NP; k++) {
		/* memory through /proc/PID/mem, not process_vm_readv: that pins the page, and pinning
		 * a shared anonymous page for reading unshares it (the reader would break what it
		 * looks at) */
		int pm = open_proc(pid[k], "pagemap"), mem = open_proc(pid[k], "mem");
		for (int i = 0; i < NPAGES && pm >= 0 && mem >= 0; i++) {
			uint64_t e;
			if (pread(pm, &e, 8, (off_t)(addr_of(i) / PG * 8)) != 8) {
				case_fail("cannot read the page map of %s (pid %d)", name[k], (int)pid[k]);
				break;
			}
			s->present[k][i] = (e >> 63) & 1;
			s->pfn[k][i] = e & ((1ULL << 55) - 1);
			if (!s->present[k][i])
				continue;
			if (!s->pfn[k][i]) {
				case_fail("no frame numbers in the page maps (not root?)");
				break;
			}
			if (pread(mem, page, PG, (off_t)addr_of(i)) != (ssize_t)PG) {
				case_fail("cannot read page %d of %s: %s", i, name[k], strerror(errno));
				break;
			}
			s->hash[k][i] = case_hash(page, PG);
		}
		if (pm < 0 || mem < 0)
			case_fail("cannot open the page map or memory of %s (pid %d)", name[k], (int)pid[k]);
		if (pm >= 0)
			close(pm);
		if (mem >= 0)
			close(mem);
		if (case_failed)
			return -1;
		if (smaps(pid[k], addr_of(0), s->smaps[k][0]) < 0 || smaps(pid[k], addr_of(RPAGES), s->smaps[k][1]) < 0)
			return case_fail("cannot read the smaps of %s", name[k]), -1;
	}
	return 0;
}

static int same(const struct snap *s, int k, int l, int i)
{
	return s->present[k][i] && s->present[l][i] && s->pfn[k][i] == s->pfn[l][i];
}

/* The sharing the scenario must have produced: groups of processes that share page i (one frame
 * each), "-" for absent, e.g. "PB|AA1". */
static void expect(int i, const char *want)
{
	char got[64] = "";
	int done[NP] = { 0 };
	for (int k = 0; k < NP; k++) {
		if (done[k] || !before.present[k][i])
			continue;
		if (got[0])
			strcat(got, "|");
		for (int l = k; l < NP; l++)
			if (l == k || same(&before, k, l, i)) {
				strcat(got, name[l]);
				done[l] = 1;
			}
	}
	if (!got[0])
		strcpy(got, "-");
	if (strcmp(got, want))
		case_setup_fail("page %d: sharing %s before the checkpoint, the scenario makes %s", i, got, want);
}

static void child_sleep(int ready_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (write(ready_fd, "x", 1) != 1)
		_exit(3);
	close(ready_fd);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	unsigned char *g = mmap(NULL, (RPAGES + 2) * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED || mprotect(g + PG, RPAGES * PG, PROT_READ | PROT_WRITE) < 0)
		case_setup_fail("mmap: %s", strerror(errno));
	R = g + PG;
	uintptr_t brk0 = (uintptr_t)sbrk(0);
	if (sbrk((intptr_t)((PG - brk0 % PG) % PG)) == (void *)-1 || (H = sbrk(HPAGES * PG)) == (void *)-1)
		case_setup_fail("sbrk: %s", strerror(errno));
	pattern(R, 200, 0);
	pattern(H, HPAGES, 0);
	if ((M = mmap(NULL, MPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	pattern(M, MPAGES, 0);
	for (int i = 1; i < MPAGES; i += 2) /* one mapping per page */
		if (mprotect(M + i * PG, PG, PROT_READ) < 0)
			case_setup_fail("mprotect: %s", strerror(errno));
	int rd[2], pp[2];
	case_pipe(rd, "ready");
	case_pipe(pp, "pid");
	pid[0] = getpid();
	if ((pid[1] = fork()) == 0) { /* A */
		close(rd[0]);
		pattern(R + 20 * PG, 10, 2);
		pattern(M + 100 * PG, 1, 2);
		pid_t a1 = fork();
		if (a1 == 0) { /* A1 */
			pattern(R + 40 * PG, 5, 3);
			pattern(R + 210 * PG, 1, 3);
			child_sleep(rd[1]);
		}
		if (a1 < 0 || write(pp[1], &a1, sizeof a1) != sizeof a1)
			_exit(3);
		child_sleep(rd[1]);
	}
	pattern(R + 10 * PG, 10, 1);
	if ((pid[2] = fork()) == 0) { /* B */
		close(rd[0]);
		pattern(R + 50 * PG, 10, 4);
		pattern(H + 5 * PG, 1, 4);
		if (madvise(R + 60 * PG, 10 * PG, MADV_DONTNEED) < 0)
			_exit(3);
		child_sleep(rd[1]);
	}
	if (pid[1] < 0 || pid[2] < 0)
		case_setup_fail("fork: %s", strerror(errno));
	close(rd[1]);
	char x[3];
	if (case_read_full(rd[0], x, 3, case_now_ms() + 10000) != 3 ||
	    case_read_full(pp[0], &pid[3], sizeof pid[3], case_now_ms() + 10000) != sizeof pid[3])
		case_setup_fail("the children did not get ready");
	close(rd[0]);
	close(pp[0]);
	close(pp[1]);

	if (take(&before) < 0)
		case_setup_fail("%s", case_fail_msg);
	expect(5, "PABA1");
	expect(15, "PB|AA1");
	expect(25, "PB|AA1");
	expect(42, "PAB|A1");
	expect(55, "PAA1|B");
	expect(65, "PAA1");
	expect(150, "PABA1");
	expect(210, "A1");
	expect(230, "-");
	expect(RPAGES + 0, "PABA1");
	expect(RPAGES + 5, "PAA1|B");
	expect(RPAGES + HPAGES + 7, "PABA1");
	expect(RPAGES + HPAGES + 100, "PB|AA1");
	case_ready();
	case_wait_term();

	if (take(&after) == 0) {
		for (int i = 0; i < NPAGES && !case_failed; i++)
			for (int k = 0; k < NP && !case_failed; k++) {
				const char *where = i < RPAGES ? "region" : i < RPAGES + HPAGES ? "heap" : "one-page mapping";
				int p = i < RPAGES ? i : i < RPAGES + HPAGES ? i - RPAGES : i - RPAGES - HPAGES;
				if (after.present[k][i] != before.present[k][i])
					case_fail("%s page %d of %s is %s now (not before the checkpoint)", where, p, name[k], after.present[k][i] ? "present" : "missing");
				else if (after.present[k][i] && after.hash[k][i] != before.hash[k][i])
					case_fail("%s page %d of %s changed", where, p, name[k]);
				for (int l = k + 1; l < NP && !case_failed; l++)
					if (same(&after, k, l, i) != same(&before, k, l, i))
						case_fail("%s page %d: %s and %s %s one page now, %s before the checkpoint", where, p, name[k], name[l],
							  same(&after, k, l, i) ? "share" : "do not share", same(&before, k, l, i) ? "shared it" : "did not");
			}
		for (int k = 0; k < NP && !case_failed; k++)
			for (int m = 0; m < 2 && !case_failed; m++)
				for (int f = 0; f < 5 && !case_failed; f++)
					if (after.smaps[k][m][f] != before.smaps[k][m][f])
						case_fail("%s of %s's %s mapping: %ld kB now, %ld kB before the checkpoint", fields[f], name[k],
							  m ? "heap" : "region", after.smaps[k][m][f], before.smaps[k][m][f]);
	}
	kill(pid[3], SIGKILL);
	kill(pid[1], SIGKILL);
	kill(pid[2], SIGKILL);
	case_kill_stray_children(0);
	case_finish();
}
