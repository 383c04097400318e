// build: gcc -O2 -g -Wall -Wextra -o deleted_cwd deleted_cwd.c
/*
 * deleted_cwd.c - a working directory that was removed, and a removed directory held open,
 * come back removed, shared as they were.
 *
 *   deleted_cwd --out FILE
 *
 * Set up: P makes FILE.dir (mode 0751) and FILE.dir2 (0700), chdirs into FILE.dir, opens "."
 * (fd D) and FILE.dir2 (fd E), forks C (same cwd), then removes both directories and creates a
 * regular file at FILE.dir2 (so a restart cannot use that name).
 * After SIGTERM, P and C each check their cwd: /proc/self/cwd is "FILE.dir (deleted)", getcwd()
 * fails with ENOENT, "." is a directory with no links and mode 0751, ".." is the directory of
 * FILE, a file cannot be created in it (ENOENT, as in any removed directory), and the cwd is the
 * directory of fd D (one inode, as before). P checks fd E: a removed directory of mode 0700 that
 * fchdir() enters; the new FILE.dir2 is untouched and nothing was left beside FILE.
 * Writes PASS or FAIL: reason.
 */
#include "case.h"

#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>

static char dir[PATH_MAX], dir2[PATH_MAX], parent[PATH_MAX];

/* The checks of the cwd, in P or in C; returns NULL or what is wrong. */
static const char *check_cwd(int dfd, char *why, size_t len)
{
    char link[PATH_MAX + 32] = { 0 }, want[PATH_MAX + 32], buf[PATH_MAX];
    snprintf(want, sizeof want, "%s (deleted)", dir);
    if (readlink("/proc/self/cwd", link, sizeof link - 1) < 0 || strcmp(link, want))
        return snprintf(why, len, "the cwd is \"%s\"", link), why;
    errno = 0;
    if (getcwd(buf, sizeof buf) || errno != ENOENT)
        return snprintf(why, len, "getcwd() gives %.200s (%s), not ENOENT", buf, strerror(errno)), why;
    struct stat st, d, up, pst;
    if (stat(".", &st) || !S_ISDIR(st.st_mode) || st.st_nlink != 0 || (st.st_mode & 07777) != 0751)
        return snprintf(why, len, "\".\" has %d links, mode 0%o", (int)st.st_nlink, st.st_mode & 07777), why;
    int e1 = stat("..", &up) ? errno : 0, e2 = stat(parent, &pst) ? errno : 0;
    if (e1 || e2 || up.st_ino != pst.st_ino || up.st_dev != pst.st_dev)
        return snprintf(why, len, "\"..\" is not the directory of FILE (%s, %s; inode %lu, %lu)", strerror(e1), strerror(e2),
                        (unsigned long)up.st_ino, (unsigned long)pst.st_ino), why;
    int fd = open("new", O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0 || errno != ENOENT)
        return snprintf(why, len, "creating a file in the removed cwd gives %s", fd >= 0 ? "a file" : strerror(errno)), why;
    if (fstat(dfd, &d) || d.st_ino != st.st_ino || d.st_dev != st.st_dev)
        return snprintf(why, len, "the cwd is not the directory of fd %d", dfd), why;
    return NULL;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    snprintf(dir, sizeof dir, "%s.dir", case_out);
    snprintf(dir2, sizeof dir2, "%s.dir2", case_out);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", case_out);
    snprintf(parent, sizeof parent, "%s", dirname(tmp));
    if (mkdir(dir, 0751) || chmod(dir, 0751) || mkdir(dir2, 0700) || chdir(dir))
        case_setup_fail("mkdir/chdir: %s", strerror(errno));
    int D = open(".", O_RDONLY | O_DIRECTORY);
    int E = open(dir2, O_RDONLY | O_DIRECTORY);
    if (D < 0 || E < 0)
        case_setup_fail("open: %s", strerror(errno));
    int rq[2], an[2];
    pid_t c = case_fork_talker(rq, an, &D, 1);
    if (c == 0) {
        char x, why[512] = "ok";
        if (read(rq[0], &x, 1) != 1)
            _exit(3);
        const char *bad = check_cwd(D, why, sizeof why);
        if (!bad)
            snprintf(why, sizeof why, "ok");
        _exit(write(an[1], why, strlen(why)) > 0 ? 0 : 4);
    }
    if (rmdir(dir) || rmdir(dir2))
        case_setup_fail("rmdir: %s", strerror(errno));
    int nf = open(dir2, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (nf < 0 || write(nf, "new", 3) != 3)
        case_setup_fail("new file at %s: %s", dir2, strerror(errno));
    close(nf);
    case_ready();
    case_wait_term();

    char why[512];
    const char *bad = check_cwd(D, why, sizeof why);
    if (bad)
        case_fail("P: %s", bad);
    char got[512] = { 0 };
    if (write(rq[1], "c", 1) != 1 || case_wait_readable(an[0], 5000) != 1 || read(an[0], got, sizeof got - 1) <= 0)
        case_fail("C did not answer");
    else if (strcmp(got, "ok"))
        case_fail("C: %s", got);
    case_reap_child("C", c, 5000);
    struct stat st;
    if (fstat(E, &st) || !S_ISDIR(st.st_mode) || st.st_nlink != 0 || (st.st_mode & 07777) != 0700)
        case_fail("fd %d: %d links, mode 0%o", E, (int)st.st_nlink, st.st_mode & 07777);
    char link[PATH_MAX + 32] = { 0 };
    if (fchdir(E) || readlink("/proc/self/cwd", link, sizeof link - 1) < 0 || !strstr(link, " (deleted)"))
        case_fail("fchdir into the removed directory of fd %d: %s (%s)", E, strerror(errno), link);
    char nb[8] = { 0 };
    nf = open(dir2, O_RDONLY);
    if (nf < 0 || read(nf, nb, sizeof nb) != 3 || memcmp(nb, "new", 3))
        case_fail("the new file at FILE.dir2 was changed");
    DIR *pd = opendir(parent);
    for (struct dirent *e; pd && (e = readdir(pd));)
        if (!strncmp(e->d_name, ".ucr", 4))
            case_fail("%s was left beside FILE", e->d_name);
    if (pd)
        closedir(pd);
    unlink(dir2);
    case_finish();
}
