// build: gcc -O2 -g -Wall -Wextra -o blocked_read blocked_read.c
/*
 * blocked_read.c - a read() blocked on stdin must survive checkpoint/restart.
 *
 *   blocked_read --out FILE
 *
 * stdin must be a pipe (or fifo) the harness writes "go\n" to after the
 * restart.  No signal handlers are installed and SIGTERM is not waited
 * for: after ready the program blocks in one read(0, buf, sizeof buf),
 * which must return exactly the 3 bytes "go\n"; then it writes the result
 * and exits.
 */
#include "case.h"

int main(int argc, char **argv)
{
    case_init(argc, argv);

    char buf[256];
    case_ready();
    ssize_t n = read(0, buf, sizeof buf);
    int err = errno;

    if (n < 0) {
        case_fail("read returned -1 errno %d (%s)", err, case_errname(err));
    } else if (n != 3 || memcmp(buf, "go\n", 3) != 0) {
        char shown[64];
        size_t k = 0;
        for (ssize_t i = 0; i < n && k + 5 < sizeof shown; i++) {
            unsigned char ch = (unsigned char)buf[i];
            if (ch >= 0x20 && ch < 0x7f && ch != '\\')
                shown[k++] = (char)ch;
            else
                k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", ch);
        }
        shown[k] = 0;
        case_fail("read returned %zd bytes \"%s\", expected 3 bytes \"go\\n\"", n, shown);
    }
    case_finish();
}
