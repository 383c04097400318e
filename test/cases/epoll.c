// build: gcc -O2 -g -Wall -Wextra -o epoll epoll.c
/*
 * epoll.c - an epoll instance keeps its targets, masks and data, registered by two tasks.
 *
 *   epoll --out FILE
 *
 * Set up: P creates epoll EP and registers: the read end of pipe A (one byte queued) for
 * EPOLLIN with data 0x1111; an eventfd E (count 0) for EPOLLIN|EPOLLET with data
 * 0xdeadbeefcafebabe; the write end of pipe B for EPOLLOUT|EPOLLONESHOT with data 7, which
 * then fires once (so it is disarmed). P forks C, which shares EP and registers its own
 * eventfd CE (count 1) with data 0xc0ffee.
 * After SIGTERM: P's epoll_wait reports exactly A (0x1111) and CE (0xc0ffee); writing E
 * reports 0xdeadbeefcafebabe; C deletes CE with its own fd number (the registration must be
 * keyed by it), after which only A is reported; P re-arms B with EPOLL_CTL_MOD (its own fd
 * number) and sees data 7. PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

/* collects up to 8 events' data, sorted */
static int collect(int ep, uint64_t *out)
{
    struct epoll_event ev[8];
    int n = epoll_wait(ep, ev, 8, 0);
    for (int i = 0; i < n; i++)
        out[i] = ev[i].data.u64;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (out[j] < out[i]) {
                uint64_t t = out[i];
                out[i] = out[j];
                out[j] = t;
            }
    return n;
}

/* the events' data, sorted, must be want[0..want_n) */
static void expect(int ep, const char *when, int want_n, const uint64_t *want)
{
    uint64_t got[8] = { 0 };
    int n = collect(ep, got), ok = n == want_n;
    for (int i = 0; ok && i < n; i++)
        ok = got[i] == want[i];
    if (!ok)
        case_fail("%s: epoll_wait gave %d events (0x%llx 0x%llx 0x%llx), expected %d", when, n,
                  (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2], want_n);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    int ep = epoll_create1(0), a[2], b[2], rq[2], an[2];
    int e = eventfd(0, EFD_NONBLOCK);
    case_pipe(a, "A");
    case_pipe(b, "B");
    case_pipe(rq, "request");
    case_pipe(an, "answer");
    struct epoll_event ea = { EPOLLIN, { .u64 = 0x1111 } }, ee = { EPOLLIN | EPOLLET, { .u64 = 0xdeadbeefcafebabeULL } },
                       eb = { EPOLLOUT | EPOLLONESHOT, { .u64 = 7 } };
    if (ep < 0 || e < 0 || write(a[1], "x", 1) != 1 || epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &ea) ||
        epoll_ctl(ep, EPOLL_CTL_ADD, e, &ee) || epoll_ctl(ep, EPOLL_CTL_ADD, b[1], &eb))
        case_setup_fail("epoll set-up: %s", strerror(errno));
    uint64_t got[8];
    if (collect(ep, got) != 2) /* A and the one-shot B */
        case_setup_fail("the one-shot did not fire");
    pid_t c = fork();
    if (c < 0)
        case_setup_fail("fork: %s", strerror(errno));
    if (c == 0) {
        int ce = eventfd(1, EFD_NONBLOCK);
        struct epoll_event ec = { EPOLLIN, { .u64 = 0xc0ffee } };
        char r = 'r';
        if (ce < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ce, &ec) || write(an[1], &r, 1) != 1 || read(rq[0], &r, 1) != 1)
            _exit(3);
        r = epoll_ctl(ep, EPOLL_CTL_DEL, ce, NULL) == 0 ? 'y' : 'n';
        _exit(write(an[1], &r, 1) == 1 ? 0 : 4);
    }
    char r;
    if (case_wait_readable(an[0], 10000) != 1 || read(an[0], &r, 1) != 1)
        case_setup_fail("the child did not register");
    case_ready();
    case_wait_term();

    expect(ep, "after restart", 2, (uint64_t[]){ 0x1111, 0xc0ffee });
    uint64_t one = 1;
    if (write(e, &one, 8) != 8)
        case_fail("eventfd write");
    expect(ep, "after writing E", 3, (uint64_t[]){ 0x1111, 0xc0ffee, 0xdeadbeefcafebabeULL });
    if (write(rq[1], "d", 1) != 1 || case_wait_readable(an[0], 5000) != 1 || read(an[0], &r, 1) != 1)
        case_fail("C did not answer");
    else if (r != 'y')
        case_fail("C's EPOLL_CTL_DEL with its own fd number failed: the registration is not keyed by it");
    expect(ep, "after C's delete", 1, (uint64_t[]){ 0x1111 });
    struct epoll_event rearm = { EPOLLOUT | EPOLLONESHOT, { .u64 = 7 } };
    if (epoll_ctl(ep, EPOLL_CTL_MOD, b[1], &rearm))
        case_fail("EPOLL_CTL_MOD of B with P's fd number: %s", strerror(errno));
    expect(ep, "after re-arming B", 2, (uint64_t[]){ 7, 0x1111 });
    case_reap_child("C", c, 5000);
    case_finish();
}
