// build: gcc -O2 -g -Wall -Wextra -o sharedfiles sharedfiles.c
/*
 * sharedfiles.c - processes that share their fd table (CLONE_FILES) and their fs info (cwd,
 * root, umask: CLONE_FS) still share them after a restart.
 *
 *   sharedfiles --out FILE [--siblings | --siblings-setsid | --fs-only | --three]
 *
 * P clones C with CLONE_FILES|CLONE_FS (a process, not a thread), and forks D (shares nothing).
 * Before the checkpoint C opens FILE.c (P sees that fd) and maps FILE.m shared (its fd closed:
 * the restorer's fd of it lives in the shared table until C's map is made), P opens
 * /proc/self/stat (opened again late, in the shared table), and umask 027 is set. After SIGTERM:
 * C's map still writes to FILE.m and C's POSIX lock on it is held, P's /proc fd names P;
 * kcmp says P and C share both (KCMP_FILES, KCMP_FS), P and D neither; P opens a file and C sees
 * the fd; C closes it and P sees it gone; C chdirs to FILE.d and sets umask 077: P's cwd and umask
 * follow; D's do not. PASS or FAIL: reason.
 * --fs-only: C is cloned with CLONE_FS only: its fd table stays its own (P's new fd is not C's).
 * --three: P clones a second sharer C2 the same way (its own mappings and executable); after
 * SIGTERM it shares P's table and fs info too.
 * --siblings: P clones a second C2 the same way, then unshare(CLONE_FILES): C and C2 share a
 * table that their parent does not (C2 is then C's clone with CLONE_PARENT at restart); after
 * SIGTERM they must still share it, all three the fs info, and C2 must be P's child.
 * --siblings-setsid: the same, C2 in a session of its own (refused at checkpoint: C cannot
 * create it there); after SIGTERM they must still share it (the refusal left them alone).
 */
#include "case.h"

#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/kcmp.h>

static int rq[2], an[2];
static char dpath[PATH_MAX + 8], cpath[PATH_MAX + 8], mpath[PATH_MAX + 8];
static char *cmap;

static int kcmp(pid_t a, pid_t b, int type)
{
    return (int)syscall(SYS_kcmp, a, b, type, 0, 0);
}

static int c2_setsid;

static int c2_main(void *arg)
{
    (void)arg;
    signal(SIGTERM, SIG_DFL);
    if (c2_setsid)
        setsid();
    for (;;)
        pause();
    return 0;
}

static void siblings(pid_t c)
{
    static char stack2[65536];
    pid_t c2 = clone(c2_main, stack2 + sizeof stack2, CLONE_FILES | CLONE_FS | SIGCHLD, NULL);
    if (c2 < 0 || unshare(CLONE_FILES))
        case_setup_fail("clone/unshare: %s", strerror(errno));
    for (int i = 0; c2_setsid && getsid(c2) != c2; i++)
        if (i > 5000)
            case_setup_fail("C2 did not setsid");
        else
            case_sleep_ms(1);
    case_ready();
    case_wait_term();
    pid_t me = getpid();
    if (kcmp(c, c2, KCMP_FILES) != 0 || kcmp(me, c, KCMP_FILES) == 0)
        case_fail("C and C2 no longer share their fd table, or P does");
    if (kcmp(me, c, KCMP_FS) != 0 || kcmp(me, c2, KCMP_FS) != 0)
        case_fail("P, C and C2 no longer share their fs info");
    kill(c2, SIGKILL);
    if (waitpid(c2, NULL, 0) != c2)
        case_fail("C2 is not P's child: %s", strerror(errno));
    char cmd = 'q';
    if (write(rq[1], &cmd, 1) != 1)
        case_fail("cannot stop C");
    case_reap_child("C", c, 5000);
    unlink(mpath);
    rmdir(dpath);
    case_finish();
}

static int c_main(void *arg)
{
    (void)arg;
    signal(SIGTERM, SIG_DFL);
    int mfd = open(mpath, O_RDWR);
    cmap = mfd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (cmap == MAP_FAILED)
        _exit(5);
    close(mfd);
    /* a POSIX lock on the mapped file: it belongs to the shared table, which loses it when any
     * fd of the file is closed (the restorer's fd of the mapping must be gone before it) */
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 100 };
    int lfd = open(mpath, O_RDWR);
    if (lfd < 0 || fcntl(lfd, F_SETLK, &fl))
        _exit(6);
    char cmd;
    int fd;
    while (read(rq[0], &cmd, 1) == 1) {
        char r = 'y';
        switch (cmd) {
        case 'o': /* open FILE.c, say its number */
            fd = open(cpath, O_RDWR | O_CREAT, 0600);
            if (write(an[1], &fd, sizeof fd) != sizeof fd)
                _exit(3);
            continue;
        case 'f': /* is this fd open? then close it */
            if (read(rq[0], &fd, sizeof fd) != sizeof fd)
                _exit(3);
            r = fcntl(fd, F_GETFD) >= 0 ? 'y' : 'n';
            close(fd);
            break;
        case 'm': /* write through the map */
            cmap[0] = 'Z';
            r = msync(cmap, 4096, MS_SYNC) == 0 ? 'y' : 'n';
            break;
        case 'd':
            r = chdir(dpath) == 0 ? 'y' : 'n';
            umask(077);
            break;
        case 'q':
            _exit(0);
        }
        if (write(an[1], &r, 1) != 1)
            _exit(3);
    }
    _exit(4);
}

static char ask(char cmd, const int *fd)
{
    char r = 0;
    if (write(rq[1], &cmd, 1) != 1 || (fd && write(rq[1], fd, sizeof *fd) != sizeof *fd))
        return 0;
    if (case_wait_readable(an[0], 10000) != 1 || read(an[0], &r, 1) != 1)
        return 0;
    return r;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    snprintf(dpath, sizeof dpath, "%s.d", case_out);
    snprintf(cpath, sizeof cpath, "%s.c", case_out);
    snprintf(mpath, sizeof mpath, "%s.m", case_out);
    int mfd = open(mpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (mfd < 0 || ftruncate(mfd, 4096))
        case_setup_fail("FILE.m: %s", strerror(errno));
    close(mfd);
    if (mkdir(dpath, 0700) && errno != EEXIST)
        case_setup_fail("mkdir: %s", strerror(errno));
    if (pipe(rq) || pipe(an))
        case_setup_fail("pipe: %s", strerror(errno));
    umask(022);
    static char stack[65536];
    int fs_only = case_has_flag(argc, argv, "--fs-only");
    pid_t c = clone(c_main, stack + sizeof stack, (fs_only ? 0 : CLONE_FILES) | CLONE_FS | SIGCHLD, NULL);
    if (c < 0)
        case_setup_fail("clone: %s", strerror(errno));
    c2_setsid = case_has_flag(argc, argv, "--siblings-setsid");
    if (c2_setsid || case_has_flag(argc, argv, "--siblings"))
        siblings(c);
    pid_t c2 = 0;
    static char stack3[65536];
    if (case_has_flag(argc, argv, "--three") &&
        (c2 = clone(c2_main, stack3 + sizeof stack3, CLONE_FILES | CLONE_FS | SIGCHLD, NULL)) < 0)
        case_setup_fail("clone C2: %s", strerror(errno));
    pid_t d = fork();
    if (d < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (d == 0) {
        signal(SIGTERM, SIG_DFL);
        for (;;)
            pause();
    }
    char cmd = 'o';
    int cfd = -1;
    if (write(rq[1], &cmd, 1) != 1 || case_wait_readable(an[0], 10000) != 1 ||
        read(an[0], &cfd, sizeof cfd) != sizeof cfd || cfd < 0 || (!fs_only && fcntl(cfd, F_GETFD) < 0))
        case_setup_fail("C's open is not seen by P");
    int pst = open("/proc/self/stat", O_RDONLY);
    if (pst < 0)
        case_setup_fail("/proc/self/stat: %s", strerror(errno));
    umask(027);
    case_ready();
    case_wait_term();

    pid_t me = getpid();
    if ((kcmp(me, c, KCMP_FILES) != 0) != fs_only)
        case_fail("P and C %s their fd table (kcmp %d)", fs_only ? "share" : "no longer share", kcmp(me, c, KCMP_FILES));
    if (kcmp(me, c, KCMP_FS) != 0)
        case_fail("P and C no longer share their fs info (kcmp %d)", kcmp(me, c, KCMP_FS));
    if (c2 && (kcmp(me, c2, KCMP_FILES) != 0 || kcmp(me, c2, KCMP_FS) != 0))
        case_fail("P and C2 no longer share their fd table or fs info");
    if (kcmp(me, d, KCMP_FILES) == 0 || kcmp(me, d, KCMP_FS) == 0)
        case_fail("P and D share what they did not");
    mode_t um = umask(027);
    if (um != 027)
        case_fail("umask %03o, expected 027", um);
    if (!fs_only && fcntl(cfd, F_GETFD) < 0)
        case_fail("the fd C opened (%d) is gone", cfd);
    char lk0[64], want0[64], got0[64] = "";
    snprintf(lk0, sizeof lk0, "/proc/self/fd/%d", pst);
    char self[32] = ""; /* P's pid as /proc shows it (another one under --pidns) */
    if (readlink("/proc/self", self, sizeof self - 1) < 0)
        case_fail("/proc/self: %s", strerror(errno));
    snprintf(want0, sizeof want0, "/proc/%s/stat", self);
    if (readlink(lk0, got0, sizeof got0 - 1) < 0 || strcmp(got0, want0))
        case_fail("P's /proc fd %d is %s, expected %s", pst, got0, want0);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 100 };
    int e0 = open(mpath, O_RDWR); /* kept open: closing it would drop C's lock (same table) */
    if (e0 < 0 || fcntl(e0, F_OFD_GETLK, &fl) || fl.l_type != F_WRLCK || fl.l_pid != c)
        case_fail("C's POSIX lock on FILE.m is gone (type %d pid %d, C is %d, P %d)", fl.l_type, (int)fl.l_pid, (int)c, (int)me);
    if (ask('m', NULL) != 'y')
        case_fail("C's shared map of FILE.m cannot be written");
    else {
        char z = 0;
        int e = open(mpath, O_RDONLY);
        if (e < 0 || pread(e, &z, 1, 0) != 1 || z != 'Z')
            case_fail("C's write through its map is not in FILE.m");
        if (e >= 0)
            close(e);
    }
    int pfd = open("/dev/null", O_RDONLY);
    char seen = ask('f', &pfd);
    if (fs_only && (seen != 'n' || fcntl(pfd, F_GETFD) < 0))
        case_fail("C's fd table is P's after the restart (fd %d)", pfd);
    else if (!fs_only && seen != 'y')
        case_fail("C does not see the fd %d that P opened after the restart", pfd);
    else if (!fs_only && fcntl(pfd, F_GETFD) >= 0)
        case_fail("C closed fd %d, P still has it", pfd);
    if (ask('d', NULL) != 'y')
        case_fail("C cannot chdir");
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, dpath))
        case_fail("P's cwd is %s after C's chdir to %s", cwd, dpath);
    um = umask(077);
    if (um != 077)
        case_fail("P's umask is %03o after C's umask(077)", um);
    char dcwd[PATH_MAX + 32], lk[PATH_MAX];
    snprintf(dcwd, sizeof dcwd, "/proc/%d/cwd", (int)d);
    ssize_t n = readlink(dcwd, lk, sizeof lk - 1);
    lk[n > 0 ? n : 0] = 0;
    if (!strcmp(lk, dpath))
        case_fail("D's cwd followed C's chdir");
    cmd = 'q';
    if (write(rq[1], &cmd, 1) != 1)
        case_fail("cannot stop C");
    case_reap_child("C", c, 5000);
    kill(d, SIGKILL);
    waitpid(d, NULL, 0);
    if (c2) {
        kill(c2, SIGKILL);
        waitpid(c2, NULL, 0);
    }
    unlink(cpath);
    unlink(mpath);
    rmdir(dpath);
    case_finish();
}
