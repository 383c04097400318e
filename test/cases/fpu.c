// build: gcc -O2 -g -Wall -Wextra -o fpu fpu.c
/*
 * fpu.c - x87 / SSE / AVX register state must survive checkpoint/restart.
 *
 *   fpu --out FILE [--threads N]
 *
 * One deterministic "pass" (a few ms) computes with x87 long doubles,
 * SSE2 __m128d and, if the CPU has it, AVX __m256d.  Parts of each pass
 * run in inline asm loops that keep all their values (including constants)
 * in xmm8-15 / ymm8-15 / the x87 stack for thousands of iterations, and the
 * compiler-generated loop calls clock_gettime(CLOCK_MONOTONIC) (vdso) every
 * few iterations.  The first pass runs before ready; after that passes run
 * until SIGTERM and each must be bit-identical to the first.  Also the
 * MXCSR control bits and the x87 control word must be unchanged.
 * PASS if every pass after ready (at least 2) matched the first.
 * --threads N: N more threads run passes of their own all along, each compared with its own
 * first pass (every thread's xstate comes back as its own); after SIGTERM each must complete
 * two more passes.
 */
#include "case.h"

#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#define C_ITERS 24000
#define SSE_ASM_ITERS 80000
#define X87_ASM_ITERS 60000
#define AVX_ASM_ITERS 80000

struct result {
    unsigned char x87_c[4][10];   /* long doubles from the C loop */
    double sse_c[8][2];           /* __m128d accumulators from the C loop */
    unsigned char x87_asm[5][10]; /* x87 stack after the asm loop */
    double sse_asm[8][2];         /* xmm8-15 after the asm loop */
    double avx_asm[8][4];         /* ymm8-15 after the asm loop */
    double avx_c[2][4];
};

static const char *const part_names[] = {"x87 C loop", "SSE C loop", "x87 asm loop",
                                         "SSE asm loop (xmm8-15)", "AVX asm loop (ymm8-15)",
                                         "AVX C loop"};

static volatile long sink;
static int have_avx;

static void put_ld(unsigned char dst[10], long double v)
{
    memcpy(dst, &v, 10);
}

static inline long double x87_sqrt(long double x)
{
    __asm__("fsqrt" : "+t"(x));
    return x;
}

static void tick(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sink += ts.tv_nsec;
}

/* Compiler-generated x87 + SSE2 arithmetic, with vdso calls mixed in. */
static void c_loop(struct result *r)
{
    long double a = 1.25L, b = 0.5L, c = 3.0L, d = 0.0L;
    const __m128d k1 = _mm_set_pd(1.0000001, 1.00000003);
    const __m128d k2 = _mm_set_pd(0.9999999, 1.0000002);
    const __m128d k3 = _mm_set1_pd(3.0);
    const __m128d k5 = _mm_set_pd(5.0, -2.5);
    const __m128d k7 = _mm_set_pd(7.0, 11.0);
    const __m128d k9 = _mm_set_pd(1e-3, -3e-4);
    __m128d v0 = _mm_set_pd(0.1, 0.2), v1 = _mm_set_pd(1.5, -1.5), v2 = _mm_set_pd(3.0, 4.0);
    __m128d v3 = _mm_set_pd(1.0 / 3.0, 2.0 / 3.0);
    __m128d w0 = _mm_set_pd(1.0, 2.0), w1 = _mm_set_pd(-1.0, 0.5), w2 = _mm_set_pd(0.0, 0.0);
    __m128d w3 = _mm_set_pd(1.0, 1.0);

    for (int i = 0; i < C_ITERS; i++) {
        long double li = (long double)i + 0.5L;
        a = a * 1.0000000001L + x87_sqrt(li) / 3.0L;
        b = b + a / (b + 7.0L);
        c = c * 0.9999999L + 1.0L / (a + 1.0L);
        d = d + ((long double)(double)a - a); /* rounding error of a to double */

        __m128d di = _mm_set_pd((double)i + 0.25, (double)i * 0.75 + 1.0);
        __m128d sq = _mm_sqrt_pd(di);
        v0 = _mm_add_pd(_mm_mul_pd(v0, k1), _mm_div_pd(sq, k3));
        w0 = _mm_add_pd(w0, _mm_div_pd(v0, _mm_add_pd(w0, k7)));
        v1 = _mm_sub_pd(_mm_mul_pd(v1, k2), _mm_div_pd(k5, _mm_add_pd(sq, k7)));
        w1 = _mm_add_pd(w1, _mm_mul_pd(v1, k9));
        v2 = _mm_add_pd(v2, _mm_set1_pd((double)b * 1e-3)); /* x87 -> double */
        w2 = _mm_add_pd(w2, _mm_cvtps_pd(_mm_cvtpd_ps(v0))); /* double -> float -> double */
        v3 = _mm_div_pd(_mm_add_pd(v3, k7), _mm_add_pd(_mm_sqrt_pd(_mm_mul_pd(v3, v3)), k3));
        w3 = _mm_mul_pd(w3, _mm_add_pd(k2, _mm_mul_pd(v3, _mm_set1_pd(1e-9))));
        if ((i & 1) == 0)
            tick();
    }
    put_ld(r->x87_c[0], a);
    put_ld(r->x87_c[1], b);
    put_ld(r->x87_c[2], c);
    put_ld(r->x87_c[3], d);
    _mm_storeu_pd(r->sse_c[0], v0);
    _mm_storeu_pd(r->sse_c[1], w0);
    _mm_storeu_pd(r->sse_c[2], v1);
    _mm_storeu_pd(r->sse_c[3], w1);
    _mm_storeu_pd(r->sse_c[4], v2);
    _mm_storeu_pd(r->sse_c[5], w2);
    _mm_storeu_pd(r->sse_c[6], v3);
    _mm_storeu_pd(r->sse_c[7], w3);
}

/* xmm8..xmm15 hold all state (x11, x12, x15 are loop constants). */
static void sse_asm(double st[8][2])
{
    long n = SSE_ASM_ITERS;
    __asm__ volatile(
        "movupd   0(%[s]), %%xmm8\n\t"
        "movupd  16(%[s]), %%xmm9\n\t"
        "movupd  32(%[s]), %%xmm10\n\t"
        "movupd  48(%[s]), %%xmm11\n\t"
        "movupd  64(%[s]), %%xmm12\n\t"
        "movupd  80(%[s]), %%xmm13\n\t"
        "movupd  96(%[s]), %%xmm14\n\t"
        "movupd 112(%[s]), %%xmm15\n\t"
        "1:\n\t"
        "movapd %%xmm9, %%xmm0\n\t"
        "sqrtpd %%xmm0, %%xmm0\n\t"   /* t = sqrt(x9) */
        "addpd  %%xmm0, %%xmm8\n\t"   /* x8 += t */
        "addpd  %%xmm11, %%xmm9\n\t"  /* x9 += x11 */
        "movapd %%xmm8, %%xmm1\n\t"
        "divpd  %%xmm12, %%xmm1\n\t"  /* t = x8 / x12 */
        "addpd  %%xmm1, %%xmm13\n\t"  /* x13 += t */
        "mulpd  %%xmm15, %%xmm14\n\t" /* x14 *= x15 */
        "addpd  %%xmm14, %%xmm10\n\t" /* x10 += x14 */
        "movapd %%xmm10, %%xmm0\n\t"
        "divpd  %%xmm13, %%xmm0\n\t"  /* t = x10 / x13 */
        "subpd  %%xmm0, %%xmm8\n\t"   /* x8 -= t */
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "movupd %%xmm8,    0(%[s])\n\t"
        "movupd %%xmm9,   16(%[s])\n\t"
        "movupd %%xmm10,  32(%[s])\n\t"
        "movupd %%xmm11,  48(%[s])\n\t"
        "movupd %%xmm12,  64(%[s])\n\t"
        "movupd %%xmm13,  80(%[s])\n\t"
        "movupd %%xmm14,  96(%[s])\n\t"
        "movupd %%xmm15, 112(%[s])\n\t"
        : [n] "+r"(n)
        : [s] "r"(st)
        : "xmm0", "xmm1", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
          "xmm15", "memory", "cc");
}

/* Five values live on the x87 stack for the whole loop (c and k constant). */
static void x87_asm(long double v[5])
{
    long n = X87_ASM_ITERS;
    __asm__ volatile(
        "fldt 64(%[v])\n\t" /* k */
        "fldt 48(%[v])\n\t" /* d */
        "fldt 32(%[v])\n\t" /* c */
        "fldt 16(%[v])\n\t" /* b */
        "fldt  0(%[v])\n\t" /* a: st0=a st1=b st2=c st3=d st4=k */
        "1:\n\t"
        "fld %%st(0)\n\t"
        "fsqrt\n\t"                 /* t = sqrt(a) */
        "faddp %%st, %%st(2)\n\t"   /* b += t */
        "fadd %%st(2), %%st\n\t"    /* a += c */
        "fld %%st(1)\n\t"
        "fdiv %%st(1), %%st\n\t"    /* t = b / a */
        "faddp %%st, %%st(4)\n\t"   /* d += t */
        "fxch %%st(3)\n\t"
        "fmul %%st(4), %%st\n\t"    /* d *= k */
        "fxch %%st(3)\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "fstpt  0(%[v])\n\t"
        "fstpt 16(%[v])\n\t"
        "fstpt 32(%[v])\n\t"
        "fstpt 48(%[v])\n\t"
        "fstpt 64(%[v])\n\t"
        : [n] "+r"(n)
        : [v] "r"(v)
        : "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "memory", "cc");
}

/* Same as sse_asm but on full ymm registers; ends with vzeroupper. */
__attribute__((target("avx"))) static void avx_part(struct result *r)
{
    double st[8][4];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            st[i][j] = 0.25 + i * 1.5 + j * 0.125;
    for (int j = 0; j < 4; j++) {
        st[3][j] = 0.5 + j * 0.25;          /* increment */
        st[4][j] = 3.0 + j;                 /* divisor */
        st[5][j] = 1.0 + j;                 /* > 0 */
        st[7][j] = 1.0 + (j + 1) * 1e-7;    /* multiplier */
    }
    long n = AVX_ASM_ITERS;
    __asm__ volatile(
        "vmovupd   0(%[s]), %%ymm8\n\t"
        "vmovupd  32(%[s]), %%ymm9\n\t"
        "vmovupd  64(%[s]), %%ymm10\n\t"
        "vmovupd  96(%[s]), %%ymm11\n\t"
        "vmovupd 128(%[s]), %%ymm12\n\t"
        "vmovupd 160(%[s]), %%ymm13\n\t"
        "vmovupd 192(%[s]), %%ymm14\n\t"
        "vmovupd 224(%[s]), %%ymm15\n\t"
        "1:\n\t"
        "vsqrtpd %%ymm9, %%ymm0\n\t"
        "vaddpd  %%ymm0, %%ymm8, %%ymm8\n\t"
        "vaddpd  %%ymm11, %%ymm9, %%ymm9\n\t"
        "vdivpd  %%ymm12, %%ymm8, %%ymm1\n\t"
        "vaddpd  %%ymm1, %%ymm13, %%ymm13\n\t"
        "vmulpd  %%ymm15, %%ymm14, %%ymm14\n\t"
        "vaddpd  %%ymm14, %%ymm10, %%ymm10\n\t"
        "vdivpd  %%ymm13, %%ymm10, %%ymm0\n\t"
        "vsubpd  %%ymm0, %%ymm8, %%ymm8\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        "vmovupd %%ymm8,    0(%[s])\n\t"
        "vmovupd %%ymm9,   32(%[s])\n\t"
        "vmovupd %%ymm10,  64(%[s])\n\t"
        "vmovupd %%ymm11,  96(%[s])\n\t"
        "vmovupd %%ymm12, 128(%[s])\n\t"
        "vmovupd %%ymm13, 160(%[s])\n\t"
        "vmovupd %%ymm14, 192(%[s])\n\t"
        "vmovupd %%ymm15, 224(%[s])\n\t"
        "vzeroupper\n\t"
        : [n] "+r"(n)
        : [s] "r"(st)
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
          "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
    memcpy(r->avx_asm, st, sizeof st);

    /* a little compiler-generated AVX too */
    __m256d x = _mm256_set_pd(1.0, 2.0, 3.0, 4.0), y = _mm256_set1_pd(0.5);
    const __m256d inc = _mm256_set_pd(0.1, 0.2, 0.3, 0.7);
    for (int i = 0; i < 2000; i++) {
        x = _mm256_add_pd(x, _mm256_div_pd(_mm256_sqrt_pd(_mm256_add_pd(y, inc)), x));
        y = _mm256_add_pd(y, _mm256_mul_pd(x, _mm256_set1_pd(1e-4)));
        if ((i & 63) == 0)
            tick();
    }
    _mm256_storeu_pd(r->avx_c[0], x);
    _mm256_storeu_pd(r->avx_c[1], y);
}

static void run_pass(struct result *r)
{
    memset(r, 0, sizeof *r);
    c_loop(r);

    long double xv[5] = {1.5L, 2.0L, 0.5L, 0.25L, 1.00000001L};
    x87_asm(xv);
    for (int i = 0; i < 5; i++)
        put_ld(r->x87_asm[i], xv[i]);

    double st[8][2];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 2; j++)
            st[i][j] = 0.5 + i * 0.75 + j * 0.0625;
    for (int j = 0; j < 2; j++) {
        st[3][j] = 0.25 + j * 0.5;       /* increment */
        st[4][j] = 3.0 + j * 4.0;        /* divisor */
        st[5][j] = 2.0 + j;              /* > 0 */
        st[7][j] = 1.0 + (j + 1) * 3e-7; /* multiplier */
    }
    sse_asm(st);
    memcpy(r->sse_asm, st, sizeof st);

    if (have_avx)
        avx_part(r);
}

/* Index of the first differing part, or -1. */
static int diff_part(const struct result *a, const struct result *b)
{
    if (memcmp(a->x87_c, b->x87_c, sizeof a->x87_c))
        return 0;
    if (memcmp(a->sse_c, b->sse_c, sizeof a->sse_c))
        return 1;
    if (memcmp(a->x87_asm, b->x87_asm, sizeof a->x87_asm))
        return 2;
    if (memcmp(a->sse_asm, b->sse_asm, sizeof a->sse_asm))
        return 3;
    if (memcmp(a->avx_asm, b->avx_asm, sizeof a->avx_asm))
        return 4;
    if (memcmp(a->avx_c, b->avx_c, sizeof a->avx_c))
        return 5;
    return -1;
}

static unsigned short get_fpucw(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}

static struct result first, cur;

#define MAX_WORKERS 64
struct worker {
    pthread_t th;
    struct result first, cur;
    volatile unsigned long passes, bad;
    volatile int first_bad_part;
};
static struct worker workers[MAX_WORKERS];
static volatile int workers_stop;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    run_pass(&w->first);
    __atomic_store_n(&w->passes, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&workers_stop, __ATOMIC_ACQUIRE)) {
        run_pass(&w->cur);
        int d = diff_part(&w->first, &w->cur);
        if (d >= 0 && w->bad++ == 0)
            w->first_bad_part = d;
        __atomic_add_fetch(&w->passes, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    __builtin_cpu_init();
    have_avx = __builtin_cpu_supports("avx");

    unsigned mxcsr0 = _mm_getcsr() & ~0x3fu; /* ignore sticky exception flags */
    unsigned short cw0 = get_fpucw();

    run_pass(&first);
    if (diff_part(&first, &first) != -1)
        case_setup_fail("result compare is broken");
    const char *nt = case_arg(argc, argv, "--threads");
    int nworkers = nt ? atoi(nt) : 0;
    if (nworkers < 0 || nworkers > MAX_WORKERS)
        case_setup_fail("--threads: 0 to %d", MAX_WORKERS);
    for (int i = 0; i < nworkers; i++)
        if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0)
            case_setup_fail("pthread_create failed");
    for (int i = 0; i < nworkers; i++) /* each has its first pass */
        while (__atomic_load_n(&workers[i].passes, __ATOMIC_ACQUIRE) < 1) sched_yield();

    case_ready();

    unsigned long passes = 0, bad = 0, first_bad = 0;
    int first_bad_part = -1;
    /* Passes run until SIGTERM, and at least 2 (not a timing check: the pass
     * in which SIGTERM arrives is always completed and compared). */
    while (!case_term || passes < 2) {
        run_pass(&cur);
        passes++;
        int d = diff_part(&first, &cur);
        if (d >= 0) {
            if (bad++ == 0) {
                first_bad = passes;
                first_bad_part = d;
            }
        }
    }

    /* every worker completes two more passes after SIGTERM (after the restart) */
    for (int i = 0; i < nworkers; i++) {
        unsigned long seen = __atomic_load_n(&workers[i].passes, __ATOMIC_ACQUIRE);
        while (__atomic_load_n(&workers[i].passes, __ATOMIC_ACQUIRE) < seen + 2) sched_yield();
    }
    __atomic_store_n(&workers_stop, 1, __ATOMIC_RELEASE);
    int wbad = -1;
    for (int i = 0; i < nworkers; i++) {
        pthread_join(workers[i].th, NULL);
        if (workers[i].bad && wbad < 0) wbad = i;
    }

    unsigned mxcsr = _mm_getcsr() & ~0x3fu;
    unsigned short cw = get_fpucw();
    if (wbad >= 0)
        case_fail("thread %d: %lu of %lu passes differed from its first, in %s", wbad + 1, workers[wbad].bad,
                  workers[wbad].passes, part_names[workers[wbad].first_bad_part]);
    else if (bad)
        case_fail("%lu of %lu passes differed from the first; first at pass %lu in %s", bad,
                  passes, first_bad, part_names[first_bad_part]);
    else if (mxcsr != mxcsr0)
        case_fail("MXCSR control bits changed: %#x, was %#x", mxcsr, mxcsr0);
    else if (cw != cw0)
        case_fail("x87 control word changed: %#x, was %#x", cw, cw0);
    case_finish();
}
