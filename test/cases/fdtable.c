// build: gcc -O2 -g -Wall -Wextra -o fdtable fdtable.c
/*
 * fdtable.c - a large fd table (packed in the image: format 1.8) comes back entry by entry, in
 *             two processes whose tables differ.
 *
 *   fdtable --out FILE
 *
 * The root sets up ~160 fds at scattered numbers from 100 up, and one at 3000: 40 pipes (each
 * with a byte queued), 20 unix stream socket pairs (a byte queued at one end), 12 eventfds
 * (counter i + 1), 12 opens of FILE.data (offset 10 * i, access modes read-only, read-write and
 * write-only append in turn), each dup'ed to a second number (the same open file), and a dup
 * of a pipe's read end at fd 3000. Close-on-exec is set on every fd whose number is a multiple
 * of 3. It forks a child that inherits them all, then closes both ends of every fourth pipe and
 * toggles close-on-exec on every entry of index = 1 mod 3: the two tables differ.
 *
 * After SIGTERM the root checks its table: exactly these fd numbers open, each one's
 * close-on-exec flag, access mode and object (the two ends of a pipe or a pair are one object,
 * a dup is the same open file as its original), the queued bytes and counters, the offsets (a
 * dup moves with its original, distinct opens do not). It then writes a new counter into each
 * eventfd and moves each file's offset, and sends SIGTERM to the child, which checks its own
 * table the same way, that the counters and offsets the root set are what it sees (the open
 * files are shared across the two processes), and that a byte goes through each pipe and pair
 * left to it. The child's verdict is its exit status (and FILE.child).
 */
#include "case.h"

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

enum { PIPE_R, PIPE_W, SOCK, EVFD, FILE_FD, DUP_HIGH };
#define NPIPES 40
#define NPAIRS 20
#define NEVFD 12
#define NFILES 12
#define MAXE 256
#define HIGH_FD 3000

struct ent {
    int fd, kind, obj;  /* obj: the pipe, pair, eventfd or open's index */
    int peer;           /* the entry of the other end, or the original of a dup; -1 none */
    int cloexec;        /* the root's flag */
    int acc;            /* O_ACCMODE | O_APPEND expected from F_GETFL */
};
static struct ent e[MAXE];
static int ne;
static int next_fd = 100;
static char data_path[PATH_MAX + 16];

/* Moves fd to the next scattered number (one or two above the last) and records it. */
static int place(int fd, int kind, int obj, int peer, int acc)
{
    int to = next_fd;
    next_fd += 1 + (ne % 3 == 1);
    if (dup2(fd, to) != to)
        case_setup_fail("dup2 to %d: %s", to, strerror(errno));
    close(fd);
    e[ne] = (struct ent){ to, kind, obj, peer, to % 3 == 0, acc };
    if (e[ne].cloexec && fcntl(to, F_SETFD, FD_CLOEXEC) < 0)
        case_setup_fail("F_SETFD %d: %s", to, strerror(errno));
    return ne++;
}

static int child_closed(const struct ent *x)
{
    return (x->kind == PIPE_R || x->kind == PIPE_W) && x->obj % 4 == 3;
}

static int want_cloexec(int i, int child)
{
    return child && i % 3 == 1 ? !e[i].cloexec : e[i].cloexec;
}

/* The table as a whole: every expected fd open, nothing else above 2. */
static void check_set(int child)
{
    static unsigned char seen[HIGH_FD + 1];
    memset(seen, 0, sizeof seen);
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        case_fail("opendir /proc/self/fd: %s", strerror(errno));
        return;
    }
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (*end || !de->d_name[0] || v == dfd || v < 3)
            continue;
        int ok = 0;
        for (int i = 0; i < ne && !ok; i++)
            ok = e[i].fd == v && !(child && child_closed(&e[i]));
        if (!ok)
            case_fail("fd %ld is open, it should not be", v);
        else
            seen[v] = 1;
    }
    closedir(d);
    for (int i = 0; i < ne; i++)
        if (!(child && child_closed(&e[i])) && !seen[e[i].fd])
            case_fail("fd %d (entry %d) is not open", e[i].fd, i);
}

static void check_entry(int i, int child)
{
    struct ent *x = &e[i];
    int fd = x->fd;
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0) {
        case_fail("F_GETFD %d: %s", fd, strerror(errno));
        return;
    }
    if (!!(fl & FD_CLOEXEC) != want_cloexec(i, child))
        case_fail("fd %d: close-on-exec %d, expected %d", fd, !!(fl & FD_CLOEXEC), want_cloexec(i, child));
    int st = fcntl(fd, F_GETFL);
    if ((st & (O_ACCMODE | O_APPEND)) != x->acc)
        case_fail("fd %d: file flags 0%o, expected 0%o", fd, st & (O_ACCMODE | O_APPEND), x->acc);
    struct stat a, b;
    if (fstat(fd, &a) < 0) {
        case_fail("fstat %d: %s", fd, strerror(errno));
        return;
    }
    if (x->peer >= 0) {
        if (fstat(e[x->peer].fd, &b) < 0)
            case_fail("fstat %d: %s", e[x->peer].fd, strerror(errno));
        else if (x->kind == SOCK ? a.st_ino == b.st_ino : (a.st_ino != b.st_ino || a.st_dev != b.st_dev))
            case_fail("fd %d and fd %d: inodes %lu and %lu", fd, e[x->peer].fd, (unsigned long)a.st_ino, (unsigned long)b.st_ino);
    }
    switch (x->kind) {
    case PIPE_R:
    case PIPE_W:
    case DUP_HIGH:
        if (!S_ISFIFO(a.st_mode))
            case_fail("fd %d is not a pipe", fd);
        break;
    case SOCK:
        if (!S_ISSOCK(a.st_mode))
            case_fail("fd %d is not a socket", fd);
        break;
    case FILE_FD:
        if (!S_ISREG(a.st_mode))
            case_fail("fd %d is not a regular file", fd);
        break;
    }
}

/* The objects' contents: the root takes the queued bytes and counters; both check offsets. */
static void check_objects(int child)
{
    char c;
    for (int i = 0; i < ne; i++) {
        struct ent *x = &e[i];
        if (child && child_closed(x))
            continue;
        if (x->kind == PIPE_R) {
            char want = child ? 'c' : (char)('A' + x->obj % 26);
            if (child && write(e[x->peer].fd, "c", 1) != 1)
                case_fail("write to pipe %d (fd %d): %s", x->obj, e[x->peer].fd, strerror(errno));
            if (read(x->fd, &c, 1) != 1 || c != want)
                case_fail("pipe %d (fd %d): no byte %c", x->obj, x->fd, want);
        } else if (x->kind == SOCK && x->peer > i) { /* the first end: the byte was sent from the second */
            char want = child ? 's' : (char)('a' + x->obj % 26);
            if (child && write(e[x->peer].fd, "s", 1) != 1)
                case_fail("write to pair %d (fd %d): %s", x->obj, e[x->peer].fd, strerror(errno));
            if (read(x->fd, &c, 1) != 1 || c != want)
                case_fail("pair %d (fd %d): no byte %c", x->obj, x->fd, want);
        } else if (x->kind == EVFD) {
            uint64_t v = 0, want = child ? (uint64_t)x->obj + 100 : (uint64_t)x->obj + 1;
            if (read(x->fd, &v, 8) != 8 || v != want)
                case_fail("eventfd %d (fd %d): %llu, expected %llu", x->obj, x->fd, (unsigned long long)v, (unsigned long long)want);
        } else if (x->kind == FILE_FD && x->peer < 0) {
            off_t want = child ? 500 + x->obj : 10 * x->obj;
            int dup = -1;
            for (int k = 0; k < ne; k++)
                if (e[k].peer == i && e[k].kind == FILE_FD)
                    dup = k;
            off_t p = lseek(x->fd, 0, SEEK_CUR), q = dup >= 0 ? lseek(e[dup].fd, 0, SEEK_CUR) : -2;
            if (p != want || q != want)
                case_fail("open %d (fds %d, %d): offsets %lld, %lld, expected %lld", x->obj, x->fd, dup >= 0 ? e[dup].fd : -1, (long long)p, (long long)q, (long long)want);
            /* a dup moves with its original; the next open does not */
            if (dup >= 0 && (lseek(x->fd, 3, SEEK_CUR) != want + 3 || lseek(e[dup].fd, 0, SEEK_CUR) != want + 3))
                case_fail("open %d: fd %d does not move with fd %d", x->obj, e[dup].fd, x->fd);
            lseek(x->fd, want, SEEK_SET);
        }
    }
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    struct rlimit l = { HIGH_FD + 1, HIGH_FD + 1 };
    struct rlimit now;
    if (getrlimit(RLIMIT_NOFILE, &now) == 0 && now.rlim_max > l.rlim_max)
        l.rlim_max = now.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &l) < 0)
        case_setup_fail("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    snprintf(data_path, sizeof data_path, "%s.data", case_out);
    int df = open(data_path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    char blk[4096];
    memset(blk, 'd', sizeof blk);
    if (df < 0 || write(df, blk, sizeof blk) != (ssize_t)sizeof blk)
        case_setup_fail("%s: %s", data_path, strerror(errno));
    close(df);

    for (int i = 0; i < NPIPES; i++) {
        int p[2];
        char c = (char)('A' + i % 26);
        if (pipe(p) < 0 || write(p[1], &c, 1) != 1)
            case_setup_fail("pipe: %s", strerror(errno));
        int r = place(p[0], PIPE_R, i, -1, O_RDONLY);
        e[r].peer = place(p[1], PIPE_W, i, r, O_WRONLY);
    }
    for (int i = 0; i < NPAIRS; i++) {
        int s[2];
        char c = (char)('a' + i % 26);
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) < 0 || write(s[1], &c, 1) != 1)
            case_setup_fail("socketpair: %s", strerror(errno));
        int a = place(s[0], SOCK, i, -1, O_RDWR);
        e[a].peer = place(s[1], SOCK, i, a, O_RDWR);
    }
    for (int i = 0; i < NEVFD; i++) {
        int f = eventfd((unsigned)i + 1, 0);
        if (f < 0)
            case_setup_fail("eventfd: %s", strerror(errno));
        place(f, EVFD, i, -1, O_RDWR);
    }
    static const int modes[3] = { O_RDONLY, O_RDWR, O_WRONLY | O_APPEND };
    for (int i = 0; i < NFILES; i++) {
        int f = open(data_path, modes[i % 3]);
        if (f < 0 || lseek(f, 10 * i, SEEK_SET) != 10 * i)
            case_setup_fail("open %s: %s", data_path, strerror(errno));
        int d = dup(f);
        if (d < 0)
            case_setup_fail("dup: %s", strerror(errno));
        int o = place(f, FILE_FD, i, -1, modes[i % 3]);
        place(d, FILE_FD, i, o, modes[i % 3]);
    }
    /* the high one: a dup of pipe 0's read end, no close-on-exec */
    if (dup2(e[0].fd, HIGH_FD) != HIGH_FD)
        case_setup_fail("dup2 to %d: %s", HIGH_FD, strerror(errno));
    e[ne++] = (struct ent){ HIGH_FD, DUP_HIGH, 0, 0, 0, O_RDONLY };

    pid_t child = fork();
    if (child < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (child == 0) {
        for (int i = 0; i < ne; i++) {
            if (child_closed(&e[i]))
                close(e[i].fd);
            else if (i % 3 == 1 && fcntl(e[i].fd, F_SETFD, e[i].cloexec ? 0 : FD_CLOEXEC) < 0)
                case_child_die("child", "F_SETFD %d: %s", e[i].fd, strerror(errno));
        }
        while (!case_term)
            pause();
        check_set(1);
        for (int i = 0; i < ne && !case_failed; i++)
            if (!child_closed(&e[i]))
                check_entry(i, 1);
        if (!case_failed)
            check_objects(1);
        case_finish_aux(".child");
    }
    case_ready();
    case_wait_term();

    check_set(0);
    for (int i = 0; i < ne && !case_failed; i++)
        check_entry(i, 0);
    if (!case_failed)
        check_objects(0);
    /* for the child: new counters, new offsets (the same open files) */
    for (int i = 0; i < ne; i++) {
        uint64_t v = (uint64_t)e[i].obj + 100;
        if (e[i].kind == EVFD && write(e[i].fd, &v, 8) != 8)
            case_fail("write eventfd %d: %s", e[i].fd, strerror(errno));
        if (e[i].kind == FILE_FD && e[i].peer < 0)
            lseek(e[i].fd, 500 + e[i].obj, SEEK_SET);
    }
    int status = 0;
    if (kill(child, SIGTERM) < 0 || waitpid(child, &status, 0) != child)
        case_fail("child %d: %s", (int)child, strerror(errno));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[512] = "";
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s.child", case_out);
        case_read_text(p, why, sizeof why);
        why[strcspn(why, "\n")] = 0;
        case_fail("child: status 0x%x: %s", status, why);
    }
    unlink(data_path);
    case_finish();
}
