// build: gcc -O2 -g -Wall -Wextra -o shmem shmem.c
/*
 * shmem.c - shared memory stays shared between the same tasks.
 *
 *   shmem --out FILE
 *
 * Set up (parent P, child C forked after the mappings exist):
 *   A  8 MiB MAP_SHARED|MAP_ANONYMOUS: pages 0..99 and 1000..1099 hold a pattern, the rest
 *      was never touched (a hole that must stay zero); shared by P and C.
 *   M  memfd "ucr-shm" of 1 MiB with a pattern: mapped MAP_SHARED by both (C maps it at
 *      another address, at offset 64 KiB), held as an fd by C only (P closed its fd after
 *      mapping it), and mapped MAP_PRIVATE by P, whose first page P then wrote (copy on
 *      write: a private page over the shared object).
 *   S  memfd "ucr-sealed" of 8 KiB, sealed against writes, mapped read-only by P (fd closed).
 * After SIGTERM, P checks its view (contents, hole, private page, seals, names in maps), then
 * asks C (pipe) to check its view and write into A and M; P then sees C's writes through its
 * own mappings, writes through its shared mapping of M, and C sees that through its fd and its
 * mapping. P reaps C and writes PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/mman.h>

#define A_LEN (8UL << 20)
#define M_LEN (1UL << 20)
#define S_LEN 8192UL
#define PG 4096UL

static unsigned char pat(size_t i, int salt) { return (unsigned char)(i * 13 + (i >> 12) * 7 + (unsigned)salt); }

static int a_written(size_t page) { return page < 100 || (page >= 1000 && page < 1100); }

/* 0 if region [p, p+len) holds pattern salt from object offset off, else the first bad offset+1 */
static size_t check_pat(const unsigned char *p, size_t len, size_t off, int salt)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(off + i, salt))
			return off + i + 1;
	return 0;
}

static void check_a(const char *who, const unsigned char *a)
{
	for (size_t pg = 0; pg < A_LEN / PG; pg++)
		for (size_t i = pg * PG; i < (pg + 1) * PG; i += 512)
			if (a[i] != (a_written(pg) ? pat(i, 1) : 0)) {
				case_fail("%s: shared anonymous memory differs at offset %zu (page %zu %s)", who, i, pg,
					  a_written(pg) ? "written" : "never touched");
				return;
			}
}

static int maps_has(const char *name, int shared)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, name) && line[strcspn(line, " ") + 4] == (shared ? 's' : 'p'))
			found = 1;
	if (f)
		fclose(f);
	return found;
}

__attribute__((noreturn)) static void child(int req, int ans, unsigned char *a, int mfd)
{
	unsigned char *m2 = mmap(NULL, M_LEN - 65536, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 65536);
	if (m2 == MAP_FAILED)
		case_child_die("C", "mmap memfd: %s", strerror(errno));
	if (write(ans, "r", 1) != 1)
		_exit(3);
	char c;
	if (read(req, &c, 1) != 1) /* P: check and write */
		_exit(3);
	char why[256] = "";
	size_t bad;
	check_a("C", a);
	if ((bad = check_pat(m2, M_LEN - 65536, 65536, 2)))
		snprintf(why, sizeof why, "C: memfd mapping differs at object offset %zu", bad - 1);
	char link[128] = { 0 }, self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", mfd);
	if (!why[0] && (readlink(self, link, sizeof link - 1) < 0 || strcmp(link, "/memfd:ucr-shm (deleted)")))
		snprintf(why, sizeof why, "C: memfd fd is now \"%s\"", link);
	a[5 * PG + 1] = 0xA5;              /* into A */
	m2[3 * PG] = 0x5A;                 /* into M at object offset 64 KiB + 3 pages */
	if (write(ans, why[0] ? why : "ok", why[0] ? strlen(why) : 2) < 0 || read(req, &c, 1) != 1)
		_exit(3);
	/* P wrote 0x77 at object offset 200000 of M through its shared mapping */
	unsigned char v = 0;
	why[0] = 0;
	if (pread(mfd, &v, 1, 200000) != 1 || v != 0x77)
		snprintf(why, sizeof why, "C: P's write into the memfd is not seen through C's fd (0x%02x)", v);
	else if (m2[200000 - 65536] != 0x77)
		snprintf(why, sizeof why, "C: P's write into the memfd is not seen through C's mapping");
	if (write(ans, why[0] ? why : "ok", why[0] ? strlen(why) : 2) < 0)
		_exit(3);
	_exit(0);
}

static void answer(int ans, const char *step)
{
	char buf[300] = { 0 };
	if (case_wait_readable(ans, 10000) != 1 || read(ans, buf, sizeof buf - 1) <= 0)
		case_fail("C gave no answer (%s)", step);
	else if (strcmp(buf, "ok"))
		case_fail("%s", buf);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	unsigned char *a = mmap(NULL, A_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int mfd = memfd_create("ucr-shm", MFD_CLOEXEC);
	int sfd = memfd_create("ucr-sealed", MFD_ALLOW_SEALING);
	if (a == MAP_FAILED || mfd < 0 || sfd < 0 || ftruncate(mfd, M_LEN) || ftruncate(sfd, S_LEN))
		case_setup_fail("set-up: %s", strerror(errno));
	for (size_t pg = 0; pg < A_LEN / PG; pg++)
		if (a_written(pg))
			for (size_t i = pg * PG; i < (pg + 1) * PG; i++)
				a[i] = pat(i, 1);
	unsigned char *m = mmap(NULL, M_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	unsigned char *mp = mmap(NULL, M_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	if (m == MAP_FAILED || mp == MAP_FAILED)
		case_setup_fail("mmap memfd: %s", strerror(errno));
	for (size_t i = 0; i < M_LEN; i++)
		m[i] = pat(i, 2);
	memset(mp, 0xEE, PG); /* P's private copy of page 0 */
	static unsigned char sbuf[S_LEN];
	for (size_t i = 0; i < S_LEN; i++)
		sbuf[i] = pat(i, 3);
	if (pwrite(sfd, sbuf, S_LEN, 0) != (ssize_t)S_LEN)
		case_setup_fail("write sealed memfd: %s", strerror(errno));
	if (fcntl(sfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		case_setup_fail("seal memfd: %s", strerror(errno));
	unsigned char *s = mmap(NULL, S_LEN, PROT_READ, MAP_SHARED, sfd, 0); /* sealed: read-only */
	if (s == MAP_FAILED)
		case_setup_fail("mmap sealed memfd: %s", strerror(errno));
	close(sfd);
	int rq[2], an[2];
	pid_t c = case_fork_talker(rq, an, &mfd, 1);
	if (c == 0)
		child(rq[0], an[1], a, mfd);
	close(mfd);
	char r;
	if (case_wait_readable(an[0], 10000) != 1 || read(an[0], &r, 1) != 1)
		case_setup_fail("the child did not start");
	case_ready();
	case_wait_term();

	size_t bad;
	check_a("P", a);
	if ((bad = check_pat(m, M_LEN, 0, 2)))
		case_fail("P: memfd shared mapping differs at %zu", bad - 1);
	for (size_t i = 0; i < PG; i++)
		if (mp[i] != 0xEE) {
			case_fail("P: the private page over the memfd lost its copy-on-write contents");
			break;
		}
	if ((bad = check_pat(mp + PG, M_LEN - PG, PG, 2)))
		case_fail("P: the private mapping of the memfd differs at %zu", bad - 1);
	if ((bad = check_pat(s, S_LEN, 0, 3)))
		case_fail("P: sealed memfd differs at %zu", bad - 1);
	if (!maps_has("/dev/zero (deleted)", 1))
		case_fail("P: no shared \"/dev/zero (deleted)\" mapping in /proc/self/maps");
	if (!maps_has("/memfd:ucr-shm (deleted)", 1) || !maps_has("/memfd:ucr-shm (deleted)", 0) ||
	    !maps_has("/memfd:ucr-sealed (deleted)", 1))
		case_fail("P: memfd mappings missing from /proc/self/maps");
	char self[80];
	snprintf(self, sizeof self, "/proc/self/map_files/%lx-%lx", (unsigned long)s, (unsigned long)s + S_LEN);
	int so = open(self, O_RDONLY);
	if (so < 0 || fcntl(so, F_GET_SEALS) != (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		case_fail("P: the sealed memfd lost its seals (0x%x)", so < 0 ? -1 : fcntl(so, F_GET_SEALS));
	if (write(rq[1], "c", 1) != 1)
		case_fail("cannot ask C");
	answer(an[0], "check");
	if (a[5 * PG + 1] != 0xA5)
		case_fail("P: C's write into shared anonymous memory is not seen (no longer shared)");
	if (m[65536 + 3 * PG] != 0x5A)
		case_fail("P: C's write into the memfd is not seen through P's mapping");
	if (mp[65536 + 3 * PG] != 0x5A)
		case_fail("P: C's write into the memfd is not seen through P's private mapping's clean page");
	m[200000] = 0x77;
	if (write(rq[1], "d", 1) != 1)
		case_fail("cannot ask C");
	answer(an[0], "see P's write");
	case_reap_child("C", c, 5000);
	case_finish();
}
