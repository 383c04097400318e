// build: gcc -O2 -g -Wall -Wextra -o deleted_node deleted_node.c
/*
 * deleted_node.c - a device node deleted while held open comes back as a deleted node of the
 * same device, mode and owner at the same name; a removed directory held open stays one
 * (getdents fails with ENOENT, as on any removed directory).
 *
 *   deleted_node --out FILE
 *
 * Set up: FILE.null = mknod(S_IFCHR 0640, 1:3) owned by 1:2, opened O_RDWR (fd N) then
 * unlinked; FILE.dir made, opened (fd E), removed; FILE.nest/sub made and opened (fd S), a file
 * FILE.nest/f holding "x" opened O_RDWR (fd U) and unlinked, then sub and FILE.nest removed.
 * After SIGTERM: N is a character device 1:3 with no links, mode 0640, owner 1:2, its /proc link
 * "FILE.null (deleted)", it takes writes and reads end of file; nothing exists at FILE.null;
 * E is a directory with no links whose getdents64 fails with ENOENT; S too, its /proc link
 * "FILE.nest/sub (deleted)"; U reads "x" and has no links; FILE.nest does not exist.
 * PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char node[PATH_MAX + 16], dir[PATH_MAX + 16], nest[PATH_MAX + 16], sub[PATH_MAX + 32], f[PATH_MAX + 32];
    snprintf(node, sizeof node, "%s.null", case_out);
    snprintf(dir, sizeof dir, "%s.dir", case_out);
    snprintf(nest, sizeof nest, "%s.nest", case_out);
    snprintf(sub, sizeof sub, "%s/sub", nest);
    snprintf(f, sizeof f, "%s/f", nest);
    unlink(node);
    if (mknod(node, S_IFCHR | 0640, makedev(1, 3)) || chmod(node, 0640) || chown(node, 1, 2) || mkdir(dir, 0700))
        case_setup_fail("mknod/mkdir: %s", strerror(errno));
    int N = open(node, O_RDWR), E = open(dir, O_RDONLY | O_DIRECTORY);
    if (N < 0 || E < 0 || unlink(node) || rmdir(dir))
        case_setup_fail("open/unlink: %s", strerror(errno));
    if (mkdir(nest, 0700) || mkdir(sub, 0700))
        case_setup_fail("mkdir %s: %s", sub, strerror(errno));
    int S = open(sub, O_RDONLY | O_DIRECTORY), U = open(f, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (S < 0 || U < 0 || write(U, "x", 1) != 1 || unlink(f) || rmdir(sub) || rmdir(nest))
        case_setup_fail("nested removal: %s", strerror(errno));
    case_ready();
    case_wait_term();

    struct stat st;
    if (fstat(N, &st) || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 || st.st_nlink != 0 ||
        (st.st_mode & 07777) != 0640 || st.st_uid != 1 || st.st_gid != 2)
        case_fail("fd N: mode 0%o rdev %u:%u, %d links, owner %d:%d", st.st_mode, major(st.st_rdev), minor(st.st_rdev), (int)st.st_nlink,
                  (int)st.st_uid, (int)st.st_gid);
    char link[PATH_MAX + 64] = { 0 }, want[PATH_MAX + 64], self[64], c;
    snprintf(self, sizeof self, "/proc/self/fd/%d", N);
    snprintf(want, sizeof want, "%s (deleted)", node);
    if (readlink(self, link, sizeof link - 1) < 0 || strcmp(link, want))
        case_fail("fd N is \"%s\"", link);
    if (write(N, "abc", 3) != 3 || read(N, &c, 1) != 0)
        case_fail("fd N does not act as /dev/null");
    if (access(node, F_OK) == 0 || errno != ENOENT)
        case_fail("something exists at %s", node);
    char buf[1024];
    if (fstat(E, &st) || !S_ISDIR(st.st_mode) || st.st_nlink != 0)
        case_fail("fd E: mode 0%o, %d links", st.st_mode, (int)st.st_nlink);
    long n = syscall(SYS_getdents64, E, buf, sizeof buf);
    if (n != -1 || errno != ENOENT)
        case_fail("getdents64 on the removed directory: %ld (%s), expected ENOENT", n, strerror(errno));
    if (fstat(S, &st) || !S_ISDIR(st.st_mode) || st.st_nlink != 0 || syscall(SYS_getdents64, S, buf, sizeof buf) != -1 || errno != ENOENT)
        case_fail("fd S: mode 0%o, %d links, not a removed directory", st.st_mode, (int)st.st_nlink);
    memset(link, 0, sizeof link);
    snprintf(self, sizeof self, "/proc/self/fd/%d", S);
    snprintf(want, sizeof want, "%s (deleted)", sub);
    if (readlink(self, link, sizeof link - 1) < 0 || strcmp(link, want))
        case_fail("fd S is \"%s\", expected \"%s\"", link, want);
    if (fstat(U, &st) || st.st_nlink != 0 || pread(U, &c, 1, 0) != 1 || c != 'x')
        case_fail("fd U: %d links, does not read \"x\"", (int)st.st_nlink);
    if (access(nest, F_OK) == 0 || errno != ENOENT)
        case_fail("something exists at %s", nest);
    case_finish();
}
