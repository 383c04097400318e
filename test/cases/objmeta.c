// build: gcc -O2 -g -Wall -Wextra -o objmeta objmeta.c
/*
 * objmeta.c - content objects keep their file mode, owner and seals.
 *
 *   objmeta --out FILE --dir DIR
 *
 * Sets up, each held as an fd only:
 *   A  memfd "ucr-meta-a", mode 0640, owner 65534:100, sealed against shrinking and growing
 *      and against further seals (F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL);
 *   B  memfd "ucr-meta-b" created with MFD_NOEXEC_SEAL (mode 0666, F_SEAL_EXEC), sealed
 *      F_SEAL_FUTURE_WRITE while mapped shared and writable (the mapping may still write);
 *   U  a file in DIR, mode 0604, owner 65534:65534, then unlinked;
 *   T  a file made with O_TMPFILE in DIR (no name ever), written, at offset 3.
 * Each gets its own access and modification times (futimens, nanoseconds included) last.
 * After SIGTERM each must show the same mode, owner, seals and times, and the seals must hold:
 * A cannot grow, shrink or get another seal, B cannot be written through write() but its
 * mapping still writes, B cannot be made executable.
 */
#include "case.h"

#include <sys/mman.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

struct want {
	const char *what;
	int fd;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	int seals;
	struct timespec times[2]; /* atime, mtime */
};

static void check(const struct want *w)
{
	struct stat st;
	if (fstat(w->fd, &st) < 0) {
		case_fail("%s: fstat: %s", w->what, case_errname(errno));
		return;
	}
	if ((st.st_mode & 07777) != w->mode)
		case_fail("%s: mode %04o, expected %04o", w->what, st.st_mode & 07777, w->mode);
	if (st.st_uid != w->uid || st.st_gid != w->gid)
		case_fail("%s: owner %d:%d, expected %d:%d", w->what, (int)st.st_uid, (int)st.st_gid, (int)w->uid, (int)w->gid);
	if (st.st_atim.tv_sec != w->times[0].tv_sec || st.st_atim.tv_nsec != w->times[0].tv_nsec)
		case_fail("%s: atime %lld.%09ld, expected %lld.%09ld", w->what, (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
			  (long long)w->times[0].tv_sec, w->times[0].tv_nsec);
	if (st.st_mtim.tv_sec != w->times[1].tv_sec || st.st_mtim.tv_nsec != w->times[1].tv_nsec)
		case_fail("%s: mtime %lld.%09ld, expected %lld.%09ld", w->what, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			  (long long)w->times[1].tv_sec, w->times[1].tv_nsec);
	if (w->seals >= 0 && fcntl(w->fd, F_GET_SEALS) != w->seals)
		case_fail("%s: seals 0x%x, expected 0x%x", w->what, fcntl(w->fd, F_GET_SEALS), w->seals);
}

int main(int argc, char **argv)
{
	case_init(argc, argv);
	const char *dir = case_arg(argc, argv, "--dir");
	if (!dir)
		case_die_usage(argv[0], "missing --dir DIR");
	case_install_sigterm(0);

	int a = memfd_create("ucr-meta-a", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (a < 0 || ftruncate(a, 8192) < 0 || pwrite(a, "memfd A", 7, 0) != 7)
		case_setup_fail("memfd A: %s", strerror(errno));
	if (fchmod(a, 0640) < 0 || fchown(a, 65534, 100) < 0)
		case_setup_fail("memfd A: chmod/chown: %s", strerror(errno));
	if (fcntl(a, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		case_setup_fail("memfd A: seals: %s", strerror(errno));

	int b = memfd_create("ucr-meta-b", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
	if (b < 0)
		case_setup_fail("memfd B (MFD_NOEXEC_SEAL): %s", strerror(errno));
	if (ftruncate(b, 4096) < 0)
		case_setup_fail("memfd B: ftruncate: %s", strerror(errno));
	char *bm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
	if (bm == MAP_FAILED)
		case_setup_fail("memfd B: mmap: %s", strerror(errno));
	if (fcntl(b, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0)
		case_setup_fail("memfd B: F_SEAL_FUTURE_WRITE: %s", strerror(errno));
	memcpy(bm, "memfd B", 7);
	int bseals = fcntl(b, F_GET_SEALS);
	struct stat bst;
	fstat(b, &bst);

	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/objmeta-unlinked", dir);
	int u = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (u < 0 || ftruncate(u, 4096) < 0 || pwrite(u, "unlinked", 8, 0) != 8 || fchmod(u, 0604) < 0 || fchown(u, 65534, 65534) < 0 || unlink(path) < 0)
		case_setup_fail("unlinked file %s: %s", path, strerror(errno));

	/* T: a file made with O_TMPFILE in DIR (never had a name: "DIR/#INO (deleted)") */
	int tf = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tf < 0 || pwrite(tf, "tmpfile", 7, 0) != 7 || lseek(tf, 3, SEEK_SET) != 3)
		case_setup_fail("O_TMPFILE in %s: %s", dir, strerror(errno));

	struct want w[] = {
		{ "memfd A", a, 0640, 65534, 100, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, { { 0, 0 }, { 0, 0 } } },
		{ "memfd B", b, bst.st_mode & 07777, 0, 0, bseals, { { 0, 0 }, { 0, 0 } } },
		{ "unlinked file", u, 0604, 65534, 65534, -1, { { 0, 0 }, { 0, 0 } } },
	};
	w[1].uid = bst.st_uid;
	w[1].gid = bst.st_gid;
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
		w[i].times[0] = (struct timespec){ 1000000000 + (time_t)i, 123456789 };
		w[i].times[1] = (struct timespec){ 123456 + (time_t)i * 1000, 987654321 - (long)i };
		if (futimens(w[i].fd, w[i].times) < 0)
			case_setup_fail("%s: futimens: %s", w[i].what, strerror(errno));
	}
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		check(&w[i]); /* the set-up is what it should be */
	if (case_failed)
		case_setup_fail("%s", case_fail_msg);
	case_ready();
	case_wait_term();

	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		check(&w[i]);
	char buf[8] = { 0 };
	if (!case_failed && (pread(a, buf, 7, 0) != 7 || memcmp(buf, "memfd A", 7)))
		case_fail("memfd A: contents differ");
	if (!case_failed && (ftruncate(a, 16384) == 0 || ftruncate(a, 4096) == 0))
		case_fail("memfd A: F_SEAL_GROW/F_SEAL_SHRINK do not hold");
	if (!case_failed && fcntl(a, F_ADD_SEALS, F_SEAL_WRITE) == 0)
		case_fail("memfd A: F_SEAL_SEAL does not hold");
	if (!case_failed && (pwrite(b, "x", 1, 0) != -1 || errno != EPERM))
		case_fail("memfd B: write() is not refused with EPERM (F_SEAL_FUTURE_WRITE)");
	if (!case_failed && memcmp(bm, "memfd B", 7))
		case_fail("memfd B: the shared mapping lost its contents");
	if (!case_failed) {
		bm[8] = 'w'; /* the mapping made before the seal still writes */
		if (pread(b, buf, 1, 8) != 1 || buf[0] != 'w')
			case_fail("memfd B: a write through the shared mapping is not seen through the fd");
	}
	if (!case_failed && fchmod(b, 0777) == 0)
		case_fail("memfd B: could be made executable (F_SEAL_EXEC does not hold)");
	if (!case_failed && (pread(u, buf, 8, 0) != 8 || memcmp(buf, "unlinked", 8)))
		case_fail("unlinked file: contents differ");
	if (!case_failed && (lseek(tf, 0, SEEK_CUR) != 3 || pread(tf, buf, 7, 0) != 7 || memcmp(buf, "tmpfile", 7) || pwrite(tf, "!", 1, 7) != 1))
		case_fail("O_TMPFILE file: offset, contents or writing differ");
	case_finish();
}
