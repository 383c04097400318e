// build: gcc -O2 -g -Wall -Wextra -o counter counter.c
/*
 * counter.c - a CPU-busy loop must continue correctly after restart.
 *
 *   counter --out FILE
 *
 * The loop steps a 64-bit LCG x and two running sums (s1 += x, s2 += s1),
 * kept in registers, and stores every x into a 64 KiB ring buffer in
 * memory and the iteration count into a global.  It prints nothing.  On
 * SIGTERM the loop stops and the state after n iterations is recomputed
 * from the initial seed (affine jump-ahead, O(log n), so the check is
 * quick however long the loop ran), and the last 8192 ring entries are
 * replayed.  Any corruption of registers or memory changes the result.
 */
#include "case.h"

#define LCG_A 6364136223846793005ULL
#define LCG_C 1442695040888963407ULL
#define RING 8192

static uint64_t ring[RING];
static volatile uint64_t g_iter;

struct state {
    uint64_t x, s1, s2;
};

static inline void step(struct state *s)
{
    s->x = s->x * LCG_A + LCG_C;
    s->s1 += s->x;
    s->s2 += s->s1;
}

/* 4x4 matrices over Z/2^64 acting on (x, s1, s2, 1). */
typedef uint64_t mat[4][4];

static void mat_mul(mat r, mat a, mat b)
{
    mat t;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            uint64_t v = 0;
            for (int k = 0; k < 4; k++)
                v += a[i][k] * b[k][j];
            t[i][j] = v;
        }
    memcpy(r, t, sizeof t);
}

/* State after n steps from s0, computed independently of the loop. */
static struct state jump(struct state s0, uint64_t n)
{
    mat m = {{LCG_A, 0, 0, LCG_C}, {LCG_A, 1, 0, LCG_C}, {LCG_A, 1, 1, LCG_C}, {0, 0, 0, 1}};
    mat r = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
    while (n) {
        if (n & 1)
            mat_mul(r, r, m);
        mat_mul(m, m, m);
        n >>= 1;
    }
    uint64_t v[4] = {s0.x, s0.s1, s0.s2, 1};
    struct state s;
    s.x = r[0][0] * v[0] + r[0][1] * v[1] + r[0][2] * v[2] + r[0][3];
    s.s1 = r[1][0] * v[0] + r[1][1] * v[1] + r[1][2] * v[2] + r[1][3];
    s.s2 = r[2][0] * v[0] + r[2][1] * v[1] + r[2][2] * v[2] + r[2][3];
    return s;
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    case_seed();

    struct state s0 = {case_rand(), case_rand(), case_rand()};

    /* self-test of the jump-ahead against plain stepping */
    struct state t = s0;
    for (int i = 0; i < 1000003; i++)
        step(&t);
    struct state j = jump(s0, 1000003);
    if (t.x != j.x || t.s1 != j.s1 || t.s2 != j.s2)
        case_setup_fail("jump-ahead self-test failed");

    case_ready();

    uint64_t x = s0.x, s1 = s0.s1, s2 = s0.s2, n = 0;
    while (!case_term) {
        x = x * LCG_A + LCG_C;
        s1 += x;
        s2 += s1;
        ring[n & (RING - 1)] = x;
        n++;
        g_iter = n;
    }

    if (g_iter != n)
        case_fail("global iteration count %llu != loop count %llu", (unsigned long long)g_iter,
                  (unsigned long long)n);
    struct state e = jump(s0, n);
    if (e.x != x || e.s1 != s1 || e.s2 != s2)
        case_fail("after %llu iterations state (x,s1,s2) = (%016llx,%016llx,%016llx), "
                  "expected (%016llx,%016llx,%016llx)",
                  (unsigned long long)n, (unsigned long long)x, (unsigned long long)s1,
                  (unsigned long long)s2, (unsigned long long)e.x, (unsigned long long)e.s1,
                  (unsigned long long)e.s2);
    uint64_t k = n < RING ? n : RING;
    struct state r = jump(s0, n - k);
    for (uint64_t i = n - k; i < n; i++) {
        step(&r);
        if (ring[i & (RING - 1)] != r.x) {
            case_fail("ring entry for iteration %llu is %016llx, expected %016llx",
                      (unsigned long long)i, (unsigned long long)ring[i & (RING - 1)],
                      (unsigned long long)r.x);
            break;
        }
    }
    case_finish();
}
