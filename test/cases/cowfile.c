// build: gcc -O2 -g -Wall -Wextra -o cowfile cowfile.c
/*
 * cowfile.c - copy-on-write sharing of the written pages of a file mapped privately (a
 * library's .data, RELRO, a program's private view of a data file) comes back exactly.
 *
 *   cowfile --out FILE        (needs root: frame numbers in /proc/PID/pagemap)
 *
 * P writes a 48-page file FILE.map and maps it twice, privately: X (all 48 pages, read-write)
 * and Y (8 pages from page 16, made read-only after its first 4 pages were written, as the
 * dynamic loader does with RELRO). Then:
 *   P writes X[0..31] and Y[0..3]        (its pages: anonymous copies of the file's)
 *   P forks A; A writes X[16..23]        (A keeps the rest of P's pages: shared)
 *   P writes X[24..31], then forks B     (A keeps the old X[24..31]; B shares P's new ones)
 *   B writes X[40..43]                   (pages only B has; the file's pages elsewhere)
 *   P reads X[32..39]                    (the file's own pages: page cache, not copies)
 * For every page of X and Y and every process the case records whether the page is an
 * anonymous copy and which processes share that copy (frame numbers), and a hash of what each
 * process reads there (through /proc/PID/mem, which does not pin pages); and the Anonymous
 * kB of X in each process's smaps. It checks that the scenario made the sharing above (so the
 * test cannot pass vacuously). After SIGTERM (the tree restarted) all of it must be the same,
 * and X and Y must still be mappings of FILE.map.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/prctl.h>

#define PG 4096UL
#define XPAGES 48
#define YPAGES 8
#define NPAGES (XPAGES + YPAGES)
#define NP 3 /* P, A, B */

static const char *name[NP] = { "P", "A", "B" };
static pid_t pid[NP];
static unsigned char *X, *Y;
static char path[PATH_MAX + 8];

struct snap {
	unsigned char anon[NP][NPAGES]; /* present and anonymous (bit 61 clear) */
	uint64_t pfn[NP][NPAGES];
	uint64_t hash[NP][NPAGES];
	long anon_kb[NP];
};
static struct snap before, after;

static uint64_t addr_of(int i)
{
	return i < XPAGES ? (uint64_t)(uintptr_t)X + (uint64_t)i * PG : (uint64_t)(uintptr_t)Y + (uint64_t)(i - XPAGES) * PG;
}

static void pattern(unsigned char *p, size_t pages, uint64_t salt)
{
	for (size_t i = 0; i < pages * PG; i += 8) {
		uint64_t v = case_splitmix(salt ^ (uint64_t)(i + 1));
		memcpy(p + i, &v, 8);
	}
}

static int open_proc(pid_t p, const char *what)
{
	char pth[64];
	snprintf(pth, sizeof pth, "/proc/%d/%s", (int)p, what);
	return open(pth, O_RDONLY | O_CLOEXEC);
}

/* The Anonymous: line of the mapping that starts at start, in kB (-1: not found). */
static long anon_kb(pid_t p, uint64_t start)
{
	FILE *f = fdopen(open_proc(p, "smaps"), "r");
	if (!f)
		return -1;
	char line[512];
	long kb = -1;
	int in = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long long s, e;
		if (sscanf(line, "%llx-%llx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = s == start;
			continue;
		}
		if (in && !strncmp(line, "Anonymous:", 10))
			kb = atol(line + 10);
	}
	fclose(f);
	return kb;
}

static int take(struct snap *s)
{
	memset(s, 0, sizeof *s);
	static unsigned char page[PG];
	for (int k = 0; k < NP; k++) {
		int pm = open_proc(pid[k], "pagemap"), mem = open_proc(pid[k], "mem");
		if (pm < 0 || mem < 0)
			return case_fail("cannot open the page map or memory of %s (pid %d)", name[k], (int)pid[k]), -1;
		for (int i = 0; i < NPAGES && !case_failed; i++) {
			uint64_t e;
			if (pread(pm, &e, 8, (off_t)(addr_of(i) / PG * 8)) != 8)
				case_fail("cannot read the page map of %s", name[k]);
			else if (((e >> 63) & 1) && !((e >> 61) & 1)) {
				s->anon[k][i] = 1;
				if (!(s->pfn[k][i] = e & ((1ULL << 55) - 1)))
					case_fail("no frame numbers in the page maps (not root?)");
			}
			/* after the page map: reading may fault the file's page in, never a copy */
			if (!case_failed && pread(mem, page, PG, (off_t)addr_of(i)) != (ssize_t)PG)
				case_fail("cannot read page %d of %s: %s", i, name[k], strerror(errno));
			s->hash[k][i] = case_hash(page, PG);
		}
		close(pm);
		close(mem);
		if (case_failed)
			return -1;
		if ((s->anon_kb[k] = anon_kb(pid[k], addr_of(0))) < 0)
			return case_fail("no smaps entry for X in %s", name[k]), -1;
	}
	return 0;
}

static int same(const struct snap *s, int k, int l, int i)
{
	return s->anon[k][i] && s->anon[l][i] && s->pfn[k][i] == s->pfn[l][i];
}

/* Groups of processes sharing an anonymous copy of page i, e.g. "PB|A"; "-": nobody's. */
static void describe(const struct snap *s, int i, char *out)
{
	int done[NP] = { 0 };
	out[0] = 0;
	for (int k = 0; k < NP; k++) {
		if (done[k] || !s->anon[k][i])
			continue;
		if (out[0])
			strcat(out, "|");
		for (int l = k; l < NP; l++)
			if (l == k || same(s, k, l, i)) {
				strcat(out, name[l]);
				done[l] = 1;
			}
	}
	if (!out[0])
		strcpy(out, "-");
}

static void expect(int from, int to, const char *want)
{
	char got[32];
	for (int i = from; i <= to; i++) {
		describe(&before, i, got);
		if (strcmp(got, want))
			case_setup_fail("page %d: sharing %s before the checkpoint, the scenario makes %s", i, got, want);
	}
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

/* X and Y still map the file, at their addresses. */
static void check_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 128];
	int found = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long long s;
		char *p = strchr(line, '/');
		if (sscanf(line, "%llx-", &s) == 1 && p && (s == addr_of(0) || s == addr_of(XPAGES))) {
			p[strcspn(p, "\n")] = 0;
			if (strcmp(p, path))
				case_fail("mapping at 0x%llx maps %s, not %s", s, p, path);
			found++;
		}
	}
	if (f)
		fclose(f);
	if (found != 2)
		case_fail("%d of the 2 private file mappings found at their addresses", found);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	snprintf(path, sizeof path, "%s.map", case_out);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	static unsigned char file[XPAGES * PG];
	pattern(file, XPAGES, 7);
	if (fd < 0 || write(fd, file, sizeof file) != (ssize_t)sizeof file)
		case_setup_fail("cannot write %s: %s", path, strerror(errno));
	X = mmap(NULL, XPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	Y = mmap(NULL, YPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 16 * PG);
	close(fd);
	if (X == MAP_FAILED || Y == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	pattern(X, 32, 1);
	pattern(Y, 4, 2);
	if (mprotect(Y, YPAGES * PG, PROT_READ) < 0)
		case_setup_fail("mprotect: %s", strerror(errno));
	int rd[2];
	case_pipe(rd, "ready");
	pid[0] = getpid();
	if ((pid[1] = fork()) == 0) { /* A */
		close(rd[0]);
		pattern(X + 16 * PG, 8, 3);
		child_sleep(rd[1]);
	}
	pattern(X + 24 * PG, 8, 4);
	if ((pid[2] = fork()) == 0) { /* B */
		close(rd[0]);
		pattern(X + 40 * PG, 4, 5);
		child_sleep(rd[1]);
	}
	if (pid[1] < 0 || pid[2] < 0)
		case_setup_fail("fork: %s", strerror(errno));
	close(rd[1]);
	volatile unsigned char sink = 0;
	for (int i = 32; i < 40; i++)
		sink ^= X[i * PG];
	(void)sink;
	char x[2];
	if (case_read_full(rd[0], x, 2, case_now_ms() + 10000) != 2)
		case_setup_fail("the children did not get ready");
	close(rd[0]);

	if (take(&before) < 0)
		case_setup_fail("%s", case_fail_msg);
	expect(0, 15, "PAB");
	expect(16, 31, "PB|A");
	expect(32, 39, "-");
	expect(40, 43, "B");
	expect(44, 47, "-");
	expect(XPAGES, XPAGES + 3, "PAB");
	expect(XPAGES + 4, NPAGES - 1, "-");
	case_ready();
	case_wait_term();

	check_maps();
	if (!case_failed && take(&after) == 0) {
		char b[32], a[32];
		for (int i = 0; i < NPAGES && !case_failed; i++) {
			const char *m = i < XPAGES ? "X" : "Y";
			int p = i < XPAGES ? i : i - XPAGES;
			describe(&before, i, b);
			describe(&after, i, a);
			if (strcmp(a, b))
				case_fail("%s page %d: copies shared as %s now, %s before the checkpoint", m, p, a, b);
			for (int k = 0; k < NP && !case_failed; k++)
				if (after.hash[k][i] != before.hash[k][i])
					case_fail("%s page %d of %s reads differently now", m, p, name[k]);
		}
		for (int k = 0; k < NP && !case_failed; k++)
			if (after.anon_kb[k] != before.anon_kb[k])
				case_fail("Anonymous of %s's X: %ld kB now, %ld kB before the checkpoint", name[k], after.anon_kb[k], before.anon_kb[k]);
	}
	kill(pid[1], SIGKILL);
	kill(pid[2], SIGKILL);
	case_kill_stray_children(0);
	unlink(path);
	case_finish();
}
