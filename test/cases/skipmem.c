// build: gcc -O2 -g -Wall -Wextra -o skipmem skipmem.c
/*
 * skipmem.c - a memory range restored with --skip-memory comes back zero-filled, the rest
 * exactly.
 *
 *   skipmem --out FILE
 *
 * Set up: 4 pages of 0xAB (region A); their address goes to FILE.addr ("%lx\n"), then FILE.ready.
 * After SIGTERM: if FILE.skip exists (the test restarted with --skip-memory over A's first two
 * pages) those two pages must be zeros; the others (and, without FILE.skip, all four) 0xAB.
 * PASS or FAIL: reason.
 */
#include "case.h"

#include <sys/mman.h>

#define PG 4096

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    unsigned char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED)
        case_setup_fail("mmap: %s", strerror(errno));
    memset(a, 0xAB, 4 * PG);
    char text[32];
    snprintf(text, sizeof text, "%lx\n", (unsigned long)a);
    if (case_write_aux(".addr", text))
        case_setup_fail("cannot write FILE.addr");
    case_ready();
    case_wait_term();

    char skipfile[PATH_MAX + 8];
    snprintf(skipfile, sizeof skipfile, "%s.skip", case_out);
    int skipped = access(skipfile, F_OK) == 0;
    for (size_t i = 0; i < 4 * PG; i++) {
        unsigned char want = skipped && i < 2 * PG ? 0 : 0xAB;
        if (a[i] != want) {
            case_fail("byte %zu of region A is 0x%02x, expected 0x%02x (%s)", i, a[i], want, skipped ? "skipped" : "not skipped");
            break;
        }
    }
    case_finish();
}
