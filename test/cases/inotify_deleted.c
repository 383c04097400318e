// build: gcc -O2 -g -Wall -Wextra -o inotify_deleted inotify_deleted.c
/*
 * inotify_deleted.c - an inotify watch on a file that was deleted since (the program still
 * holds it open) comes back at its watch descriptor, and no event of the restart is seen.
 *
 *   inotify_deleted --out FILE
 *
 * Set up (in FILE.d): a watch on FILE.d is added and removed (wd 1), FILE.d/g is created and
 * opened (fd G, "abc" written) and watched for IN_MODIFY|IN_CLOSE_WRITE|IN_DELETE_SELF (wd 2),
 * FILE.d is watched for IN_CREATE (wd 3); g is unlinked; the queued events are read away.
 * After SIGTERM: nothing is queued; G still reads "abc" and has no links; writing G gives
 * IN_MODIFY on wd 2; creating FILE.d/n gives IN_CREATE on wd 3; closing G (the last fd) gives
 * IN_CLOSE_WRITE then IN_DELETE_SELF on wd 2. PASS or FAIL: reason.
 * --mapped: g is only mapped (its fd closed) when it is unlinked: no fd of the tree holds it,
 * and the checkpoint refuses the watch; after SIGTERM it only writes PASS.
 */
#include "case.h"

#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* the next event: it must be on wd with a bit of mask */
static void expect_event(int in, int wd, uint32_t mask, const char *what)
{
    static char buf[4096] __attribute__((aligned(8)));
    static ssize_t len, off;
    if (off >= len) {
        off = len = 0;
        if (case_wait_readable(in, 10000) != 1 || (len = read(in, buf, sizeof buf)) <= 0) {
            case_fail("%s: no event", what);
            len = 0;
            return;
        }
    }
    struct inotify_event *ev = (struct inotify_event *)(buf + off);
    off += (ssize_t)sizeof *ev + ev->len;
    if (ev->wd != wd || !(ev->mask & mask))
        case_fail("%s: got wd %d mask 0x%x, expected wd %d mask 0x%x", what, ev->wd, ev->mask, wd, mask);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int mapped = 0;
    for (int i = 1; i < argc; i++)
        mapped |= !strcmp(argv[i], "--mapped");
    char d[PATH_MAX + 8], g[PATH_MAX + 16], n[PATH_MAX + 16];
    snprintf(d, sizeof d, "%s.d", case_out);
    snprintf(g, sizeof g, "%s/g", d);
    snprintf(n, sizeof n, "%s/n", d);
    mkdir(d, 0700);
    int in = inotify_init1(IN_NONBLOCK);
    int w1 = in < 0 ? -1 : inotify_add_watch(in, d, IN_ATTRIB);
    if (w1 != 1 || inotify_rm_watch(in, w1))
        case_setup_fail("first watch: %s", strerror(errno));
    int G = open(g, O_CREAT | O_RDWR | O_TRUNC, 0640);
    if (G < 0 || write(G, "abc", 3) != 3)
        case_setup_fail("g: %s", strerror(errno));
    int wg = inotify_add_watch(in, g, IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF), wd = inotify_add_watch(in, d, IN_CREATE);
    if (mapped && (mmap(NULL, 4096, PROT_READ, MAP_SHARED, G, 0) == MAP_FAILED || close(G)))
        case_setup_fail("mmap: %s", strerror(errno));
    if (wg != 2 || wd != 3 || unlink(g))
        case_setup_fail("watches %d %d (expected 2 3), unlink: %s", wg, wd, strerror(errno));
    char buf[4096] __attribute__((aligned(8)));
    while (read(in, buf, sizeof buf) > 0)
        ;
    case_ready();
    case_wait_term();
    if (mapped) {
        rmdir(d);
        case_finish();
    }

    if (read(in, buf, sizeof buf) != -1 || errno != EAGAIN)
        case_fail("events were queued after restart: wd %d mask 0x%x", ((struct inotify_event *)buf)->wd, ((struct inotify_event *)buf)->mask);
    struct stat st;
    char got[8] = { 0 };
    if (pread(G, got, sizeof got - 1, 0) != 3 || strcmp(got, "abc") || fstat(G, &st) || st.st_nlink != 0)
        case_fail("fd G: reads \"%s\", %d links", got, (int)st.st_nlink);
    if (write(G, "d", 1) != 1)
        case_fail("write G: %s", strerror(errno));
    expect_event(in, 2, IN_MODIFY, "writing the deleted file");
    int nf = open(n, O_CREAT | O_WRONLY, 0600);
    if (nf < 0)
        case_fail("create n: %s", strerror(errno));
    expect_event(in, 3, IN_CREATE, "creating a file in the watched directory");
    close(G);
    expect_event(in, 2, IN_CLOSE_WRITE, "closing the deleted file");
    expect_event(in, 2, IN_DELETE_SELF, "its last close");
    close(nf);
    unlink(n);
    rmdir(d);
    case_finish();
}
