/*
 * xsame.c - every thread's own SSE registers come back, whether its XSAVE area equals other
 * threads' (the restore plan names an equal one instead of repeating it) or not.
 *
 *   xsame --out FILE [--threads N] [--children M]
 *
 * N threads (default 24, at most 256). Thread i loads xmm8-15 with the values of its group:
 * the first half of the threads in 3 groups (i % 3), so the threads of a group have equal XSAVE
 * areas (every vector register cleared first, the same code before), the others with values of
 * their own. Then it waits on a futex in the same asm block (no C code in between to touch the
 * registers; an interrupted wait waits again), and stores xmm8-15 right after it. After SIGTERM
 * the main thread wakes them all; each compares what it stored with what it loaded.
 * --children M: M child processes as well (forked first), child i with the values of group
 * i % 3 for i < M/2 (equal XSAVE areas across those tasks), of its own for the others; each waits
 * in pause() inside the asm block until its SIGTERM (sent by the main process after its own),
 * then exits 0 when its registers are its own.
 * PASS when every thread's and every child's registers are its own.
 */
#include "case.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_THREADS 256

/* in an asm block with operands [in] and [out] (16 doubles each): every vector register cleared,
 * xmm8-15 loaded from in (LOAD_REGS); xmm8-15 stored to out (STORE_REGS) */
#define LOAD_REGS                                                                                      \
    "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"        \
    "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\tpxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"        \
    "movupd 0(%[in]), %%xmm8\n\tmovupd 16(%[in]), %%xmm9\n\tmovupd 32(%[in]), %%xmm10\n\t"              \
    "movupd 48(%[in]), %%xmm11\n\tmovupd 64(%[in]), %%xmm12\n\tmovupd 80(%[in]), %%xmm13\n\t"           \
    "movupd 96(%[in]), %%xmm14\n\tmovupd 112(%[in]), %%xmm15\n\t"
#define STORE_REGS                                                                                     \
    "movupd %%xmm8, 0(%[out])\n\tmovupd %%xmm9, 16(%[out])\n\tmovupd %%xmm10, 32(%[out])\n\t"           \
    "movupd %%xmm11, 48(%[out])\n\tmovupd %%xmm12, 64(%[out])\n\tmovupd %%xmm13, 80(%[out])\n\t"        \
    "movupd %%xmm14, 96(%[out])\n\tmovupd %%xmm15, 112(%[out])\n\t"
#define VEC_CLOBBERS                                                                                   \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
        "xmm13", "xmm14", "xmm15"


static int go; /* the futex: 0 until SIGTERM */

struct worker {
    pthread_t th;
    int index, waiting, bad;
    double in[16], out[16];
};
static struct worker workers[MAX_THREADS];

/* xmm8-15 from in, FUTEX_WAIT on &go while it is 0, xmm8-15 to out; all other vector
 * registers cleared first, so equal inputs give equal XSAVE areas */
static void wait_with_regs(const double *in, double *out, int *ready)
{
    __atomic_store_n(ready, 1, __ATOMIC_RELEASE);
    __asm__ volatile(
        LOAD_REGS
        "1:\n\t"
        "cmpl $0, (%[f])\n\t"
        "jne 2f\n\t"
        "mov $202, %%eax\n\t" /* SYS_futex */
        "mov %[f], %%rdi\n\t"
        "xor %%esi, %%esi\n\t" /* FUTEX_WAIT */
        "xor %%edx, %%edx\n\t" /* while the word is 0 */
        "xor %%r10d, %%r10d\n\t" /* no timeout */
        "syscall\n\t"
        "jmp 1b\n\t"
        "2:\n\t"
        STORE_REGS
        :
        : [in] "r"(in), [out] "r"(out), [f] "r"(&go)
        : "rax", "rdi", "rsi", "rdx", "r10", "rcx", "r11", "memory", "cc", VEC_CLOBBERS);
}

static int nthreads;

/* a child's wait: xmm8-15 from in, pause() until case_term is set (SIGTERM's handler runs in
 * between: the kernel saves and restores the registers around it), xmm8-15 to out */
static void pause_with_regs(const double *in, double *out)
{
    __asm__ volatile(
        LOAD_REGS
        "1:\n\t"
        "cmpl $0, (%[f])\n\t"
        "jne 2f\n\t"
        "mov $34, %%eax\n\t" /* SYS_pause */
        "syscall\n\t"
        "jmp 1b\n\t"
        "2:\n\t"
        STORE_REGS
        :
        : [in] "r"(in), [out] "r"(out), [f] "r"(&case_term)
        : "rax", "rcx", "r11", "memory", "cc", VEC_CLOBBERS);
}

#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    /* a group's values, or the thread's own: exact in a double, different in every lane */
    int key = w->index < nthreads / 2 ? w->index % 3 : 1000 + w->index;
    for (int k = 0; k < 16; k++)
        w->in[k] = key * 64.0 + k + 0.5;
    wait_with_regs(w->in, w->out, &w->waiting);
    w->bad = memcmp(w->in, w->out, sizeof w->in) != 0;
    return NULL;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    const char *nt = case_arg(argc, argv, "--threads");
    nthreads = nt ? atoi(nt) : 24;
    if (nthreads < 2 || nthreads > MAX_THREADS)
        case_die_usage(argv[0], "--threads: 2 to 256");
    const char *nc = case_arg(argc, argv, "--children");
    int nchildren = nc ? atoi(nc) : 0;
    if (nchildren < 0 || nchildren > MAX_CHILDREN)
        case_die_usage(argv[0], "--children: 0 to 64");
    for (int i = 0; i < nchildren; i++) {
        pid_t c = fork();
        if (c < 0)
            case_setup_fail("fork: %s", strerror(errno));
        if (c == 0) {
            double in[16], out[16];
            int key = i < nchildren / 2 ? 100 + i % 3 : 2000 + i;
            for (int k = 0; k < 16; k++)
                in[k] = key * 64.0 + k + 0.25;
            pause_with_regs(in, out);
            _exit(memcmp(in, out, sizeof in) != 0);
        }
        children[i] = c;
    }
    /* SIGTERM for the main thread only: the workers are created with it blocked */
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    for (int i = 0; i < nthreads; i++) {
        workers[i].index = i;
        if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0)
            case_setup_fail("pthread_create: %s", strerror(errno));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < nthreads; i++) /* each in its wait (or about to enter it) */
        while (!__atomic_load_n(&workers[i].waiting, __ATOMIC_ACQUIRE))
            sched_yield();
    case_ready();
    case_wait_term();
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &go, 1 /* FUTEX_WAKE */, INT32_MAX, NULL, NULL, 0);
    int child_bad = -1;
    for (int i = 0; i < nchildren; i++) {
        int st;
        kill(children[i], SIGTERM);
        if (waitpid(children[i], &st, 0) != children[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            if (child_bad < 0)
                child_bad = i;
    }
    int bad = -1;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(workers[i].th, NULL);
        if (workers[i].bad && bad < 0)
            bad = i;
    }
    if (bad >= 0) {
        double *in = workers[bad].in, *out = workers[bad].out;
        int k = 0;
        while (k < 16 && in[k] == out[k])
            k++;
        case_fail("thread %d: xmm%d lane %d is %g, it loaded %g", bad + 1, 8 + k / 2, k % 2, out[k], in[k]);
    } else if (child_bad >= 0)
        case_fail("child %d: its registers were not its own after the wait", child_bad + 1);
    case_finish();
}
