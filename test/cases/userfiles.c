// build: gcc -O2 -g -Wall -Wextra -o userfiles userfiles.c
/*
 * userfiles.c - what a user's process holds by path comes back with the same contents, and
 * only what its own credentials reach (the test changes the files' owners between checkpoint
 * and restart, or edits the image; see test/privilege.test.ts).
 *
 *   userfiles --out FILE [--file F] [--map M] [--sock S] [--setuid]
 *
 * Set up (each part only when asked; every fd is moved to a fixed number):
 *   --file F    F opened O_RDWR, its first 16 bytes read (fd 40)
 *   --map M     M mapped MAP_SHARED read-only (4096 bytes), fd closed
 *   --sock S    a unix stream socket bound to S, listening (fd 41)
 *   --setuid    FILE.suid created, 4096 bytes of pattern, made mode 06755 by its owner, then
 *               unlinked; kept open O_RDWR (fd 42)
 * After SIGTERM: F reads the same 16 bytes at offset 0 and can be written; the mapping holds
 * M's bytes; the socket is still listening on S; fd 42 reads the pattern. PASS or FAIL.
 */
#include "case.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

static unsigned char pat(size_t i) { return (unsigned char)(i * 7 + 3); }

static void to_fd(int fd, int want, const char *what)
{
    if (fd < 0 || dup2(fd, want) != want)
        case_setup_fail("%s: %s", what, strerror(errno));
    close(fd);
}

int main(int argc, char **argv)
{
    case_init(argc, argv);
    case_install_sigterm(0);
    const char *file = case_arg(argc, argv, "--file"), *map = case_arg(argc, argv, "--map");
    const char *sock = case_arg(argc, argv, "--sock");
    int setuid_obj = 0;
    for (int i = 1; i < argc; i++)
        setuid_obj |= !strcmp(argv[i], "--setuid");
    unsigned char head[16], mhead[4096], buf[4096];
    unsigned char *m = NULL;
    if (file) {
        int fd = open(file, O_RDWR);
        if (fd < 0 || pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head)
            case_setup_fail("%s: %s", file, strerror(errno));
        to_fd(fd, 40, file);
    }
    if (map) {
        int fd = open(map, O_RDONLY);
        m = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            case_setup_fail("%s: %s", map, strerror(errno));
        memcpy(mhead, m, sizeof mhead);
        close(fd);
    }
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (sock) {
        snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4) < 0)
            case_setup_fail("%s: %s", sock, strerror(errno));
        to_fd(s, 41, sock);
    }
    if (setuid_obj) {
        char path[PATH_MAX + 8];
        snprintf(path, sizeof path, "%s.suid", case_out);
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = pat(i);
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0755);
        if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || fchmod(fd, 06755) < 0 || unlink(path) < 0)
            case_setup_fail("%s: %s", path, strerror(errno));
        to_fd(fd, 42, path);
    }
    case_ready();
    while (!case_term)
        pause();
    if (file) {
        unsigned char now[16];
        if (pread(40, now, sizeof now, 0) != (ssize_t)sizeof now || memcmp(now, head, sizeof head))
            case_fail("%s: not the same contents", file);
        else if (pwrite(40, now, sizeof now, 0) != (ssize_t)sizeof now)
            case_fail("%s: cannot write through the fd: %s", file, strerror(errno));
    }
    if (map && memcmp(m, mhead, sizeof mhead))
        case_fail("%s: the mapping changed", map);
    if (sock) {
        struct sockaddr_un got;
        socklen_t len = sizeof got;
        int listening = 0;
        socklen_t ol = sizeof listening;
        if (getsockname(41, (struct sockaddr *)&got, &len) < 0 || strcmp(got.sun_path, sock) ||
            getsockopt(41, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) < 0 || !listening)
            case_fail("%s: not the listening socket it was", sock);
    }
    if (setuid_obj) {
        if (pread(42, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
            case_fail("unlinked file: %s", strerror(errno));
        for (size_t i = 0; i < sizeof buf; i++)
            if (buf[i] != pat(i)) {
                case_fail("unlinked file: byte %zu differs", i);
                break;
            }
    }
    case_finish();
}
