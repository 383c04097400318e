/*
 * novdso.c - a process that unmapped or moved parts of its [vvar][vvar_vclock][vdso] group
 * gets back exactly that address space, and works.
 *
 *   novdso --out FILE --mode none|novvar|moved|split|xonly|anoncode [--trap-ign]
 *
 * none:   all three unmapped (as on a kernel booted with vdso=0);
 * novvar: [vvar] and [vvar_vclock] unmapped, [vdso] kept;
 * moved:  the whole group moved elsewhere with mremap (each part by the same distance), and the
 *         vdso's clock_gettime called at its new place before and after the restart;
 * split:  [vdso] alone moved, [vvar_vclock] unmapped, [vvar] kept;
 * xonly:  all three unmapped and every readable executable mapping made execute-only
 *         (PROT_EXEC): no `syscall` instruction a checkpoint may read is left, which refuses it
 *         (the process must run on untouched);
 * anoncode: as xonly, and one anonymous page of code (`syscall; ret`, read-execute) the
 *         checkpoint finds its `syscall` in; after the restart the page is there, the same.
 * A thread runs system calls all along (libc's cached vdso pointers are never used: they point
 * to where the vdso was). After SIGTERM (its handler runs through libc's restorer): the group's
 * parts must be exactly where they were (or absent), system calls, a signal raised, a thread
 * created and joined, and the old thread's progress must all work.
 * --trap-ign: SIGTRAP ignored (the checkpoint's injected calls then go through system-call stops
 * instead of a single step), still ignored at the end (a checkpoint that let it run on: a restart
 * loses an ignored SIGTRAP today, vdso or not).
 */
#include "case.h"

#include <elf.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static const char *const names[3] = {"[vvar]", "[vvar_vclock]", "[vdso]"};

/* start and end of each part in /proc/self/maps (0 0: absent); -1 when unreadable */
static int parts(unsigned long at[3][2])
{
    static char buf[1 << 16];
    memset(at, 0, 3 * sizeof at[0]);
    if (case_read_text("/proc/self/maps", buf, sizeof buf) <= 0)
        return -1;
    for (char *l = buf; *l;) {
        char *nl = strchr(l, '\n');
        if (!nl)
            break;
        *nl = 0;
        char *nm = strrchr(l, ' ');
        unsigned long s, e;
        for (int i = 0; i < 3; i++)
            if (nm && !strcmp(nm + 1, names[i]) && sscanf(l, "%lx-%lx", &s, &e) == 2)
                at[i][0] = s, at[i][1] = e;
        l = nl + 1;
    }
    return 0;
}

/* The offset of symbol name in the vdso image mapped at base (its dynamic symbols), 0: none. */
static unsigned long vdso_sym(unsigned long base, const char *name)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    unsigned long load = 0;
    const Elf64_Dyn *dyn = NULL;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !load)
            load = ph[i].p_vaddr - ph[i].p_offset;
        if (ph[i].p_type == PT_DYNAMIC)
            dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
    }
    const Elf64_Sym *sym = NULL;
    const char *str = NULL;
    const Elf32_Word *hash = NULL;
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            sym = (const Elf64_Sym *)(base + dyn->d_un.d_ptr - load);
        if (dyn->d_tag == DT_STRTAB)
            str = (const char *)(base + dyn->d_un.d_ptr - load);
        if (dyn->d_tag == DT_HASH)
            hash = (const Elf32_Word *)(base + dyn->d_un.d_ptr - load);
    }
    if (!sym || !str || !hash)
        return 0;
    for (Elf32_Word i = 0; i < hash[1]; i++)
        if (sym[i].st_shndx != SHN_UNDEF && !strcmp(str + sym[i].st_name, name))
            return sym[i].st_value - load;
    return 0;
}

static volatile long spins, usr1;
static volatile int stop;

static void *spinner(void *arg)
{
    (void)arg;
    while (!stop) {
        if (syscall(SYS_getpid) != getpid())
            return (void *)1;
        spins++;
        struct timespec ts = {0, 1000000};
        syscall(SYS_nanosleep, &ts, NULL);
    }
    return NULL;
}

static void *joiner(void *arg)
{
    return (void *)((long)arg + syscall(SYS_gettid) - syscall(SYS_gettid));
}

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (sig == SIGUSR1 && si->si_code == SI_TKILL)
        usr1++;
}

typedef int (*vgettime_t)(clockid_t, struct timespec *);

static long long ns(const struct timespec *t)
{
    return t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* The vdso's CLOCK_REALTIME between two system calls' readings. */
static void check_vdso_clock(vgettime_t f, const char *when)
{
    struct timespec a, v, b;
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &a);
    int r = f(CLOCK_REALTIME, &v);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &b);
    if (r != 0 || ns(&v) < ns(&a) || ns(&v) > ns(&b))
        case_fail("%s: the moved vdso's clock_gettime gave %d, %lld not within [%lld, %lld]", when, r, ns(&v), ns(&a), ns(&b));
}

static void move_part(unsigned long at[2], unsigned long to)
{
    unsigned long len = at[1] - at[0];
    if (syscall(SYS_mremap, at[0], len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) != (long)to)
        case_setup_fail("mremap 0x%lx -> 0x%lx: %s", at[0], to, strerror(errno));
}

/* Every readable executable mapping made execute-only. */
static void exec_only(void)
{
    static char buf[1 << 16];
    if (case_read_text("/proc/self/maps", buf, sizeof buf) <= 0)
        case_setup_fail("cannot read /proc/self/maps");
    for (char *l = buf; *l;) {
        char *nl = strchr(l, '\n');
        if (!nl)
            break;
        *nl = 0;
        unsigned long s, e;
        char perms[8];
        if (sscanf(l, "%lx-%lx %7s", &s, &e, perms) == 3 && perms[0] == 'r' && perms[2] == 'x' &&
            syscall(SYS_mprotect, s, e - s, PROT_EXEC) != 0)
            case_setup_fail("mprotect 0x%lx PROT_EXEC: %s", s, strerror(errno));
        l = nl + 1;
    }
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    const char *mode = case_arg(argc, argv, "--mode");
    int anoncode = mode && !strcmp(mode, "anoncode");
    int xonly = anoncode || (mode && !strcmp(mode, "xonly"));
    if (xonly)
        mode = "none";
    int none = mode && !strcmp(mode, "none"), novvar = mode && !strcmp(mode, "novvar");
    int moved = mode && !strcmp(mode, "moved"), split = mode && !strcmp(mode, "split");
    if (!none && !novvar && !moved && !split)
        case_die_usage(argv[0], "--mode none|novvar|moved|split|xonly|anoncode");
    case_install_sigterm(0);
    int trap_ign = case_has_flag(argc, argv, "--trap-ign");
    if (trap_ign && signal(SIGTRAP, SIG_IGN) == SIG_ERR)
        case_setup_fail("signal(SIGTRAP, SIG_IGN): %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        case_setup_fail("sigaction(SIGUSR1): %s", strerror(errno));

    unsigned long at[3][2], want[3][2];
    if (parts(at) < 0 || !at[0][1] || !at[2][1])
        case_setup_fail("no [vvar]/[vdso] to start with");
    memcpy(want, at, sizeof want);
    unsigned long off = vdso_sym(at[2][0], "__vdso_clock_gettime");
    if (moved && !off)
        case_setup_fail("no __vdso_clock_gettime in the vdso");
    /* a place 1 GiB below the group, free (MAP_FIXED_NOREPLACE checks it) */
    unsigned long away = (at[0][0] & ~0xfffffUL) - (1UL << 30);
    void *probe = mmap((void *)away, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (probe != (void *)away)
        case_setup_fail("0x%lx is not free", away);
    munmap(probe, 1 << 20);
    for (int i = 0; i < 3; i++) {
        int drop = none || (novvar && i < 2) || (split && i == 1);
        int move = moved || (split && i == 2);
        if (!at[i][1] || (!drop && !move))
            continue;
        if (drop) {
            if (syscall(SYS_munmap, at[i][0], at[i][1] - at[i][0]) != 0)
                case_setup_fail("munmap %s: %s", names[i], strerror(errno));
            want[i][0] = want[i][1] = 0;
        } else {
            unsigned long to = away + (at[i][0] - at[0][0]);
            move_part(at[i], to);
            want[i][0] = to, want[i][1] = to + (at[i][1] - at[i][0]);
        }
    }
    unsigned long now[3][2];
    if (parts(now) < 0 || memcmp(now, want, sizeof now))
        case_setup_fail("the group is not as planned after the unmaps and moves");
    if (xonly)
        exec_only();
    static const unsigned char code[] = {0x0f, 0x05, 0xc3}; /* syscall; ret */
    unsigned char *page = NULL;
    if (anoncode) {
        page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED)
            case_setup_fail("mmap: %s", strerror(errno));
        memcpy(page, code, sizeof code);
        if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0)
            case_setup_fail("mprotect: %s", strerror(errno));
    }
    vgettime_t vget = moved ? (vgettime_t)(want[2][0] + off) : NULL;
    if (vget)
        check_vdso_clock(vget, "before");
    pthread_t th;
    if (pthread_create(&th, NULL, spinner, NULL) != 0)
        case_setup_fail("pthread_create");
    while (spins < 3)
        syscall(SYS_sched_yield);
    if (case_failed)
        case_setup_fail("%s", case_fail_msg);
    case_ready();
    case_wait_term();

    /* after the restart */
    if (parts(now) < 0)
        case_fail("cannot read /proc/self/maps");
    for (int i = 0; i < 3 && !case_failed; i++)
        if (now[i][0] != want[i][0] || now[i][1] != want[i][1])
            case_fail("%s is at 0x%lx-0x%lx, was at 0x%lx-0x%lx (0 0: none)", names[i], now[i][0], now[i][1], want[i][0], want[i][1]);
    if (vget)
        check_vdso_clock(vget, "after");
    if (page && memcmp(page, code, sizeof code))
        case_fail("the anonymous code page changed");
    if (syscall(SYS_getpid) != getpid() || syscall(SYS_gettid) != getpid())
        case_fail("getpid/gettid disagree");
    int p[2];
    char c = 0;
    if (pipe(p) != 0 || write(p[1], "x", 1) != 1 || read(p[0], &c, 1) != 1 || c != 'x')
        case_fail("a pipe does not carry a byte");
    if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1) != 0 || usr1 != 1)
        case_fail("SIGUSR1 was not handled once (%ld)", usr1);
    long seen = spins;
    while (spins < seen + 3 && !case_failed)
        syscall(SYS_sched_yield);
    void *r;
    pthread_t th2;
    if (pthread_create(&th2, NULL, joiner, (void *)42L) != 0 || pthread_join(th2, &r) != 0 || r != (void *)42L)
        case_fail("a new thread did not run");
    struct sigaction old;
    if (trap_ign && (sigaction(SIGTRAP, NULL, &old) != 0 || old.sa_handler != SIG_IGN))
        case_fail("SIGTRAP is no longer ignored");
    stop = 1;
    if (pthread_join(th, &r) != 0 || r != NULL)
        case_fail("the spinning thread failed");
    case_finish();
}
