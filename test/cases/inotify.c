// build: gcc -O2 -g -Wall -Wextra -o inotify inotify.c
/*
 * inotify.c - an inotify instance keeps its watches, their descriptors and masks.
 *
 *   inotify --out FILE
 *
 * Set up (in directory FILE.d): a watch on FILE.d/x is added and removed (so the next watch
 * descriptors are not 1), then FILE.d is watched for IN_CREATE|IN_DELETE (wd 2) and FILE.d/f
 * for IN_MODIFY (wd 3); the instance is non-blocking; the IN_IGNORED of the removed watch is
 * read away.
 * After SIGTERM: nothing is queued (no stray IN_IGNORED); creating FILE.d/new gives IN_CREATE
 * with wd 2 and the name "new"; writing FILE.d/f gives IN_MODIFY with wd 3; the instance is
 * still non-blocking. PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/inotify.h>
#include <sys/stat.h>

static void expect_event(int in, int wd, uint32_t mask, const char *name, const char *what)
{
    char buf[4096] __attribute__((aligned(8)));
    if (case_wait_readable(in, 5000) != 1) {
        case_fail("%s: no event", what);
        return;
    }
    ssize_t n = read(in, buf, sizeof buf);
    struct inotify_event *ev = (struct inotify_event *)buf;
    if (n < (ssize_t)sizeof *ev || ev->wd != wd || !(ev->mask & mask) || (name && (!ev->len || strcmp(ev->name, name))))
        case_fail("%s: got wd %d mask 0x%x name \"%s\", expected wd %d mask 0x%x name \"%s\"", what, n > 0 ? ev->wd : -1,
                  n > 0 ? ev->mask : 0, n > 0 && ev->len ? ev->name : "", wd, mask, name ? name : "");
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    char d[PATH_MAX + 8], x[PATH_MAX + 16], f[PATH_MAX + 16], nw[PATH_MAX + 16];
    snprintf(d, sizeof d, "%s.d", case_out);
    snprintf(x, sizeof x, "%s/x", d);
    snprintf(f, sizeof f, "%s/f", d);
    snprintf(nw, sizeof nw, "%s/new", d);
    mkdir(d, 0700);
    unlink(nw);
    int fx = open(x, O_CREAT | O_WRONLY, 0600), ff = open(f, O_CREAT | O_WRONLY, 0600);
    int in = inotify_init1(IN_NONBLOCK);
    if (fx < 0 || ff < 0 || in < 0)
        case_setup_fail("set-up: %s", strerror(errno));
    int w1 = inotify_add_watch(in, x, IN_ATTRIB);
    if (w1 != 1 || inotify_rm_watch(in, w1))
        case_setup_fail("first watch: %s", strerror(errno));
    int wd = inotify_add_watch(in, d, IN_CREATE | IN_DELETE), wf = inotify_add_watch(in, f, IN_MODIFY);
    if (wd != 2 || wf != 3)
        case_setup_fail("watches %d %d, expected 2 3", wd, wf);
    char buf[4096];
    while (read(in, buf, sizeof buf) > 0) /* the IN_IGNORED of watch 1 */
        ;
    case_ready();
    case_wait_term();

    if (read(in, buf, sizeof buf) != -1 || errno != EAGAIN)
        case_fail("events were queued after restart (or the instance blocks)");
    int nf = open(nw, O_CREAT | O_WRONLY, 0600);
    if (nf < 0)
        case_fail("create: %s", strerror(errno));
    expect_event(in, 2, IN_CREATE, "new", "creating a file in the watched directory");
    if (write(ff, "y", 1) != 1)
        case_fail("write: %s", strerror(errno));
    expect_event(in, 3, IN_MODIFY, NULL, "writing the watched file");
    if (!(fcntl(in, F_GETFL) & O_NONBLOCK))
        case_fail("the instance lost O_NONBLOCK");
    unlink(nw);
    unlink(x);
    unlink(f);
    rmdir(d);
    case_finish();
}
