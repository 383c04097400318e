// build: gcc -O2 -g -Wall -Wextra -o sysfiles sysfiles.c
/*
 * sysfiles.c - files under /proc/sys and more files of /proc/<pid> stay open across a restart,
 * with their open mode and offset.
 *
 *   sysfiles --out FILE
 *
 * Opens /proc/sys/kernel/hostname (read 3 bytes), /proc/sys/kernel/domainname (O_RDWR),
 * /proc/sys/vm/overcommit_memory, /proc/self/cmdline (read 2), /proc/self/limits (read 10),
 * /proc/self/environ, /proc/self/mountinfo, /proc/self/oom_score_adj (O_RDWR),
 * /proc/self/ns (a directory), /proc/self/mem (O_RDWR, at a variable's address: reads and
 * writes it after), /proc/self/pagemap (at that page's entry), /proc/self/auxv (read 16). After SIGTERM each fd names the same file (of the task as it is
 * now), has the same access mode and offset, and reads on as a fresh open of it read from there.
 */
#include "case.h"

#include <sys/syscall.h>

struct f { const char *path; int flags; size_t skip; int fd; int stable; };

static struct f files[] = {
    { "/proc/sys/kernel/hostname", O_RDONLY, 3, -1, 1 },
    { "/proc/sys/kernel/domainname", O_RDWR, 0, -1, 1 },
    { "/proc/sys/vm/overcommit_memory", O_RDONLY, 0, -1, 1 },
    { "/proc/self/cmdline", O_RDONLY, 2, -1, 1 },
    { "/proc/self/limits", O_RDONLY, 10, -1, 1 },
    { "/proc/self/environ", O_RDONLY, 0, -1, 1 },
    { "/proc/self/mountinfo", O_RDONLY, 0, -1, 0 },
    { "/proc/self/oom_score_adj", O_RDWR, 0, -1, 1 },
    { "/proc/self/ns", O_RDONLY | O_DIRECTORY, 0, -1, 0 },
    { "/proc/self/mem", O_RDWR, 0, -1, 0 },
    { "/proc/self/pagemap", O_RDONLY, 0, -1, 0 },
    { "/proc/self/auxv", O_RDONLY, 16, -1, 1 },
};
#define MEM 9
#define PAGEMAP 10
static volatile uint64_t marker = 0x5eedf00dcafe1234ULL;
#define N (sizeof files / sizeof files[0])

static void expand(const char *path, char *out, size_t len)
{
    if (!strncmp(path, "/proc/self/", 11))
        snprintf(out, len, "/proc/%d/%s", (int)getpid(), path + 11);
    else
        snprintf(out, len, "%s", path);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char buf[256];
    for (size_t i = 0; i < N; i++) {
        files[i].fd = open(files[i].path, files[i].flags | O_CLOEXEC);
        if (files[i].fd < 0)
            case_setup_fail("open %s: %s", files[i].path, strerror(errno));
        if (i == MEM || i == PAGEMAP) /* at the marker's address / its page's entry */
            files[i].skip = i == MEM ? (size_t)&marker : (size_t)&marker / 4096 * 8;
        if (i == MEM || i == PAGEMAP) {
            if (lseek(files[i].fd, (off_t)files[i].skip, SEEK_SET) < 0)
                case_setup_fail("lseek %s: %s", files[i].path, strerror(errno));
        } else if (files[i].skip && read(files[i].fd, buf, files[i].skip) != (ssize_t)files[i].skip)
            case_setup_fail("read %s: %s", files[i].path, strerror(errno));
    }
    case_ready();
    case_wait_term();

    for (size_t i = 0; i < N; i++) {
        struct f *f = &files[i];
        char want[PATH_MAX], got[PATH_MAX], lk[64];
        expand(f->path, want, sizeof want);
        snprintf(lk, sizeof lk, "/proc/self/fd/%d", f->fd);
        ssize_t n = readlink(lk, got, sizeof got - 1);
        got[n > 0 ? n : 0] = 0;
        if (strcmp(got, want)) {
            case_fail("%s: fd %d is %s", f->path, f->fd, n > 0 ? got : case_errname(errno));
            continue;
        }
        int fl = fcntl(f->fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) != (f->flags & O_ACCMODE))
            case_fail("%s: access mode %d, expected %d", f->path, fl & O_ACCMODE, f->flags & O_ACCMODE);
        off_t at = lseek(f->fd, 0, SEEK_CUR);
        if (at != (off_t)f->skip)
            case_fail("%s: offset %lld, expected %zu", f->path, (long long)at, f->skip);
        if (i == MEM) { /* reads and writes the task's memory where it stood */
            uint64_t v = 0, w = 0x1122334455667788ULL;
            if (read(f->fd, &v, sizeof v) != sizeof v || v != marker)
                case_fail("/proc/self/mem: read %llx at the marker, expected %llx", (unsigned long long)v, (unsigned long long)marker);
            else if (pwrite(f->fd, &w, sizeof w, (off_t)&marker) != sizeof w || marker != w)
                case_fail("/proc/self/mem: cannot write the marker");
        }
        if (i == PAGEMAP) {
            uint64_t e = 0;
            if (read(f->fd, &e, sizeof e) != sizeof e || !(e >> 63))
                case_fail("/proc/self/pagemap: the marker's page is not present (%llx)", (unsigned long long)e);
        }
        if (!f->stable)
            continue;
        char a[256] = "", b[256] = "";
        ssize_t na = read(f->fd, a, sizeof a - 1);
        int e = open(f->path, O_RDONLY);
        char skip[64];
        if (e < 0 || (f->skip && read(e, skip, f->skip) != (ssize_t)f->skip))
            case_fail("%s: cannot open it again", f->path);
        ssize_t nb = e < 0 ? -1 : read(e, b, sizeof b - 1);
        if (e >= 0)
            close(e);
        if (na != nb || memcmp(a, b, na > 0 ? (size_t)na : 0))
            case_fail("%s: reads %zd bytes on from its offset, a fresh open %zd", f->path, na, nb);
    }
    case_finish();
}
