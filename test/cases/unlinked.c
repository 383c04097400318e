// build: gcc -O2 -g -Wall -Wextra -o unlinked unlinked.c
/*
 * unlinked.c - open files whose path was unlinked come back with their contents.
 *
 *   unlinked --out FILE
 *
 * Set up: FILE.data (mode 0640): 64 KiB of pattern, a hole, 4 KiB of pattern at 1 MiB; opened
 * O_RDWR by the parent P, seeked to 1234, its first 64 KiB mapped MAP_SHARED, then unlinked;
 * the child C inherits the fd (one open file: a shared offset). FILE.lib: 16 KiB of pattern,
 * mapped MAP_PRIVATE read-only by P, fd closed, unlinked, and a new, different file created at
 * that path (so the restart cannot use the name).
 * After SIGTERM P checks: the fd's link ("FILE.data (deleted)"), no links left, size and mode,
 * offset 1234, contents (the hole reads as zeros), the shared mapping, the private mapping of
 * the vanished FILE.lib, and that the new FILE.lib is untouched. Then P writes through its
 * mapping and C must read that through the fd (pread), and C seeks the shared fd to 777 which
 * P must see. P reaps C and writes PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/stat.h>

#define HEAD (64 * 1024)
#define TAIL_AT (1024 * 1024)
#define TAIL 4096
#define LIB (16 * 1024)

static unsigned char pat(size_t i, int salt) { return (unsigned char)(i * 31 + (i >> 10) + (unsigned)salt); }

static void fill(unsigned char *b, size_t n, size_t off, int salt)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pat(off + i, salt);
}

static int same(const unsigned char *b, size_t n, size_t off, int salt)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(off + i, salt))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char data[PATH_MAX + 8], lib[PATH_MAX + 8];
    snprintf(data, sizeof data, "%s.data", case_out);
    snprintf(lib, sizeof lib, "%s.lib", case_out);
    static unsigned char buf[TAIL_AT + TAIL];
    int fd = open(data, O_RDWR | O_CREAT | O_TRUNC, 0640);
    fill(buf, HEAD, 0, 1);
    fill(buf + TAIL_AT, TAIL, TAIL_AT, 1);
    if (fd < 0 || fchmod(fd, 0640) || pwrite(fd, buf, HEAD, 0) != HEAD || pwrite(fd, buf + TAIL_AT, TAIL, TAIL_AT) != TAIL ||
        lseek(fd, 1234, SEEK_SET) != 1234)
        case_setup_fail("data file: %s", strerror(errno));
    unsigned char *m = mmap(NULL, HEAD, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int lfd = open(lib, O_RDWR | O_CREAT | O_TRUNC, 0600);
    fill(buf, LIB, 0, 2);
    if (m == MAP_FAILED || lfd < 0 || write(lfd, buf, LIB) != LIB)
        case_setup_fail("lib file: %s", strerror(errno));
    unsigned char *l = mmap(NULL, LIB, PROT_READ, MAP_PRIVATE, lfd, 0);
    close(lfd);
    if (l == MAP_FAILED || unlink(data) || unlink(lib))
        case_setup_fail("mmap/unlink: %s", strerror(errno));
    lfd = open(lib, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (lfd < 0 || write(lfd, "new", 3) != 3)
        case_setup_fail("new lib file: %s", strerror(errno));
    close(lfd);
    int rq[2], an[2];
    pid_t c = case_fork_talker(rq, an, &fd, 1);
    if (c == 0) {
        char x;
        if (read(rq[0], &x, 1) != 1)
            _exit(3);
        unsigned char v = 0;
        /* P wrote 0x5C at 100 through its shared mapping */
        char r = pread(fd, &v, 1, 100) == 1 && v == 0x5C ? 'y' : 'n';
        if (lseek(fd, 777, SEEK_SET) != 777)
            r = 's';
        _exit(write(an[1], &r, 1) == 1 ? 0 : 4);
    }
    case_ready();
    case_wait_term();

    char link[PATH_MAX + 32] = { 0 }, self[64], want[PATH_MAX + 32];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    snprintf(want, sizeof want, "%s (deleted)", data);
    if (readlink(self, link, sizeof link - 1) < 0 || strcmp(link, want))
        case_fail("the fd is now \"%s\"", link);
    struct stat st;
    if (fstat(fd, &st) || st.st_nlink != 0 || st.st_size != TAIL_AT + TAIL || (st.st_mode & 07777) != 0640)
        case_fail("the file has %d links, %lld bytes, mode 0%o", (int)st.st_nlink, (long long)st.st_size, st.st_mode & 07777);
    if (lseek(fd, 0, SEEK_CUR) != 1234)
        case_fail("offset %lld, expected 1234", (long long)lseek(fd, 0, SEEK_CUR));
    static unsigned char got[TAIL_AT + TAIL];
    if (pread(fd, got, sizeof got, 0) != (ssize_t)sizeof got)
        case_fail("cannot read the file back");
    else if (!same(got, HEAD, 0, 1) || !same(got + TAIL_AT, TAIL, TAIL_AT, 1))
        case_fail("the file's contents differ");
    else
        for (size_t i = HEAD; i < TAIL_AT; i++)
            if (got[i]) {
                case_fail("the hole holds data at %zu", i);
                break;
            }
    if (!same(m, HEAD, 0, 1))
        case_fail("the shared mapping of the file differs");
    if (!same(l, LIB, 0, 2))
        case_fail("the private mapping of the vanished FILE.lib differs");
    char nb[8] = { 0 };
    int nf = open(lib, O_RDONLY);
    if (nf < 0 || read(nf, nb, sizeof nb) != 3 || memcmp(nb, "new", 3))
        case_fail("the new FILE.lib was changed");
    m[100] = 0x5C;
    char r = 0;
    if (write(rq[1], "c", 1) != 1 || case_wait_readable(an[0], 5000) != 1 || read(an[0], &r, 1) != 1)
        case_fail("C did not answer");
    else if (r != 'y')
        case_fail("C does not see P's write through the shared mapping (%c)", r);
    if (lseek(fd, 0, SEEK_CUR) != 777)
        case_fail("C's seek is not seen: the fd is no longer one open file");
    case_reap_child("C", c, 5000);
    unlink(lib);
    case_finish();
}
