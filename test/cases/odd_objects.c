// build: gcc -O2 -g -Wall -Wextra -o odd_objects odd_objects.c
/*
 * odd_objects.c - content objects of any size come back with exactly that size and contents.
 *
 *   odd_objects --out FILE
 *
 * Set up: unlinked files FILE.u0, FILE.u10, FILE.u1234, FILE.u4097 (that many bytes of pattern,
 * mode 0640, open O_RDWR, offset at half the size), FILE.u10 also mapped MAP_SHARED; FILE.m1234
 * (1234 bytes) only mapped MAP_SHARED (its fd closed) before it is unlinked; memfds of 0, 10 and
 * 4097 bytes, the last one sealed against growing and shrinking.
 * After SIGTERM: every fd's size, link count, mode, offset, contents (a read at the end gets
 * nothing more), the memfd seals; the mappings hold the pattern and zeros past the end of file;
 * a write through the mapping of FILE.u10 is seen through its fd. Writes PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/stat.h>

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

static unsigned char pat(size_t i, int salt) { return (unsigned char)(i * 7 + (i >> 8) + (unsigned)salt * 13 + 1); }

struct obj {
    const char *what;
    int fd;
    size_t size;
    int salt;
    int memfd;
    int seals;
};

static void fill(int fd, size_t size, int salt)
{
    static unsigned char buf[8192];
    for (size_t i = 0; i < size; i++)
        buf[i] = pat(i, salt);
    if (size && pwrite(fd, buf, size, 0) != (ssize_t)size)
        case_setup_fail("cannot write %zu bytes: %s", size, strerror(errno));
    if (lseek(fd, (off_t)(size / 2), SEEK_SET) < 0)
        case_setup_fail("lseek: %s", strerror(errno));
}

static int unlinked(const char *suffix, size_t size, int salt)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s.%s", case_out, suffix);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0640);
    if (fd < 0 || fchmod(fd, 0640))
        case_setup_fail("%s: %s", p, strerror(errno));
    fill(fd, size, salt);
    return fd;
}

static int same(const unsigned char *b, size_t n, int salt)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(i, salt))
            return 0;
    return 1;
}

static void check(const struct obj *o)
{
    struct stat st;
    if (fstat(o->fd, &st)) {
        case_fail("%s: fstat: %s", o->what, strerror(errno));
        return;
    }
    if ((size_t)st.st_size != o->size)
        case_fail("%s: %lld bytes, expected %zu", o->what, (long long)st.st_size, o->size);
    if (st.st_nlink != 0)
        case_fail("%s: %d links, expected none", o->what, (int)st.st_nlink);
    if (!o->memfd && (st.st_mode & 07777) != 0640)
        case_fail("%s: mode 0%o", o->what, st.st_mode & 07777);
    if (lseek(o->fd, 0, SEEK_CUR) != (off_t)(o->size / 2))
        case_fail("%s: offset %lld, expected %zu", o->what, (long long)lseek(o->fd, 0, SEEK_CUR), o->size / 2);
    static unsigned char got[8192 + 64];
    ssize_t n = pread(o->fd, got, o->size + 64, 0);
    if (n != (ssize_t)o->size)
        case_fail("%s: read %zd bytes, expected exactly %zu", o->what, n, o->size);
    else if (!same(got, o->size, o->salt))
        case_fail("%s: the contents differ", o->what);
    if (o->memfd && fcntl(o->fd, F_GET_SEALS) != o->seals)
        case_fail("%s: seals 0x%x, expected 0x%x", o->what, fcntl(o->fd, F_GET_SEALS), o->seals);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    struct obj objs[] = {
        { "unlinked file of 0 bytes", unlinked("u0", 0, 1), 0, 1, 0, 0 },
        { "unlinked file of 10 bytes", unlinked("u10", 10, 2), 10, 2, 0, 0 },
        { "unlinked file of 1234 bytes", unlinked("u1234", 1234, 3), 1234, 3, 0, 0 },
        { "unlinked file of 4097 bytes", unlinked("u4097", 4097, 4), 4097, 4, 0, 0 },
        { "memfd of 0 bytes", (int)syscall(SYS_memfd_create, "odd0", 0), 0, 5, 1, 1 /* F_SEAL_SEAL */ },
        { "memfd of 10 bytes", (int)syscall(SYS_memfd_create, "odd10", 2U), 10, 6, 1, 0 },
        { "memfd of 4097 bytes", (int)syscall(SYS_memfd_create, "odd4097", 2U /* MFD_ALLOW_SEALING */), 4097, 7, 1, F_SEAL_SHRINK | F_SEAL_GROW },
    };
    size_t nobj = sizeof objs / sizeof objs[0];
    for (size_t i = 4; i < nobj; i++) {
        if (objs[i].fd < 0)
            case_setup_fail("memfd_create: %s", strerror(errno));
        fill(objs[i].fd, objs[i].size, objs[i].salt);
        if (objs[i].seals > 1 && fcntl(objs[i].fd, F_ADD_SEALS, objs[i].seals))
            case_setup_fail("seals: %s", strerror(errno));
    }
    unsigned char *m10 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, objs[1].fd, 0);
    int mfd = unlinked("m1234", 1234, 8);
    unsigned char *m1234 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (m10 == MAP_FAILED || m1234 == MAP_FAILED)
        case_setup_fail("mmap: %s", strerror(errno));
    close(mfd);
    const char *names[] = { "u0", "u10", "u1234", "u4097", "m1234" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s.%s", case_out, names[i]);
        if (unlink(p))
            case_setup_fail("unlink %s: %s", p, strerror(errno));
    }
    case_ready();
    case_wait_term();

    for (size_t i = 0; i < nobj; i++)
        check(&objs[i]);
    if (!same(m1234, 1234, 8))
        case_fail("the mapping of the 1234-byte file differs");
    for (size_t i = 1234; i < 4096; i++)
        if (m1234[i]) {
            case_fail("the mapping of the 1234-byte file holds data past its end at %zu", i);
            break;
        }
    if (!same(m10, 10, 2))
        case_fail("the mapping of the 10-byte file differs");
    m10[3] = 0xA5;
    unsigned char v = 0;
    if (pread(objs[1].fd, &v, 1, 3) != 1 || v != 0xA5)
        case_fail("a write through the mapping of the 10-byte file is not seen through its fd");
    case_finish();
}
