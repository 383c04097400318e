// build: gcc -O2 -g -Wall -Wextra -o mapfiles mapfiles.c
/*
 * mapfiles.c - many processes mapping the same file many times: the restorer opens each file
 * once per set of credentials, not once per mapping, so the restart fits an RLIMIT_NOFILE far
 * below (processes x mappings).
 *
 *   mapfiles --out FILE [--children N] [--maps M]
 *
 * It lowers its own RLIMIT_NOFILE to 1024 (the limit the test restarts it under). The root forks
 * N children (default 40); every process maps page 0 of its own executable M
 * times (default 30), read-only and private, each mapping a vma of its own (two one-page
 * mappings of offset 0 never merge). After SIGTERM the root signals every child; each checks
 * that every mapping still holds the file's first page and is a mapping of that file (its
 * /proc/self/map_files entry resolves to the executable's inode) and exits 0, else 1; the root
 * checks its own mappings and that every child exited 0.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

static long page;
static char first[1 << 16];
static void **maps;
static int nmaps;

static int check(void)
{
    struct stat exe;
    if (stat("/proc/self/exe", &exe) < 0)
        return -1;
    for (int i = 0; i < nmaps; i++) {
        if (memcmp(maps[i], first, (size_t)page))
            return i + 1;
        char link[64];
        struct stat st;
        snprintf(link, sizeof link, "/proc/self/map_files/%lx-%lx", (unsigned long)maps[i], (unsigned long)maps[i] + (unsigned long)page);
        if (stat(link, &st) < 0 || st.st_ino != exe.st_ino || st.st_dev != exe.st_dev)
            return i + 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    const char *a = case_arg(argc, argv, "--children"), *b = case_arg(argc, argv, "--maps");
    int n = a ? atoi(a) : 40;
    nmaps = b ? atoi(b) : 30;
    page = sysconf(_SC_PAGESIZE);
    /* the limit the test restarts it under (a task's hard limit cannot be raised back) */
    struct rlimit lim = { 1024, 1024 };
    if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
        case_setup_fail("setrlimit: %s", strerror(errno));
    if (n < 0 || n > 1000 || nmaps < 1 || nmaps > 1000 || page > (long)sizeof first)
        case_setup_fail("bad arguments");
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, first, (size_t)page, 0) != page)
        case_setup_fail("read the executable: %s", strerror(errno));
    maps = calloc((size_t)nmaps, sizeof *maps);
    for (int i = 0; i < nmaps; i++)
        if ((maps[i] = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
            case_setup_fail("mmap: %s", strerror(errno));
    close(fd);
    int ready[2];
    if (pipe(ready) < 0)
        case_setup_fail("pipe: %s", strerror(errno));
    pid_t *kids = calloc((size_t)n + 1, sizeof *kids);
    for (int k = 0; k < n; k++) {
        kids[k] = fork();
        if (kids[k] < 0)
            case_setup_fail("fork: %s", strerror(errno));
        if (kids[k] == 0) {
            close(ready[0]);
            /* more mappings of its own, for their number (the inherited ones are checked) */
            int f = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
            for (int i = 0; i < nmaps / 2; i++)
                if (f < 0 || mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE, f, 0) == MAP_FAILED)
                    case_child_die("child", "mmap: %s", strerror(errno));
            close(f);
            if (write(ready[1], "r", 1) != 1)
                case_child_die("child", "write: %s", strerror(errno));
            close(ready[1]);
            case_wait_term();
            _exit(check() ? 1 : 0);
        }
    }
    close(ready[1]);
    for (int k = 0; k < n; k++) {
        char c;
        if (read(ready[0], &c, 1) != 1)
            case_setup_fail("a child died during set-up");
    }
    close(ready[0]);
    case_ready();
    case_wait_term();

    int bad = check();
    if (bad)
        case_fail("root: mapping %d does not hold the executable's first page", bad);
    for (int k = 0; k < n; k++)
        kill(kids[k], SIGTERM);
    for (int k = 0; k < n; k++) {
        char name[32];
        snprintf(name, sizeof name, "child %d", k);
        case_reap_child(name, kids[k], 10000);
    }
    case_finish();
}
