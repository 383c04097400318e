// build: gcc -O2 -g -Wall -Wextra -o memory memory.c
/*
 * memory.c - memory contents and layout must survive checkpoint/restart.
 *
 *   memory --out FILE
 *
 * State set up before ready:
 *   - 64 MiB anonymous private mapping, random data (hashed);
 *   - 200 small malloc buffers (1-4 KiB, brk heap) + one 1 MiB buffer
 *     (mmap'd by malloc), random data (hashed); the program break;
 *   - a 64 KiB random array on main's stack (hashed);
 *   - 8 pages filled with a pattern, then mprotect(PROT_READ);
 *   - 3 pages filled with a pattern, the middle one then PROT_NONE;
 *   - FILE.map (16 KiB, known pattern) mapped MAP_PRIVATE read/write,
 *     page 1 fully and page 3 partly modified in memory, pages 0 and 2
 *     never touched;
 *   - per page of the areas above: the perms in /proc/self/maps (and the
 *     path for the file mapping).
 * After SIGTERM: the same fds are open and no mapping is registered with a
 * userfaultfd (the restorer's); all of that is re-checked, the PROT_NONE page is made
 * readable and checked, FILE.map on disk must be unchanged, then malloc
 * is exercised (1000 blocks up to 64 KiB + one 100 MiB block).
 * FILE.map is removed at the end.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#define BIG_SIZE (64UL << 20)
#define NSMALL 200
#define MEDIUM_SIZE (1UL << 20)
#define STACK_SIZE (64 * 1024)
#define RO_PAGES 8
#define MAP_PAGES 4

static size_t pg;

/* ---- /proc/self/maps ---- */

struct mapent {
    uintptr_t start, end;
    char perms[8];
    char path[256];
};

static struct mapent maps[4096];
static size_t nmaps;
static char mapsbuf[1 << 20];

static int read_maps(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, mapsbuf + len, sizeof mapsbuf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof mapsbuf - 1)
            break;
    }
    close(fd);
    mapsbuf[len] = 0;
    nmaps = 0;
    char *line = mapsbuf;
    while (*line && nmaps < sizeof maps / sizeof maps[0]) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        struct mapent *m = &maps[nmaps];
        unsigned long s, e;
        int off = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, m->perms, &off) >= 3) {
            m->start = s;
            m->end = e;
            m->path[0] = 0;
            if (off > 0)
                snprintf(m->path, sizeof m->path, "%s", line + off);
            nmaps++;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return 0;
}

static const struct mapent *find_map(uintptr_t addr)
{
    for (size_t i = 0; i < nmaps; i++)
        if (maps[i].start <= addr && addr < maps[i].end)
            return &maps[i];
    return NULL;
}

/* Address ranges whose per-page perms are recorded and re-checked. */
struct segment {
    const char *name;
    uintptr_t addr;
    size_t pages;
    const char *perms; /* expected for every page */
    int check_path;    /* also compare the mapped file path */
    char before[96];   /* "start-end perms" of the covering line before ready */
    char path[256];
};

static struct segment segs[6];
static size_t nsegs;

static void add_segment(const char *name, void *addr, size_t pages, const char *perms,
                        int check_path)
{
    struct segment *s = &segs[nsegs++];
    s->name = name;
    s->addr = (uintptr_t)addr;
    s->pages = pages;
    s->perms = perms;
    s->check_path = check_path;
}

static void record_segments(void)
{
    if (read_maps() != 0)
        case_setup_fail("cannot read /proc/self/maps: %s", strerror(errno));
    for (size_t i = 0; i < nsegs; i++) {
        struct segment *s = &segs[i];
        for (size_t p = 0; p < s->pages; p++) {
            uintptr_t a = s->addr + p * pg;
            const struct mapent *m = find_map(a);
            if (!m)
                case_setup_fail("%s page %#lx not in /proc/self/maps", s->name,
                                (unsigned long)a);
            if (strcmp(m->perms, s->perms) != 0)
                case_setup_fail("%s page %#lx has perms %s, expected %s", s->name,
                                (unsigned long)a, m->perms, s->perms);
            if (p == 0) {
                snprintf(s->before, sizeof s->before, "%lx-%lx %s", (unsigned long)m->start,
                         (unsigned long)m->end, m->perms);
                snprintf(s->path, sizeof s->path, "%s", m->path);
            } else if (s->check_path && strcmp(m->path, s->path) != 0) {
                case_setup_fail("%s page %#lx maps '%s', page 0 maps '%s'", s->name,
                                (unsigned long)a, m->path, s->path);
            }
        }
    }
}

static void verify_segments(void)
{
    if (read_maps() != 0) {
        case_fail("cannot read /proc/self/maps: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < nsegs; i++) {
        const struct segment *s = &segs[i];
        for (size_t p = 0; p < s->pages; p++) {
            uintptr_t a = s->addr + p * pg;
            const struct mapent *m = find_map(a);
            if (!m) {
                case_fail("%s page %#lx no longer mapped (was in %s)", s->name,
                          (unsigned long)a, s->before);
                return;
            }
            if (strcmp(m->perms, s->perms) != 0) {
                case_fail("%s page %#lx: perms now %s in %lx-%lx, was %s (line %s)", s->name,
                          (unsigned long)a, m->perms, (unsigned long)m->start,
                          (unsigned long)m->end, s->perms, s->before);
                return;
            }
            if (s->check_path && strcmp(m->path, s->path) != 0) {
                case_fail("%s page %#lx: maps line now names '%s', was '%s'", s->name,
                          (unsigned long)a, m->path, s->path);
                return;
            }
        }
    }
}

/* ---- patterns ---- */

static unsigned char ro_byte(size_t i) { return (unsigned char)((i * 7 + 3) ^ (i >> 9)); }
static unsigned char gap_byte(size_t i) { return (unsigned char)((i * 13 + 11) ^ (i >> 10)); }
static unsigned char file_byte(size_t i)
{
    return (unsigned char)(i ^ (i >> 8) ^ ((i >> 12) * 37) ^ 0x5a);
}
/* Contents of the file mapping in memory after the program's writes. */
#define MOD3_START 1000
#define MOD3_LEN 100
static unsigned char mem_byte(size_t i)
{
    size_t page = i / pg, off = i % pg;
    if (page == 1)
        return (unsigned char)(file_byte(i) ^ 0xff ^ (i >> 7));
    if (page == 3 && off >= MOD3_START && off < MOD3_START + MOD3_LEN)
        return (unsigned char)~file_byte(i);
    return file_byte(i);
}

/* Keep the compiler from reasoning about the stack array. */
__attribute__((noinline)) static uint64_t hash_noinline(const void *p, size_t n)
{
    return case_hash(p, n);
}

static unsigned char *small[NSMALL];
static size_t small_len[NSMALL];
static uint64_t small_hash[NSMALL];

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    case_seed();
    pg = (size_t)sysconf(_SC_PAGESIZE);

    char mappath[PATH_MAX + 16];
    snprintf(mappath, sizeof mappath, "%s.map", case_out);

    /* 64 MiB anonymous private mapping */
    unsigned char *big = mmap(NULL, BIG_SIZE, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big == MAP_FAILED)
        case_setup_fail("mmap 64 MiB: %s", strerror(errno));
    case_fill(big, BIG_SIZE);
    uint64_t big_hash = case_hash(big, BIG_SIZE);

    /* heap */
    for (int i = 0; i < NSMALL; i++) {
        small_len[i] = 1024 + (size_t)(case_rand() % 3073);
        small[i] = malloc(small_len[i]);
        if (!small[i])
            case_setup_fail("malloc(%zu) failed", small_len[i]);
        case_fill(small[i], small_len[i]);
        small_hash[i] = case_hash(small[i], small_len[i]);
    }
    unsigned char *medium = malloc(MEDIUM_SIZE);
    if (!medium)
        case_setup_fail("malloc(1 MiB) failed");
    case_fill(medium, MEDIUM_SIZE);
    uint64_t medium_hash = case_hash(medium, MEDIUM_SIZE);

    /* stack */
    unsigned char stackbuf[STACK_SIZE];
    case_fill(stackbuf, sizeof stackbuf);
    uint64_t stack_hash = hash_noinline(stackbuf, sizeof stackbuf);

    /* read-only area */
    unsigned char *ro = mmap(NULL, RO_PAGES * pg, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ro == MAP_FAILED)
        case_setup_fail("mmap ro: %s", strerror(errno));
    for (size_t i = 0; i < RO_PAGES * pg; i++)
        ro[i] = ro_byte(i);
    if (mprotect(ro, RO_PAGES * pg, PROT_READ) != 0)
        case_setup_fail("mprotect ro: %s", strerror(errno));

    /* 3 pages, the middle one PROT_NONE (with data written before) */
    unsigned char *gap = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (gap == MAP_FAILED)
        case_setup_fail("mmap gap: %s", strerror(errno));
    for (size_t i = 0; i < 3 * pg; i++)
        gap[i] = gap_byte(i);
    if (mprotect(gap + pg, pg, PROT_NONE) != 0)
        case_setup_fail("mprotect gap: %s", strerror(errno));

    /* private file mapping, two of four pages modified in memory */
    size_t map_size = MAP_PAGES * pg;
    unsigned char *filebuf = malloc(map_size);
    if (!filebuf)
        case_setup_fail("malloc filebuf");
    for (size_t i = 0; i < map_size; i++)
        filebuf[i] = file_byte(i);
    int mfd = open(mappath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (mfd < 0)
        case_setup_fail("create %s: %s", mappath, strerror(errno));
    if (write(mfd, filebuf, map_size) != (ssize_t)map_size)
        case_setup_fail("write %s: %s", mappath, strerror(errno));
    fsync(mfd);
    unsigned char *fmap = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
    if (fmap == MAP_FAILED)
        case_setup_fail("mmap %s: %s", mappath, strerror(errno));
    close(mfd);
    for (size_t i = pg; i < 2 * pg; i++)
        fmap[i] = mem_byte(i);
    for (size_t i = 3 * pg + MOD3_START; i < 3 * pg + MOD3_START + MOD3_LEN; i++)
        fmap[i] = mem_byte(i);

    add_segment("read-only area", ro, RO_PAGES, "r--p", 0);
    add_segment("gap area page 0", gap, 1, "rw-p", 0);
    add_segment("gap area page 1 (PROT_NONE)", gap + pg, 1, "---p", 0);
    add_segment("gap area page 2", gap + 2 * pg, 1, "rw-p", 0);
    add_segment("file mapping", fmap, MAP_PAGES, "rw-p", 1);
    add_segment("64 MiB area", big, BIG_SIZE / pg, "rw-p", 0);
    record_segments();
    static char fds_before[4096], fds_after[4096];
    case_fd_set(fds_before, sizeof fds_before);
    uintptr_t brk_before = (uintptr_t)syscall(SYS_brk, 0);

    case_ready();
    case_wait_term();

    /* ---- verification ---- */
    verify_segments();
    if (case_failed) { /* layout changed: reading the areas might fault */
        unlink(mappath);
        case_finish();
    }

    uintptr_t brk_after = (uintptr_t)syscall(SYS_brk, 0);
    if (brk_after != brk_before)
        case_fail("program break is %#lx, was %#lx", (unsigned long)brk_after,
                  (unsigned long)brk_before);

    /* nothing of the restorer left: no extra fd, no mapping still registered with a
     * userfaultfd (the 64 MiB area is filled through one) */
    case_fd_set(fds_after, sizeof fds_after);
    if (strcmp(fds_before, fds_after))
        case_fail("open fds are %s, were %s", fds_after, fds_before);
    unsigned long uf;
    if (case_no_userfault(&uf) < 0)
        case_fail("mapping at %#lx is still registered with a userfaultfd", uf);

    uint64_t h = case_hash(big, BIG_SIZE);
    if (h != big_hash)
        case_fail("64 MiB area hash %016llx != %016llx", (unsigned long long)h,
                  (unsigned long long)big_hash);

    for (int i = 0; i < NSMALL; i++) {
        h = case_hash(small[i], small_len[i]);
        if (h != small_hash[i]) {
            case_fail("heap buffer %d (%zu bytes at %p) hash mismatch", i, small_len[i],
                      (void *)small[i]);
            break;
        }
    }
    h = case_hash(medium, MEDIUM_SIZE);
    if (h != medium_hash)
        case_fail("1 MiB heap buffer at %p hash mismatch", (void *)medium);

    h = hash_noinline(stackbuf, sizeof stackbuf);
    if (h != stack_hash)
        case_fail("64 KiB stack array at %p hash mismatch", (void *)stackbuf);

    for (size_t i = 0; i < RO_PAGES * pg; i++)
        if (ro[i] != ro_byte(i)) {
            case_fail("read-only area byte %zu is %#x, expected %#x", i, ro[i], ro_byte(i));
            break;
        }

    if (mprotect(gap + pg, pg, PROT_READ) != 0) {
        case_fail("mprotect(PROT_READ) of the PROT_NONE page %p: %s", (void *)(gap + pg),
                  strerror(errno));
    } else {
        for (size_t i = 0; i < 3 * pg; i++)
            if (gap[i] != gap_byte(i)) {
                case_fail("gap area byte %zu (page %zu) is %#x, expected %#x", i, i / pg,
                          gap[i], gap_byte(i));
                break;
            }
    }

    for (size_t i = 0; i < map_size; i++)
        if (fmap[i] != mem_byte(i)) {
            case_fail("file mapping byte %zu (page %zu, %s) is %#x, expected %#x", i, i / pg,
                      (i / pg == 1 || i / pg == 3) ? "modified page" : "untouched page",
                      fmap[i], mem_byte(i));
            break;
        }

    mfd = open(mappath, O_RDONLY | O_CLOEXEC);
    if (mfd < 0) {
        case_fail("cannot reopen %s: %s", mappath, strerror(errno));
    } else {
        struct stat st;
        if (fstat(mfd, &st) == 0 && (size_t)st.st_size != map_size)
            case_fail("%s size is %lld, expected %zu", mappath, (long long)st.st_size, map_size);
        memset(filebuf, 0, map_size);
        ssize_t n = pread(mfd, filebuf, map_size, 0);
        if (n != (ssize_t)map_size) {
            case_fail("reading %s returned %zd", mappath, n);
        } else {
            for (size_t i = 0; i < map_size; i++)
                if (filebuf[i] != file_byte(i)) {
                    case_fail("%s on disk changed: byte %zu is %#x, expected %#x", mappath, i,
                              filebuf[i], file_byte(i));
                    break;
                }
        }
        close(mfd);
    }

    /* malloc must still work */
    static void *blocks[1000];
    for (int i = 0; i < 1000; i++) {
        size_t n = 1 + (size_t)(case_rand() % 65536);
        blocks[i] = malloc(n);
        if (!blocks[i]) {
            case_fail("malloc(%zu) returned NULL (block %d)", n, i);
            break;
        }
        memset(blocks[i], i & 0xff, n);
    }
    void *huge = malloc(100UL << 20);
    if (!huge)
        case_fail("malloc(100 MiB) returned NULL");
    else
        memset(huge, 0x77, 100UL << 20);
    free(huge);
    for (int i = 0; i < 1000; i++)
        free(blocks[i]);
    for (int i = 0; i < NSMALL; i++)
        free(small[i]);
    free(medium);
    free(filebuf);

    unlink(mappath);
    case_finish();
}
