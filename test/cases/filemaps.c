// build: gcc -O2 -g -Wall -Wextra -o filemaps filemaps.c
/*
 * filemaps.c - a process with many file mappings of every usual sort (image format 1.10 packs
 * them: src/image/file-vma-pack.ts), each of which must come back exactly.
 *
 *   filemaps --out FILE [--maps N]
 *
 * Four files of 16 pages (FILE.f0..f3, each page filled from its file and page number) are
 * mapped N times in all (default 48), one to three pages at a time at page offsets 0-12, into
 * slots of a reserved region so that no two mappings touch: read-only, read-exec, private
 * read-write with the first byte of each page written (pages the image carries), and shared
 * read-write with the first byte of its first page written (the file itself changed), some
 * with MADV_RANDOM or MADV_SEQUENTIAL. Before SIGTERM it notes every mapping's line of
 * /proc/self/maps but the inode; after it, each mapping must hold what it held (its file's
 * bytes, or what the process wrote), show the same line, resolve through
 * /proc/self/map_files to its file's inode, and the shared writes must be in the files.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/stat.h>

#define FILES 4
#define FILE_PAGES 16
#define MAX_MAPS 200

static long page;
static struct map {
    char *at;
    int file, off, pages, kind, advice;
    char line[112];
} maps[MAX_MAPS];
static int nmaps;
static ino_t inos[FILES];
static int written[FILES]; /* page 13 of the file written through a shared mapping */
static char paths[FILES][PATH_MAX + 8];

static unsigned char byte_of(int file, int pg, long i)
{
    return (unsigned char)(file * 61 + pg * 7 + i * 13 + 1);
}

/* The line of /proc/self/maps that starts at p, without its inode and path (its device and
 * inode may differ on another host; the path is checked through map_files). */
static int maps_line(const char *p, char *out, size_t len)
{
    char want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)p);
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char buf[4096];
    int found = -1;
    while (fgets(buf, sizeof buf, f))
        if (!strncmp(buf, want, strlen(want))) {
            char range[64], perms[8], off[24];
            if (sscanf(buf, "%63s %7s %23s", range, perms, off) == 3) {
                snprintf(out, len, "%s %s %s", range, perms, off);
                found = 0;
            }
            break;
        }
    fclose(f);
    return found;
}

/* MADV_RANDOM or MADV_SEQUENTIAL from the mapping's VmFlags in /proc/self/smaps (0: neither,
 * -1: not found). */
static int advice_of(const char *p)
{
    char want[32], buf[4096];
    snprintf(want, sizeof want, "%lx-", (unsigned long)p);
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    int in = 0, advice = -1;
    while (fgets(buf, sizeof buf, f)) {
        if (!strncmp(buf, want, strlen(want)))
            in = 1;
        else if (in && !strncmp(buf, "VmFlags:", 8)) {
            advice = strstr(buf, " rr") ? MADV_RANDOM : strstr(buf, " sr") ? MADV_SEQUENTIAL : 0;
            break;
        }
    }
    fclose(f);
    return advice;
}

/* 0 if mapping m is as it was; else what differs. */
static const char *check(struct map *m, char *why, size_t len)
{
    for (int pg = 0; pg < m->pages; pg++)
        for (long i = 0; i < page; i++) {
            unsigned char want = byte_of(m->file, m->off + pg, i);
            /* written by the process (privately), or through the shared mapping of page 13,
             * which the file's private mappings not written see too */
            if (i == 0 && (m->kind == 2 || (m->off + pg == 13 && written[m->file])))
                want = (unsigned char)(0xa0 + m->file);
            if ((unsigned char)m->at[pg * page + i] != want) {
                snprintf(why, len, "page %d byte %ld is %u, not %u", pg, i, (unsigned char)m->at[pg * page + i], want);
                return why;
            }
        }
    char line[112], link[64];
    struct stat st;
    if (maps_line(m->at, line, sizeof line) < 0 || strcmp(line, m->line)) {
        snprintf(why, len, "its maps line is now \"%s\", was \"%s\"", line, m->line);
        return why;
    }
    if (advice_of(m->at) != m->advice) {
        snprintf(why, len, "its advice is now %d, was %d", advice_of(m->at), m->advice);
        return why;
    }
    snprintf(link, sizeof link, "/proc/self/map_files/%lx-%lx", (unsigned long)m->at, (unsigned long)(m->at + m->pages * page));
    if (stat(link, &st) < 0 || st.st_ino != inos[m->file]) {
        snprintf(why, len, "it maps another file");
        return why;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    const char *a = case_arg(argc, argv, "--maps");
    nmaps = a ? atoi(a) : 48;
    page = sysconf(_SC_PAGESIZE);
    if (nmaps < 1 || nmaps > MAX_MAPS)
        case_setup_fail("bad arguments");
    int fds[FILES];
    char *buf = malloc((size_t)(FILE_PAGES * page));
    for (int f = 0; f < FILES; f++) {
        snprintf(paths[f], sizeof paths[f], "%s.f%d", case_out, f);
        for (int pg = 0; pg < FILE_PAGES; pg++)
            for (long i = 0; i < page; i++)
                buf[pg * page + i] = (char)byte_of(f, pg, i);
        struct stat st;
        if ((fds[f] = open(paths[f], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
            write(fds[f], buf, (size_t)(FILE_PAGES * page)) != FILE_PAGES * page || fstat(fds[f], &st) < 0)
            case_setup_fail("%s: %s", paths[f], strerror(errno));
        inos[f] = st.st_ino;
    }
    /* slots of 4 pages: a mapping of 1-3 pages and a gap that stays the reservation's */
    char *region = mmap(NULL, (size_t)(nmaps * 4 * page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED)
        case_setup_fail("mmap: %s", strerror(errno));
    static const int prots[4] = { PROT_READ, PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE };
    for (int k = 0; k < nmaps; k++) {
        struct map *m = &maps[k];
        m->file = k % FILES;
        m->kind = (k / FILES) % 4; /* 0 r--p, 1 r-xp, 2 rw-p written, 3 rw-s written */
        m->off = (k * 5) % 13;
        m->pages = 1 + k % 3;
        m->advice = k % 5 == 1 ? MADV_RANDOM : k % 5 == 3 ? MADV_SEQUENTIAL : 0;
        /* a shared one writes its file's page 13 */
        if (m->kind == 3)
            m->off = 13;
        m->at = mmap(region + k * 4 * page, (size_t)(m->pages * page), prots[m->kind], (m->kind == 3 ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED, fds[m->file], m->off * page);
        if (m->at == MAP_FAILED)
            case_setup_fail("mmap %d: %s", k, strerror(errno));
        if (m->advice && madvise(m->at, (size_t)(m->pages * page), m->advice) < 0)
            case_setup_fail("madvise: %s", strerror(errno));
    }
    for (int k = 0; k < nmaps; k++) {
        struct map *m = &maps[k];
        if (m->kind == 2)
            for (int pg = 0; pg < m->pages; pg++)
                m->at[pg * page] = (char)(0xa0 + m->file);
        if (m->kind == 3) {
            m->at[0] = (char)(0xa0 + m->file);
            written[m->file] = 1;
        }
    }
    for (int f = 0; f < FILES; f++)
        close(fds[f]);
    for (int k = 0; k < nmaps; k++)
        if (maps_line(maps[k].at, maps[k].line, sizeof maps[k].line) < 0)
            case_setup_fail("mapping %d is not in /proc/self/maps", k);
    case_ready();
    case_wait_term();

    char why[352];
    for (int k = 0; k < nmaps; k++) {
        const char *w = check(&maps[k], why, sizeof why);
        if (w)
            case_fail("mapping %d (%s, file %d at page %d): %s", k, maps[k].line, maps[k].file, maps[k].off, w);
    }
    for (int f = 0; f < FILES; f++) {
        int fd = open(paths[f], O_RDONLY | O_CLOEXEC);
        unsigned char c = 0;
        if (fd < 0 || pread(fd, &c, 1, 13 * page) != 1 || c != (written[f] ? 0xa0 + f : byte_of(f, 13, 0)))
            case_fail("file %d: its page 13 starts with %u", f, c);
        if (fd >= 0)
            close(fd);
    }
    case_finish();
}
