// build: gcc -O2 -g -Wall -Wextra -o mprotect_rw mprotect_rw.c
/*
 * mprotect_rw.c - a shared read-only map of a file opened read-write can still be made
 * writable after a restart; one of a file opened read-only still cannot.
 *
 *   mprotect_rw --out FILE
 *
 * FILE.rw: opened O_RDWR, mapped MAP_SHARED PROT_READ (one page), fd closed.
 * FILE.ro: opened O_RDONLY, mapped MAP_SHARED PROT_READ, fd closed.
 * After SIGTERM: mprotect(PROT_READ|PROT_WRITE) of the first map must succeed and a byte written
 * through it must reach the file; the same on the second must fail with EACCES.
 */
#include "case.h"

#include <sys/mman.h>

static char *map_file(const char *path, int flags)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4096) || pwrite(fd, "abcd", 4, 0) != 4)
        case_setup_fail("create %s: %s", path, strerror(errno));
    close(fd);
    fd = open(path, flags);
    if (fd < 0)
        case_setup_fail("open %s: %s", path, strerror(errno));
    char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        case_setup_fail("mmap %s: %s", path, strerror(errno));
    close(fd);
    return p;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char rw[PATH_MAX + 8], ro[PATH_MAX + 8];
    snprintf(rw, sizeof rw, "%s.rw", case_out);
    snprintf(ro, sizeof ro, "%s.ro", case_out);
    char *a = map_file(rw, O_RDWR), *b = map_file(ro, O_RDONLY);
    case_ready();
    case_wait_term();

    if (a[0] != 'a' || b[0] != 'a')
        case_fail("the maps do not show the files");
    if (mprotect(a, 4096, PROT_READ | PROT_WRITE)) {
        case_fail("mprotect(PROT_WRITE) of the map of the O_RDWR file: %s", case_errname(errno));
    } else {
        a[1] = 'X';
        msync(a, 4096, MS_SYNC);
        int fd = open(rw, O_RDONLY);
        char c = 0;
        if (fd < 0 || pread(fd, &c, 1, 1) != 1 || c != 'X')
            case_fail("the byte written through the map is not in the file (%c)", c);
        if (fd >= 0)
            close(fd);
    }
    if (mprotect(b, 4096, PROT_READ | PROT_WRITE) == 0)
        case_fail("the map of the O_RDONLY file could be made writable");
    else if (errno != EACCES)
        case_fail("mprotect of the O_RDONLY map: %s, expected EACCES", case_errname(errno));
    unlink(rw);
    unlink(ro);
    case_finish();
}
