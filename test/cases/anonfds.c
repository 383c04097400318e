// build: gcc -O2 -g -Wall -Wextra -o anonfds anonfds.c
/*
 * anonfds.c - eventfd, signalfd and timerfd keep their state.
 *
 *   anonfds --out FILE
 *
 * Set up: an eventfd in semaphore mode with count 5 (non-blocking) shared by a dup, an
 * ordinary eventfd with count 1000; SIGUSR1 blocked, read through a signalfd, one SIGUSR1
 * pending with value 7 (sigqueue); a timerfd ticking every 20 ms and one armed in 10 s.
 * After SIGTERM: the semaphore eventfd gives five 1s then EAGAIN, the dup sees the same
 * counter, the other reads 1000; the signalfd reads SIGUSR1 with value 7; the fast timerfd
 * keeps ticking; the slow one has between 0 and 10 s left. A memfd "ucr-test" of 100 KiB
 * (pattern), sealed against growing and shrinking, read up to offset 6: same name, contents,
 * offset and seals.
 */
#include "case.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

int main(int argc, char **argv)
{
	case_init(argc, argv);
	case_install_sigterm(0);
	int sem = eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK), sem2 = dup(sem), big = eventfd(1000, 0);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int sfd = signalfd(-1, &m, SFD_NONBLOCK);
	sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 7 });
	int fast = timerfd_create(CLOCK_MONOTONIC, 0), slow = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	struct itimerspec f = { { 0, 20000000 }, { 0, 20000000 } }, s = { { 0, 0 }, { 10, 0 } };
	if (sem < 0 || sem2 < 0 || big < 0 || sfd < 0 || fast < 0 || slow < 0 || timerfd_settime(fast, 0, &f, NULL) ||
	    timerfd_settime(slow, 0, &s, NULL))
		case_setup_fail("cannot create the descriptors: %s", strerror(errno));
	int mfd = memfd_create("ucr-test", MFD_ALLOW_SEALING);
	static char pat[100 * 1024];
	for (size_t i = 0; i < sizeof pat; i++)
		pat[i] = (char)(i * 7 + 3);
	if (mfd < 0 || write(mfd, pat, sizeof pat) != sizeof pat || lseek(mfd, 6, SEEK_SET) != 6 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)
		case_setup_fail("memfd: %s", strerror(errno));
	case_ready();
	while (!case_term)
		pause();
	uint64_t v;
	for (int i = 0; i < 5; i++)
		if (read(i % 2 ? sem2 : sem, &v, 8) != 8 || v != 1)
			case_fail("semaphore eventfd read %d failed", i);
	if (read(sem, &v, 8) != -1 || errno != EAGAIN)
		case_fail("semaphore eventfd not empty after 5 reads (or not non-blocking)");
	if (read(big, &v, 8) != 8 || v != 1000)
		case_fail("eventfd count %llu, expected 1000", (unsigned long long)v);
	struct signalfd_siginfo si;
	if (read(sfd, &si, sizeof si) != sizeof si || si.ssi_signo != SIGUSR1 || si.ssi_int != 7)
		case_fail("signalfd did not deliver SIGUSR1 with value 7");
	uint64_t ticks = 0;
	if (read(fast, &ticks, 8) != 8 || ticks == 0)
		case_fail("fast timerfd stopped");
	struct itimerspec now;
	timerfd_gettime(slow, &now);
	if ((now.it_value.tv_sec == 0 && now.it_value.tv_nsec == 0) || now.it_value.tv_sec >= 10)
		case_fail("slow timerfd has %ld s left", (long)now.it_value.tv_sec);
	char link[128] = { 0 }, self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", mfd);
	if (readlink(self, link, sizeof link - 1) < 0 || strcmp(link, "/memfd:ucr-test (deleted)"))
		case_fail("memfd is now \"%s\"", link);
	char got[sizeof pat];
	if (lseek(mfd, 0, SEEK_CUR) != 6)
		case_fail("memfd offset lost");
	else if (pread(mfd, got, sizeof got, 0) != sizeof got || memcmp(got, pat, sizeof pat))
		case_fail("memfd contents differ");
	if (fcntl(mfd, F_GET_SEALS) != (F_SEAL_GROW | F_SEAL_SHRINK))
		case_fail("memfd seals are 0x%x", fcntl(mfd, F_GET_SEALS));
	else if (pwrite(mfd, "x", 1, sizeof pat) != -1 || errno != EPERM)
		case_fail("a sealed memfd grew");
	case_finish();
}
