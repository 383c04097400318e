// build: gcc -O2 -g -Wall -Wextra -o fanotify fanotify.c
/*
 * fanotify.c - fanotify groups come back with their flags and marks, and report what happens
 * after the restart (and nothing of the restart itself).
 *
 *   fanotify --out FILE [--perm | --perm-deleted]
 *
 * Set up (in FILE.d, files a, b, c, del): group A (FAN_CLASS_NOTIF, non-blocking): inode marks
 * on a (FAN_MODIFY|FAN_CLOSE_WRITE), on FILE.d (FAN_OPEN|FAN_EVENT_ON_CHILD), an ignore mask
 * FAN_OPEN on b, and FAN_MODIFY on del, which is then unlinked while fd D holds it. Group B: a
 * mount mark (FAN_CLOSE_WRITE) on FILE.d's mount. Group C: a filesystem mark (FAN_CLOSE_WRITE)
 * on its filesystem. Queued events are read away.
 * After SIGTERM: A is non-blocking and nothing is queued in it; opening b then writing a gives,
 * in A: FAN_OPEN, FAN_MODIFY and FAN_CLOSE_WRITE of a (maybe merged), nothing of b (ignored);
 * writing D gives FAN_MODIFY of "del (deleted)"; writing c gives FAN_CLOSE_WRITE of c in B and
 * in C (among the mount's and filesystem's other events). PASS or FAIL: reason.
 * --perm: group A (FAN_CLASS_CONTENT) also has FAN_OPEN_PERM on a. After SIGTERM: a child opening
 * a waits for the answer; A reports FAN_OPEN_PERM of a, the process denies it, the child's open
 * fails with EPERM; a second child is allowed. PASS or FAIL: reason.
 * --perm-deleted: FAN_OPEN_PERM on del instead: refused at checkpoint; after SIGTERM only PASS.
 */
#include "case.h"

#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char d[PATH_MAX + 8];

/* The next event of group g whose file is `name` in FILE.d (others skipped, up to 4096); its
 * mask, or 0. */
static uint64_t next_of(int g, const char *name, int *skipped_b)
{
    static char bufs[3][8192] __attribute__((aligned(8)));
    static ssize_t len[3], off[3];
    static int which[3] = { -1, -1, -1 };
    int k = 0;
    while (k < 3 && which[k] != g && which[k] != -1)
        k++;
    which[k] = g;
    char *buf = bufs[k];
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/%s", d, name);
    for (int n = 0; n < 4096; n++) {
        if (off[k] >= len[k]) {
            off[k] = len[k] = 0;
            if (case_wait_readable(g, 10000) != 1 || (len[k] = read(g, buf, sizeof bufs[k])) <= 0) {
                len[k] = 0;
                return 0;
            }
        }
        struct fanotify_event_metadata *e = (void *)(buf + off[k]);
        off[k] += e->event_len;
        char self[64], path[PATH_MAX + 64] = { 0 };
        snprintf(self, sizeof self, "/proc/self/fd/%d", e->fd);
        if (e->fd >= 0) {
            if (readlink(self, path, sizeof path - 1) < 0)
                path[0] = 0;
            close(e->fd);
        }
        char b[PATH_MAX + 16];
        snprintf(b, sizeof b, "%s/b", d);
        if (skipped_b && !strcmp(path, b))
            *skipped_b = 1;
        if (!strcmp(path, want))
            return e->mask;
    }
    return 0;
}

static int touch(const char *name, int flags)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/%s", d, name);
    int fd = open(p, flags, 0600);
    if (fd < 0)
        case_fail("open %s: %s", name, strerror(errno));
    return fd;
}

/* The "fanotify flags:... event-flags:..." line of fd's fdinfo. */
static int group_flags(int fd, char *out, size_t len)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    if (case_read_text(path, buf, sizeof buf) <= 0)
        return -1;
    char *l = strstr(buf, "fanotify flags:");
    if (!l)
        return -1;
    snprintf(out, len, "%.*s", (int)strcspn(l, "\n"), l);
    return 0;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int perm = 0, perm_deleted = 0;
    for (int i = 1; i < argc; i++) {
        perm |= !strcmp(argv[i], "--perm");
        perm_deleted |= !strcmp(argv[i], "--perm-deleted");
    }
    snprintf(d, sizeof d, "%s.d", case_out);
    mkdir(d, 0700);
    const char *names[] = { "a", "b", "c", "del" };
    for (int i = 0; i < 4; i++)
        close(touch(names[i], O_CREAT | O_WRONLY | O_TRUNC));
    char a[PATH_MAX + 16], b[PATH_MAX + 16], del[PATH_MAX + 16];
    snprintf(a, sizeof a, "%s/a", d);
    snprintf(b, sizeof b, "%s/b", d);
    snprintf(del, sizeof del, "%s/del", d);
    int A = fanotify_init(FAN_CLOEXEC | FAN_NONBLOCK | (perm || perm_deleted ? FAN_CLASS_CONTENT : FAN_CLASS_NOTIF), O_RDONLY);
    int B = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY), C = fanotify_init(FAN_CLOEXEC | FAN_CLASS_NOTIF, O_RDONLY);
    int D = touch("del", O_WRONLY);
    if (A < 0 || B < 0 || C < 0 || D < 0)
        case_setup_fail("fanotify_init: %s", strerror(errno));
    if (fanotify_mark(A, FAN_MARK_ADD, FAN_MODIFY | FAN_CLOSE_WRITE, AT_FDCWD, a) ||
        fanotify_mark(A, FAN_MARK_ADD, FAN_OPEN | FAN_EVENT_ON_CHILD, AT_FDCWD, d) ||
        fanotify_mark(A, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_OPEN, AT_FDCWD, b) ||
        fanotify_mark(A, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, del) ||
        (perm && fanotify_mark(A, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, a)) ||
        (perm_deleted && fanotify_mark(A, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, del)) ||
        fanotify_mark(B, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD, d) ||
        fanotify_mark(C, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD, d) || unlink(del))
        case_setup_fail("fanotify_mark: %s", strerror(errno));
    char buf[8192] __attribute__((aligned(8)));
    ssize_t n;
    while ((n = read(A, buf, sizeof buf)) > 0)
        for (struct fanotify_event_metadata *e = (void *)buf; FAN_EVENT_OK(e, n); e = FAN_EVENT_NEXT(e, n))
            close(e->fd);
    char flagsA[128], flagsB[128], now[128];
    if (group_flags(A, flagsA, sizeof flagsA) < 0 || group_flags(B, flagsB, sizeof flagsB) < 0)
        case_setup_fail("no \"fanotify flags\" line in fdinfo");
    case_ready();
    case_wait_term();
    /* the groups' fanotify_init flags as fdinfo shows them (FAN_NONBLOCK, FAN_CLOEXEC included) */
    if (group_flags(A, now, sizeof now) < 0 || strcmp(now, flagsA))
        case_fail("group A: fdinfo \"%s\", before the checkpoint \"%s\"", now, flagsA);
    else if (group_flags(B, now, sizeof now) < 0 || strcmp(now, flagsB))
        case_fail("group B: fdinfo \"%s\", before the checkpoint \"%s\"", now, flagsB);
    if (perm_deleted) /* refused at checkpoint */
        case_finish();
    if (perm) {
        for (int k = 0; k < 2; k++) {
            pid_t ch = fork();
            if (ch == 0) {
                int fd = open(a, O_RDONLY);
                _exit(fd >= 0 ? 0 : errno == EPERM ? 1 : 2);
            }
            int answered = 0;
            for (int tries = 0; tries < 64 && !answered; tries++) {
                if (case_wait_readable(A, 10000) != 1 || (n = read(A, buf, sizeof buf)) <= 0)
                    break;
                for (struct fanotify_event_metadata *e = (void *)buf; FAN_EVENT_OK(e, n); e = FAN_EVENT_NEXT(e, n)) {
                    if (e->mask & FAN_OPEN_PERM) {
                        struct fanotify_response r = { .fd = e->fd, .response = k ? FAN_ALLOW : FAN_DENY };
                        answered = write(A, &r, sizeof r) == sizeof r;
                    }
                    close(e->fd);
                }
            }
            int st = -1;
            if (!answered)
                case_fail("no FAN_OPEN_PERM event to answer (%s)", strerror(errno)), kill(ch, SIGKILL);
            if (waitpid(ch, &st, 0) != ch || !WIFEXITED(st) || WEXITSTATUS(st) != (k ? 0 : 1))
                case_fail("the %s open ended with status 0x%x", k ? "allowed" : "denied", st);
        }
        case_finish();
    }

    if (!(fcntl(A, F_GETFL) & O_NONBLOCK))
        case_fail("group A lost O_NONBLOCK");
    if ((n = read(A, buf, sizeof buf)) != -1 || errno != EAGAIN)
        case_fail("group A has %zd bytes of events queued after restart", n);
    close(touch("b", O_RDONLY));
    int fa = touch("a", O_WRONLY);
    if (write(fa, "x", 1) != 1)
        case_fail("write a: %s", strerror(errno));
    close(fa);
    int saw_b = 0;
    /* the kernel may merge the three events of a into one */
    uint64_t ma = 0, m;
    for (int i = 0; i < 3 && !(ma & FAN_CLOSE_WRITE) && (m = next_of(A, "a", &saw_b)); i++)
        ma |= m;
    if (ma != (FAN_OPEN | FAN_MODIFY | FAN_CLOSE_WRITE))
        case_fail("group A on a: mask 0x%llx, expected FAN_OPEN|FAN_MODIFY|FAN_CLOSE_WRITE", (unsigned long long)ma);
    if (write(D, "y", 1) != 1)
        case_fail("write D: %s", strerror(errno));
    uint64_t md = next_of(A, "del (deleted)", &saw_b);
    if (md != FAN_MODIFY)
        case_fail("group A on the deleted file: mask 0x%llx", (unsigned long long)md);
    if (saw_b)
        case_fail("group A reported b, whose FAN_OPEN it ignores");
    close(touch("c", O_WRONLY));
    uint64_t mb = next_of(B, "c", NULL), mc = next_of(C, "c", NULL);
    if (mb != FAN_CLOSE_WRITE || mc != FAN_CLOSE_WRITE)
        case_fail("groups B (mount) and C (filesystem) on c: 0x%llx 0x%llx", (unsigned long long)mb, (unsigned long long)mc);
    for (int i = 0; i < 3; i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s/%s", d, names[i]);
        unlink(p);
    }
    rmdir(d);
    case_finish();
}
