// build: gcc -O2 -g -Wall -Wextra -o opath opath.c
/*
 * opath.c - O_PATH fds come back as O_PATH fds of the same files: a regular file, a symbolic
 * link itself (O_PATH|O_NOFOLLOW), a directory and a FIFO (never opened for reading).
 *
 *   opath --out FILE
 *
 * Set up (in FILE.d): file f ("hello"), symlink l -> f, FIFO p; fds F = O_PATH f, L =
 * O_PATH|O_NOFOLLOW l, D = O_PATH|O_DIRECTORY FILE.d, P = O_PATH p.
 * After SIGTERM: each fd still has O_PATH (and L O_NOFOLLOW); F is the same inode as f, read()
 * on it fails with EBADF, and f opened through /proc/self/fd/F reads "hello"; L is the
 * symlink (fstat S_ISLNK, readlinkat(L, "") gives "f"); D works as a dirfd (openat(D, "f")
 * reads "hello"); P is the FIFO (S_ISFIFO) and nobody opened it (opening it O_RDONLY|O_NONBLOCK
 * works, and a writer O_NONBLOCK then succeeds).
 * Removed symbolic links: R = O_PATH|O_NOFOLLOW of r -> "/nowhere/target", then r removed; T =
 * the same of t -> "f", then t removed and a regular file made at t. After SIGTERM R and T are
 * symlinks (S_ISLNK, O_PATH|O_NOFOLLOW, no link left: st_nlink 0) pointing where they did,
 * r does not exist, t is still the regular file, and the directory holds nothing else.
 * PASS or FAIL: reason.
 */
#include "case.h"

#include <dirent.h>
#include <sys/stat.h>

static void reads_hello(int fd, const char *what)
{
    char buf[16] = { 0 };
    if (fd < 0 || read(fd, buf, sizeof buf - 1) != 5 || strcmp(buf, "hello"))
        case_fail("%s: does not read \"hello\" (%s)", what, fd < 0 ? strerror(errno) : buf);
    if (fd >= 0)
        close(fd);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char d[PATH_MAX + 8], f[PATH_MAX + 16], l[PATH_MAX + 16], p[PATH_MAX + 16], r[PATH_MAX + 16], t[PATH_MAX + 16];
    snprintf(d, sizeof d, "%s.d", case_out);
    snprintf(f, sizeof f, "%s/f", d);
    snprintf(l, sizeof l, "%s/l", d);
    snprintf(p, sizeof p, "%s/p", d);
    snprintf(r, sizeof r, "%s/r", d);
    snprintf(t, sizeof t, "%s/t", d);
    mkdir(d, 0700);
    int w = open(f, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (w < 0 || write(w, "hello", 5) != 5 || close(w) || symlink("f", l) || mkfifo(p, 0600))
        case_setup_fail("set-up: %s", strerror(errno));
    int F = open(f, O_PATH), L = open(l, O_PATH | O_NOFOLLOW), D = open(d, O_PATH | O_DIRECTORY), P = open(p, O_PATH);
    struct stat sf;
    if (F < 0 || L < 0 || D < 0 || P < 0 || stat(f, &sf))
        case_setup_fail("O_PATH opens: %s", strerror(errno));
    if (symlink("/nowhere/target", r) || symlink("f", t))
        case_setup_fail("symlinks: %s", strerror(errno));
    int R = open(r, O_PATH | O_NOFOLLOW), T = open(t, O_PATH | O_NOFOLLOW);
    if (R < 0 || T < 0 || unlink(r) || unlink(t) || (w = open(t, O_CREAT | O_WRONLY, 0600)) < 0 || close(w))
        case_setup_fail("removed symlinks: %s", strerror(errno));
    case_ready();
    case_wait_term();

    int fds[4] = { F, L, D, P };
    for (int i = 0; i < 4; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || !(fl & O_PATH))
            case_fail("fd %d: flags 0%o, no O_PATH (%s)", fds[i], fl, strerror(errno));
    }
    if (!(fcntl(L, F_GETFL) & O_NOFOLLOW))
        case_fail("the symlink's fd lost O_NOFOLLOW");
    struct stat st;
    char buf[64] = { 0 }, self[64];
    if (fstat(F, &st) || st.st_ino != sf.st_ino || st.st_dev != sf.st_dev || !S_ISREG(st.st_mode))
        case_fail("fd F is not the file f");
    if (read(F, buf, 1) != -1 || errno != EBADF)
        case_fail("read() on the O_PATH fd did not fail with EBADF");
    snprintf(self, sizeof self, "/proc/self/fd/%d", F);
    reads_hello(open(self, O_RDONLY), "f through /proc/self/fd");
    if (fstat(L, &st) || !S_ISLNK(st.st_mode))
        case_fail("fd L is not the symbolic link (mode 0%o)", st.st_mode);
    memset(buf, 0, sizeof buf);
    if (readlinkat(L, "", buf, sizeof buf - 1) != 1 || strcmp(buf, "f"))
        case_fail("readlinkat(L, \"\") gives \"%s\" (%s)", buf, strerror(errno));
    reads_hello(openat(D, "f", O_RDONLY), "openat(D, \"f\")");
    if (fstat(P, &st) || !S_ISFIFO(st.st_mode))
        case_fail("fd P is not the FIFO");
    int rd = open(p, O_RDONLY | O_NONBLOCK), wr = open(p, O_WRONLY | O_NONBLOCK);
    if (rd < 0 || wr < 0)
        case_fail("the FIFO cannot be opened: %s", strerror(errno));
    const char *want[2] = { "/nowhere/target", "f" };
    int ghost[2] = { R, T };
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(ghost[i], F_GETFL);
        memset(buf, 0, sizeof buf);
        if (fl < 0 || !(fl & O_PATH) || !(fl & O_NOFOLLOW))
            case_fail("removed symlink fd %d: flags 0%o", ghost[i], fl);
        if (fstat(ghost[i], &st) || !S_ISLNK(st.st_mode) || st.st_nlink != 0)
            case_fail("removed symlink fd %d: not a symlink without links (mode 0%o, nlink %ld)", ghost[i], st.st_mode, (long)st.st_nlink);
        if (readlinkat(ghost[i], "", buf, sizeof buf - 1) != (ssize_t)strlen(want[i]) || strcmp(buf, want[i]))
            case_fail("removed symlink fd %d points to \"%s\", expected \"%s\"", ghost[i], buf, want[i]);
    }
    if (lstat(r, &st) == 0 || errno != ENOENT)
        case_fail("%s exists after the restart", r);
    if (lstat(t, &st) || !S_ISREG(st.st_mode))
        case_fail("%s is no longer the regular file", t);
    int n = 0;
    DIR *dir = opendir(d);
    for (struct dirent *e; dir && (e = readdir(dir));)
        n += e->d_name[0] != '.';
    if (!dir || n != 4)
        case_fail("the directory holds %d entries, expected f, l, p, t", n);
    closedir(dir);
    unlink(t);
    unlink(l);
    unlink(f);
    unlink(p);
    rmdir(d);
    case_finish();
}
