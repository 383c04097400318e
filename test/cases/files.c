// build: gcc -O2 -g -Wall -Wextra -o files files.c
/*
 * files.c - cwd, umask and open file descriptions must survive.
 *
 *   files --out FILE --dir DIR
 *
 * DIR is a scratch directory (created by the harness); the program
 * chdirs there, sets umask 027 and creates a.txt, log.txt, c.txt, d.txt.
 * Open fds (besides 0-2, which are not checked):
 *   a.txt   O_RDWR, offset 37              + a dup() of it (shared offset)
 *   log.txt O_WRONLY|O_APPEND, offset 10
 *   c.txt   O_RDONLY|O_CLOEXEC, offset 5
 *   fd 42   d.txt ("fortytwo") O_RDWR, offset 3 (placed with dup2)
 *   /dev/null O_WRONLY, /dev/zero O_RDONLY, /dev/urandom O_RDONLY
 * After SIGTERM: cwd, umask, and per fd: the file it refers to (dev/inode
 * or rdev), access mode, O_APPEND, FD_CLOEXEC, offset; then the dup pair
 * shares its offset, fd 42 reads "tytwo", an O_APPEND write lands at the
 * end, /dev/null takes a write, /dev/zero reads zeros, /dev/urandom gives
 * 16 bytes, and no other fd (>= 3) is open.
 */
#include "case.h"

#include <dirent.h>

struct fdinfo {
    const char *name; /* path relative to DIR, or absolute */
    int fd;
    int accmode;
    int append;
    int cloexec;
    off_t offset;
    dev_t dev, rdev;
    ino_t ino;
};

enum { F_A, F_ADUP, F_LOG, F_C, F_D, F_NULL, F_ZERO, F_URANDOM, NFD };
static struct fdinfo fds[NFD];

static void write_file(const char *name, const char *data, size_t len, int flags)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | flags, 0666);
    if (fd < 0)
        case_setup_fail("create %s: %s", name, strerror(errno));
    if (write(fd, data, len) != (ssize_t)len)
        case_setup_fail("write %s: %s", name, strerror(errno));
    close(fd);
}

static const char *accname(int m)
{
    return m == O_RDONLY ? "O_RDONLY" : m == O_WRONLY ? "O_WRONLY" : m == O_RDWR ? "O_RDWR" : "?";
}

/* Record how fd looks now (after the program set it up). */
static void record(int idx, const char *name, int fd)
{
    struct fdinfo *f = &fds[idx];
    struct stat st;
    f->name = name;
    f->fd = fd;
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0 || fstat(fd, &st) != 0)
        case_setup_fail("fcntl/fstat on fd %d (%s): %s", fd, name, strerror(errno));
    f->accmode = fl & O_ACCMODE;
    f->append = !!(fl & O_APPEND);
    f->cloexec = !!(fdfl & FD_CLOEXEC);
    f->offset = lseek(fd, 0, SEEK_CUR);
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->rdev = st.st_rdev;
}

static int is_ours(int fd)
{
    for (int i = 0; i < NFD; i++)
        if (fds[i].fd == fd)
            return 1;
    return 0;
}

static void check_fd(const struct fdinfo *f)
{
    int fl = fcntl(f->fd, F_GETFL);
    int fdfl = fcntl(f->fd, F_GETFD);
    if (fl < 0 || fdfl < 0) {
        case_fail("fd %d (%s) is not open: %s", f->fd, f->name, strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        case_fail("fstat fd %d (%s): %s", f->fd, f->name, strerror(errno));
        return;
    }
    if (st.st_dev != f->dev || st.st_ino != f->ino || st.st_rdev != f->rdev) {
        char target[256] = "?";
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", f->fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n >= 0)
            target[n] = 0;
        case_fail("fd %d should be %s but refers to %s (dev/ino/rdev changed)", f->fd, f->name,
                  target);
        return;
    }
    if ((fl & O_ACCMODE) != f->accmode) {
        case_fail("fd %d (%s) access mode %s, expected %s", f->fd, f->name,
                  accname(fl & O_ACCMODE), accname(f->accmode));
        return;
    }
    if (!!(fl & O_APPEND) != f->append) {
        case_fail("fd %d (%s) O_APPEND is %s, expected %s", f->fd, f->name,
                  (fl & O_APPEND) ? "set" : "clear", f->append ? "set" : "clear");
        return;
    }
    if (!!(fdfl & FD_CLOEXEC) != f->cloexec) {
        case_fail("fd %d (%s) FD_CLOEXEC is %s, expected %s", f->fd, f->name,
                  (fdfl & FD_CLOEXEC) ? "set" : "clear", f->cloexec ? "set" : "clear");
        return;
    }
    off_t off = lseek(f->fd, 0, SEEK_CUR);
    if (off != f->offset)
        case_fail("fd %d (%s) offset %lld, expected %lld", f->fd, f->name, (long long)off,
                  (long long)f->offset);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    const char *dir = case_arg(argc, argv, "--dir");
    if (!dir)
        case_die_usage(argv[0], "missing --dir DIR");

    char realdir[PATH_MAX];
    if (!realpath(dir, realdir))
        case_setup_fail("realpath(%s): %s", dir, strerror(errno));
    if (chdir(dir) != 0)
        case_setup_fail("chdir(%s): %s", dir, strerror(errno));
    umask(027);

    char data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (char)('A' + i % 26);

    int a = open("a.txt", O_RDWR | O_CREAT | O_TRUNC, 0666);
    if (a < 0)
        case_setup_fail("open a.txt: %s", strerror(errno));
    if (write(a, data, 100) != 100)
        case_setup_fail("write a.txt: %s", strerror(errno));
    lseek(a, 37, SEEK_SET);

    int log = open("log.txt", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0666);
    if (log < 0)
        case_setup_fail("open log.txt: %s", strerror(errno));
    if (write(log, "0123456789", 10) != 10)
        case_setup_fail("write log.txt: %s", strerror(errno));

    write_file("c.txt", "0123456789abcdef", 16, 0);
    int c = open("c.txt", O_RDONLY | O_CLOEXEC);
    if (c < 0)
        case_setup_fail("open c.txt: %s", strerror(errno));
    lseek(c, 5, SEEK_SET);

    int adup = dup(a);
    if (adup < 0)
        case_setup_fail("dup: %s", strerror(errno));

    write_file("d.txt", "fortytwo", 8, 0);
    int tmp = open("d.txt", O_RDWR);
    if (tmp < 0)
        case_setup_fail("open d.txt: %s", strerror(errno));
    if (dup2(tmp, 42) != 42)
        case_setup_fail("dup2 to 42: %s", strerror(errno));
    close(tmp);
    lseek(42, 3, SEEK_SET);

    int dnull = open("/dev/null", O_WRONLY);
    int dzero = open("/dev/zero", O_RDONLY);
    int durandom = open("/dev/urandom", O_RDONLY);
    if (dnull < 0 || dzero < 0 || durandom < 0)
        case_setup_fail("open /dev/null, /dev/zero or /dev/urandom: %s", strerror(errno));

    record(F_A, "a.txt", a);
    record(F_ADUP, "a.txt (dup)", adup);
    record(F_LOG, "log.txt", log);
    record(F_C, "c.txt", c);
    record(F_D, "d.txt", 42);
    record(F_NULL, "/dev/null", dnull);
    record(F_ZERO, "/dev/zero", dzero);
    record(F_URANDOM, "/dev/urandom", durandom);
    /* sanity of the set-up itself */
    if (fds[F_A].offset != 37 || fds[F_ADUP].offset != 37 || fds[F_LOG].offset != 10 ||
        fds[F_C].offset != 5 || fds[F_D].offset != 3 || !fds[F_C].cloexec ||
        fds[F_A].cloexec || fds[F_ADUP].cloexec || fds[F_D].cloexec || !fds[F_LOG].append)
        case_setup_fail("unexpected fd state right after set-up");

    case_ready();
    case_wait_term();

    /* ---- verification ---- */
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        case_fail("getcwd: %s", strerror(errno));
    else if (strcmp(cwd, realdir) != 0)
        case_fail("cwd is '%s', expected '%s'", cwd, realdir);

    mode_t um = umask(0);
    umask(um);
    if (um != 027)
        case_fail("umask is %03o, expected 027", (unsigned)um);

    for (int i = 0; i < NFD; i++)
        check_fd(&fds[i]);

    /* the dup pair shares one offset */
    if (lseek(a, 50, SEEK_SET) != 50)
        case_fail("lseek a.txt to 50: %s", strerror(errno));
    else if (lseek(adup, 0, SEEK_CUR) != 50)
        case_fail("dup of a.txt (fd %d) no longer shares the offset with fd %d: %lld", adup, a,
                  (long long)lseek(adup, 0, SEEK_CUR));
    char buf[128];
    ssize_t n = pread(a, buf, sizeof buf, 0);
    if (n != 100 || memcmp(buf, data, 100) != 0)
        case_fail("a.txt content changed (pread returned %zd)", n);

    /* c.txt from offset 5 */
    n = read(c, buf, sizeof buf);
    if (n != 11 || memcmp(buf, "56789abcdef", 11) != 0)
        case_fail("read c.txt from offset 5 returned %zd bytes, expected \"56789abcdef\"", n);

    /* fd 42 from offset 3 */
    n = read(42, buf, sizeof buf);
    if (n != 5 || memcmp(buf, "tytwo", 5) != 0)
        case_fail("read fd 42 from offset 3 returned %zd bytes '%.*s', expected \"tytwo\"", n,
                  n > 0 ? (int)n : 0, buf);

    /* O_APPEND: write lands at the end even after seeking to 0 */
    lseek(log, 0, SEEK_SET);
    if (write(log, "ABCDE", 5) != 5) {
        case_fail("write log.txt: %s", strerror(errno));
    } else {
        int r = open("log.txt", O_RDONLY | O_CLOEXEC);
        n = r >= 0 ? pread(r, buf, sizeof buf, 0) : -1;
        if (r >= 0)
            close(r);
        if (n != 15 || memcmp(buf, "0123456789ABCDE", 15) != 0)
            case_fail("log.txt after O_APPEND write has %zd bytes '%.*s', expected "
                      "\"0123456789ABCDE\"",
                      n, n > 0 ? (int)n : 0, buf);
    }

    if (write(dnull, "xyz", 3) != 3)
        case_fail("write /dev/null: %s", strerror(errno));

    memset(buf, 0x55, 64);
    n = read(dzero, buf, 64);
    if (n != 64)
        case_fail("read /dev/zero returned %zd: %s", n, strerror(errno));
    else
        for (int i = 0; i < 64; i++)
            if (buf[i] != 0) {
                case_fail("/dev/zero returned a nonzero byte");
                break;
            }

    memset(buf, 0, 16);
    n = read(durandom, buf, 16);
    if (n != 16) {
        case_fail("read /dev/urandom returned %zd: %s", n, strerror(errno));
    } else {
        int nz = 0;
        for (int i = 0; i < 16; i++)
            nz |= buf[i];
        if (!nz)
            case_fail("/dev/urandom returned 16 zero bytes");
    }

    /* no unexpected fds */
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        case_fail("opendir /proc/self/fd: %s", strerror(errno));
    } else {
        char extra[512] = "";
        size_t len = 0;
        int nextra = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] < '0' || de->d_name[0] > '9')
                continue;
            int fd = atoi(de->d_name);
            if (fd <= 2 || fd == dirfd(d) || is_ours(fd))
                continue;
            char link[64], target[200] = "?";
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t t = readlink(link, target, sizeof target - 1);
            if (t >= 0)
                target[t] = 0;
            nextra++;
            if (len < sizeof extra - 1) {
                int w = snprintf(extra + len, sizeof extra - len, " %d->%s", fd, target);
                if (w > 0)
                    len += (size_t)w;
            }
        }
        closedir(d);
        if (nextra)
            case_fail("%d unexpected open fd(s):%s", nextra, extra);
    }

    case_finish();
}
