// build: gcc -O2 -g -Wall -Wextra -o shmfile shmfile.c -lrt
/*
 * shmfile.c - POSIX shared memory (shm_open: a file of /dev/shm) mapped by a parent and its
 * child comes back with its contents, at its name, shared between them.
 *
 *   shmfile --out FILE --name /NAME
 *
 * The parent P shm_opens NAME (mode 0640), sizes it to 256 KiB, writes a pattern into pages
 * 0-3 and 40 (the rest is never touched), maps it shared (and page 0 once more privately,
 * then writes its private copy), forks a child C that maps it shared too and keeps its fd, and
 * closes its own fd.
 * After SIGTERM P checks: the contents (pattern, untouched pages zero, private page), the
 * name in /proc/self/maps, the file's mode and size; then C writes into the shared memory and
 * P sees it; then shm_open(NAME) again and a write through that new mapping is seen through
 * the old one (one object, found by its name).
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define LEN (256UL << 10)
#define PG 4096UL

static unsigned char pat(size_t i) { return (unsigned char)(i * 7 + (i >> 12) * 3 + 1); }
static int written(size_t page) { return page < 4 || page == 40; }
/* checked before anything is written after the restart */

static void check_contents(const unsigned char *m)
{
	for (size_t pg = 0; pg < LEN / PG; pg++)
		for (size_t i = pg * PG; i < (pg + 1) * PG; i += 256)
			if (m[i] != (written(pg) ? pat(i) : 0)) {
				case_fail("shared memory differs at offset %zu (page %zu, %s)", i, pg, written(pg) ? "written" : "never touched");
				return;
			}
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	const char *name = case_arg(argc, argv, "--name");
	if (!name || name[0] != '/')
		case_die_usage(argv[0], "missing --name /NAME");
	case_install_sigterm(0);
	mode_t old = umask(0);
	int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0640);
	umask(old);
	if (fd < 0 || ftruncate(fd, (off_t)LEN) < 0)
		case_setup_fail("shm_open %s: %s", name, strerror(errno));
	unsigned char *m = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned char *priv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED || priv == MAP_FAILED)
		case_setup_fail("mmap: %s", strerror(errno));
	for (size_t pg = 0; pg < LEN / PG; pg++)
		if (written(pg))
			for (size_t i = pg * PG; i < (pg + 1) * PG; i++)
				m[i] = pat(i);
	memcpy(priv, "private copy", 12);
	int req[2], res[2];
	if (pipe(req) < 0 || pipe(res) < 0)
		case_setup_fail("pipe: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		case_setup_fail("fork: %s", strerror(errno));
	if (child == 0) {
		signal(SIGTERM, SIG_DFL);
		close(req[1]);
		close(res[0]);
		unsigned char *cm = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		char c = cm == MAP_FAILED ? 'F' : 'R';
		if (write(res[1], &c, 1) != 1)
			_exit(1);
		while (read(req[0], &c, 1) < 0 && errno == EINTR)
			;
		memcpy(cm + 100 * PG / 2, "from the child", 14); /* offset 200 KiB */
		char b[8] = { 0 }; /* its fd (kept open) is the same file again */
		c = pread(fd, b, 7, 5 * PG) == 7 && !memcmp(b, "by name", 7) ? 'W' : 'X';
		if (write(res[1], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(req[0]);
	close(res[1]);
	close(fd);
	char c = 0;
	if (read(res[0], &c, 1) != 1 || c != 'R')
		case_setup_fail("the child could not map the shared memory");
	case_ready();
	case_wait_term();

	check_contents(m);
	if (!case_failed && memcmp(priv, "private copy", 12))
		case_fail("the private mapping lost its written page");
	char path[PATH_MAX];
	snprintf(path, sizeof path, "/dev/shm%s", name);
	struct stat st;
	if (!case_failed && (stat(path, &st) < 0 || (st.st_mode & 07777) != 0640 || (size_t)st.st_size != LEN))
		case_fail("%s: missing, or mode %04o size %lld (expected 0640, %lu)", path, st.st_mode & 07777, (long long)st.st_size, LEN);
	if (!case_failed) {
		FILE *f = fopen("/proc/self/maps", "r");
		char line[512];
		int n = 0;
		while (f && fgets(line, sizeof line, f))
			if (strstr(line, path) && !strstr(line, "(deleted)"))
				n++;
		if (f)
			fclose(f);
		if (n != 2)
			case_fail("/proc/self/maps names %s %d times, expected 2 mappings", path, n);
	}
	if (!case_failed)
		memcpy(m + 5 * PG, "by name", 7);
	if (!case_failed) {
		c = 'G';
		if (write(req[1], &c, 1) != 1 || read(res[0], &c, 1) != 1 || (c != 'W' && c != 'X'))
			case_fail("the child did not answer");
		else if (c == 'X')
			case_fail("the child's fd of the file does not see the shared memory");
		else if (memcmp(m + 100 * PG / 2, "from the child", 14))
			case_fail("the child's write is not seen: the memory is no longer shared");
	}
	if (!case_failed) {
		int fd2 = shm_open(name, O_RDWR, 0);
		unsigned char *m2 = fd2 < 0 ? MAP_FAILED : mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
		if (m2 == MAP_FAILED)
			case_fail("shm_open(%s) again: %s", name, case_errname(errno));
		else {
			memcpy(m2 + 6 * PG, "by name", 7);
			if (memcmp(m + 6 * PG, "by name", 7))
				case_fail("shm_open(%s) finds another object than the one mapped", name);
		}
	}
	waitpid(child, NULL, 0);
	shm_unlink(name);
	case_finish();
}
